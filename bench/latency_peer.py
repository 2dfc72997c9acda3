"""The peer's path on the same trace: llama.cpp's own completion loop (llama-cpp-python
``Llama.create_completion``) on the same GGUF, asked at the keys where ``ananke-lsp`` answered,
one after the other with nothing else between (no LSP, no debounce: prompt and decoding only).

The prompt is llama.vim's: ``<|fim_prefix|>`` the 256 lines before the cursor (and the line up
to it) ``<|fim_suffix|>`` the rest of the line and 64 lines after ``<|fim_middle|>`` (llama.vim's
``n_prefix`` / ``n_suffix``), from the model's own FIM token ids (llama-cpp-python's ``suffix=``
path uses token 0 for them), whole lines dropped from its start when it would not fit in the
context with the 64 new tokens; greedy; llama-cpp-python keeps the previous prompt's KV cache
and evaluates from the first token that differs, as llama.cpp's ``cache_prompt`` does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ananke_lsp.context.cursor import cursor_context
from ananke_lsp.engines.fim import fim_prompt, fim_tokens
from bench.fim_baseline import MAX_TOKENS, FimBaseline, trim_like_peers
from bench.latency_lsp import first_line_right
from bench.typing_trace import Trace

PREFIX_LINES, SUFFIX_LINES = 256, 64  # llama.vim's n_prefix, n_suffix


class PeerLoop:
    def __init__(self, model_path: Path) -> None:
        import llama_cpp

        self.baseline = FimBaseline(model_path)  # the quality bench's load: n_ctx 4096, all cores
        self.llm = self.baseline.llm
        fim = fim_tokens(llama_cpp.llama_model_get_vocab(self.llm.model))
        if fim is None:
            raise ValueError(f"{model_path.name} has no fill-in-the-middle tokens")
        self.fim = fim

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)

    def _prompt(self, text: str, cursor: int) -> tuple[list[int], str, str]:
        ctx = cursor_context(text, cursor, PREFIX_LINES, SUFFIX_LINES)
        prefix = ctx.prefix
        while True:
            prompt = fim_prompt(self.fim, self._tokens, prefix, ctx.suffix)
            if len(prompt) + MAX_TOKENS < self.llm.n_ctx() or "\n" not in prefix:
                return prompt, ctx.line_before, ctx.suffix
            prefix = prefix.split("\n", 1)[1]

    def ask(self, text: str, cursor: int, final: str) -> dict[str, Any]:
        prompt, line_before, suffix = self._prompt(text, cursor)
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        common = next((i for i, (a, b) in enumerate(zip(cached, prompt, strict=False)) if a != b), None)
        common = min(len(cached), len(prompt)) if common is None else common
        reused = common - 1 if common == len(prompt) else common  # the last token is evaluated again
        started = time.perf_counter()
        out = self.llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0, repeat_penalty=1.0)
        ms = (time.perf_counter() - started) * 1000
        choice = out["choices"][0]  # type: ignore[index]
        indent = line_before[: len(line_before) - len(line_before.lstrip())]
        shown = trim_like_peers(choice["text"], indent, suffix)
        return {
            "ms": ms,
            "text": shown or None,
            "raw": choice["text"],
            "prompt_tokens": len(prompt),
            "prefilled_tokens": len(prompt) - reused,
            "tokens": out["usage"]["completion_tokens"],  # type: ignore[index]
            "finish_reason": choice["finish_reason"],
            "first_line_right": first_line_right(shown, final, cursor) if shown else None,
        }

    def close(self) -> None:
        self.baseline.close()


def run(model_path: Path, traces: list[Trace], keys: dict[str, list[int]]) -> dict[str, Any]:
    """``keys[trace.name]``: the keys after which to ask, in order."""
    peer = PeerLoop(model_path)
    files = []
    try:
        for trace in traces:
            wanted = set(keys.get(trace.name, []))
            text, requests = trace.initial, []
            for k, key in enumerate(trace.keys):
                text = text[: key.start] + key.text + text[key.end :]
                if k in wanted:
                    requests.append({"key": k, **peer.ask(text, key.cursor, trace.final)})
            files.append({"name": trace.name, "keys": len(trace.keys), "requests": requests})
    finally:
        peer.close()
    return {"info": {"load_seconds": peer.baseline.load_seconds, "max_tokens": MAX_TOKENS}, "files": files}
