"""Fill-in-the-middle prompts in the model's own tokens.

A code model trained on FIM sees ``<prefix-token> before <suffix-token> after <middle-token>`` and
writes the middle, ending it with an end-of-generation token. Qwen2.5-Coder also learned a
repository form: ``<|repo_name|>name`` then ``<|file_sep|>path`` + content per file, the file
being edited last, so other files of the project can inform the suggestion; and since they come
first, they stay in the KV cache from one keystroke to the next.

The embedded engine puts the cursor's line, as typed so far, after the middle marker (see
``typed_line_fim_prompt``), with its last tokens healed (healing.py); the plain form is what peers
send (bench/latency's llama.cpp baseline).

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


def typed_line_fim_prompt(
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
    """The FIM prompt with the cursor's line, as typed so far, opening the middle: ``<PRE> lines
    above <SUF> after the cursor <MID> typed``. A keystroke changes only the prompt's last tokens,
    so the KV cache keeps everything before them, the code after the cursor included (in the plain
    form a keystroke changes the end of the prefix, and the whole suffix is read again: seconds on a
    CPU). The last ``heal`` tokens of the typed text are left for the model to spell (healing.py):
    the typed text ends mid-word, where the model's own middle never splits."""
    head, typed = prefix[: prefix.rfind("\n") + 1], prefix[prefix.rfind("\n") + 1 :]
    typed_tokens = tokenize(typed) if typed else []
    kept = typed_tokens[: max(0, len(typed_tokens) - heal)]
    middle = [tokens.prefix, *tokenize(head), tokens.suffix, *tokenize(suffix), tokens.middle, *kept]
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
