"""Fake generation engines for the tests: no model behind them, answers known in advance."""

from __future__ import annotations

from ananke_lsp.constraints import CompiledConstraints
from ananke_lsp.engines.base import EngineHealth, EngineRequest, EngineResult, EngineStream, WithoutTokenizer, collect
from ananke_lsp.selftest import CONSTRAINT as SELF_TEST
from modal_service.vllm_engine import ConstraintRefused

BUG = "\x00trigger an engine bug\x00"
REFUSED = "\x00a constraint the engine refuses\x00"


class CannedEngine(WithoutTokenizer):
    """Answers at once: the self-test's answer for the self-test, the word `value` otherwise (and
    a bug on request, to see what a client gets when the engine itself fails unexpectedly)."""

    name = "canned"
    model = "canned-model"

    async def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream:
        if request.prompt == BUG:
            raise ValueError("an engine bug")
        if request.prompt == REFUSED:  # what vLLM's adapter raises for a schema deeper than it takes
            raise ConstraintRefused("deep", "json_schema", "vLLM refuses JSON nested deeper than 64 levels")
        text = "ananke-self-test-42" if SELF_TEST in request.constraints else "value"
        yield text
        yield EngineResult(
            text=text,
            finish_reason="stop",
            tokens_generated=1,
            prompt_tokens=1,
            prefill_ms=0.0,
            decode_ms=0.0,
            compile_ms=0.0,
            model=self.model,
            engine=self.name,
        )

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, engine=self.name, model=self.model)
