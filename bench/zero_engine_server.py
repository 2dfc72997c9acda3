"""ananke-lsp with a zero-latency engine, to measure what the server itself costs per request.
(A bench double: it answers instantly with a fixed text that satisfies single-line constraints.)"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ananke_lsp.engines.base import EngineHealth, EngineRequest, EngineResult, EngineStream, WithoutTokenizer, collect
from ananke_lsp.server.main import build_server

TEXT = "value"


class ZeroLatencyEngine(WithoutTokenizer):
    name = "zero"
    model = "none"

    async def stream(self, request: EngineRequest, compiled: object = None) -> EngineStream:
        yield TEXT
        yield EngineResult(
            text=TEXT,
            finish_reason="stop",
            tokens_generated=1,
            prompt_tokens=0,
            prefill_ms=0.0,
            decode_ms=0.0,
            compile_ms=0.0,
            model=self.model,
            engine=self.name,
        )

    async def generate(self, request: EngineRequest, compiled: object = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, engine=self.name, model=self.model)


if __name__ == "__main__":
    server = build_server()
    engine = ZeroLatencyEngine()
    server.engine_for = lambda project: engine  # type: ignore[method-assign]
    server.start_io()
