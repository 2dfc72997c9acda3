"""The unconstrained baseline: what llama.vim / llama.vscode get from llama.cpp's fill-in-the-middle
on the same GGUF. The model's own FIM tokens around the prefix (ending in the auto-indent) and the
suffix, greedy, at most 64 new tokens (the server's default ``[completion] max_tokens``), stopped at
an end-of-generation token or, as llama.cpp's server does with llama.vim's ``t_max_predict_ms`` of
1000, once a line break was generated and a second has passed since decoding began; the KV cache
of the previous prompt reused as ``cache_prompt`` does; then the peers' usual trimming
(``trim_like_peers``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.humaneval_infill import InfillTask
from bench.infill_scoring import Suggestion

MAX_TOKENS = 64
MAX_PREDICT_S = 1.0


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip())


def trim_like_peers(text: str, indent: str, suffix: str) -> str:
    """Cut at the first later line that dedents below the cursor's indentation and at a line equal
    to the next non-blank line of the suffix; strip trailing whitespace."""
    following = next((line.strip() for line in suffix.split("\n") if line.strip()), None)
    kept: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i > 0 and line.strip() and _indentation(line) < len(indent):
            break
        if line.strip() == following:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


class FimBaseline:
    def __init__(self, model_path: Path, max_tokens: int = MAX_TOKENS) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        started = time.perf_counter()
        self.llm = llama_cpp.Llama(str(model_path), n_ctx=4096, n_threads=os.cpu_count(), verbose=False)
        self.load_seconds = time.perf_counter() - started
        self.max_tokens = max_tokens
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._pre = llama_cpp.llama_vocab_fim_pre(self._vocab)
        self._suf = llama_cpp.llama_vocab_fim_suf(self._vocab)
        self._mid = llama_cpp.llama_vocab_fim_mid(self._vocab)
        if min(self._pre, self._suf, self._mid) < 0:
            raise ValueError(f"{model_path.name} has no fill-in-the-middle tokens")

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)

    def middle(self, prefix: str, suffix: str) -> str:
        """``<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``, decoded greedily."""
        prompt = [self._pre, *self._tokens(prefix), self._suf, *self._tokens(suffix), self._mid]
        out: list[int] = []
        newline = False
        started: float | None = None
        for token in self.llm.generate(prompt, temp=0.0, repeat_penalty=1.0):
            started = started or time.perf_counter()  # the prompt is evaluated before the first token
            if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                break
            out.append(token)
            newline = newline or b"\n" in self.llm.detokenize([token])
            if len(out) >= self.max_tokens or (newline and time.perf_counter() - started > MAX_PREDICT_S):
                break
        return self.llm.detokenize(out).decode("utf-8", errors="replace")

    def suggest(self, task: InfillTask) -> Suggestion:
        started = time.perf_counter()
        raw = self.middle(task.prefix + task.indent, task.suffix)
        text = trim_like_peers(raw, task.indent, task.suffix)
        return Suggestion(text or None, time.perf_counter() - started, raw=raw)

    def close(self) -> None:
        self.llm.close()
