"""Fill-in-the-middle prompts in the model's own tokens.

A code model trained on FIM sees ``<prefix-token> before <suffix-token> after <middle-token>`` and
writes the middle, ending it with an end-of-generation token. Qwen2.5-Coder also learned a
repository form: ``<|repo_name|>name`` then ``<|file_sep|>path`` + content per file, the file
being edited last, so other files of the project can inform the suggestion; and since they come
first, they stay in the KV cache from one keystroke to the next.

The embedded engine puts the lines typed since the last grid line, the cursor's up to the cursor
last, after the middle marker (``typed_fim_prompt``), with their last tokens healed (healing.py);
the plain form is what peers send (bench/latency's llama.cpp baseline).

The markers are token ids read from the vocabulary (llama.cpp knows each model's FIM tokens), and
the text between them is tokenized with special tokens *off*: a buffer that happens to contain
``<|fim_suffix|>`` or ``<|endoftext|>`` stays text, and cannot rearrange the prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # llama-cpp-python is an optional extra
    from llama_cpp import llama_vocab_p

Tokenize = Callable[[str], list[int]]
# The middle opens on a line of the prefix whose number is a multiple of this. The editor's prefix
# window starts on the same grid (context/cursor.py), so both move at the same Enter. Measured on
# HumanEval single lines, the model is at least as right with the middle opening up to 15 lines
# above the cursor as on its line (bench/RESULTS.md, "Token healing and where the middle opens").
LINE_GRID = 16


class ContextFile(BaseModel):
    """Another file of the project, shown to the model before the one being edited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # relative to the project root, as the model saw paths in training
    text: str


@dataclass(frozen=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int
    repo_name: int | None = None
    file_sep: int | None = None


def fim_tokens(vocab: llama_vocab_p) -> FimTokens | None:
    """The vocabulary's FIM token ids, or None when the model has no FIM tokens."""
    import llama_cpp

    ids = [int(getattr(llama_cpp, f"llama_vocab_fim_{name}")(vocab)) for name in ("pre", "suf", "mid", "rep", "sep")]
    if min(ids[:3]) < 0:
        return None
    repo, sep = (i if i >= 0 else None for i in ids[3:])
    return FimTokens(ids[0], ids[1], ids[2], repo, sep)


@dataclass(frozen=True)
class FimPrompt:
    tokens: list[int]
    healed: bytes  # typed text taken off the end: the model spells it again first (healing.py)


def fim_prompt(
    tokens: FimTokens,
    tokenize: Tokenize,
    prefix: str,
    suffix: str,
    *,
    files: Sequence[ContextFile] = (),
    path: str | None = None,
    repo: str = "",
) -> list[int]:
    """The plain FIM prompt (what peers send); in the repository form when there are other files to
    show and the model knows that form."""
    middle = [tokens.prefix, *tokenize(prefix), tokens.suffix, *tokenize(suffix), tokens.middle]
    return [*_repository(tokens, tokenize, files, path, repo), *middle]


def typed_fim_prompt(
    tokens: FimTokens,
    tokenize: Tokenize,
    spell: Callable[[list[int]], bytes],
    prefix: str,
    suffix: str,
    *,
    heal: int,
    files: Sequence[ContextFile] = (),
    path: str | None = None,
    repo: str = "",
) -> FimPrompt:
    """The FIM prompt with the lines typed since the last ``LINE_GRID`` line of ``prefix`` (the
    cursor's line up to the cursor last) opening the middle: ``<PRE> lines above <SUF> after the
    cursor <MID> typed``. Typing, and Enter, change only the prompt's last tokens, so the KV cache
    keeps everything before them, the code after the cursor included; that is read again once every
    ``LINE_GRID`` lines (in the plain form a keystroke changes the end of the prefix, and the whole
    suffix was read again at every key: seconds on a CPU). The last ``heal`` tokens of the typed
    text are left for the model to spell (healing.py): it ends mid-word, where the model's own
    middle never splits."""
    starts = [0, *(i + 1 for i, ch in enumerate(prefix) if ch == "\n")]
    cut = starts[(len(starts) - 1) // LINE_GRID * LINE_GRID]
    typed_tokens = tokenize(prefix[cut:]) if cut < len(prefix) else []
    kept = typed_tokens[: max(0, len(typed_tokens) - heal)]
    middle = [tokens.prefix, *tokenize(prefix[:cut]), tokens.suffix, *tokenize(suffix), tokens.middle, *kept]
    return FimPrompt([*_repository(tokens, tokenize, files, path, repo), *middle], spell(typed_tokens[len(kept) :]))


def _repository(
    tokens: FimTokens, tokenize: Tokenize, files: Sequence[ContextFile], path: str | None, repo: str
) -> list[int]:
    """What comes before the FIM part: the other files in the repository form, when there are any
    and the model knows that form; else nothing."""
    if not files or tokens.repo_name is None or tokens.file_sep is None:
        return []
    out = [tokens.repo_name, *tokenize(f"{repo}\n")]
    for file in files:
        out += [tokens.file_sep, *tokenize(f"{file.path}\n{file.text.rstrip()}\n")]
    return [*out, tokens.file_sep, *tokenize(f"{path or 'main'}\n")]
