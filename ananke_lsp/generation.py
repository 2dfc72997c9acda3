"""One generation, start to finish, on any engine: compile (cached), generate, validate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .constraints import CompiledConstraints, ConstraintCache, longest_valid_prefix, validate_text
from .engines.base import Engine, EngineRequest, EngineResult
from .engines.line_stops import LineStops, finished
from .types import PyGenerationMetadata, PyProvenance, PyValidationResult


@dataclass(frozen=True)
class Outcome:
    result: EngineResult
    validation: PyValidationResult
    compile_ms: float  # cache lookup or compile, plus the engine's matcher build
    compiled: CompiledConstraints | None = None

    def cut_to_valid(self) -> Outcome:
        """When the token or time budget ran out mid-construct (an open bracket, an unfinished
        JSON value), or a line stop cut the text there, the longest prefix that satisfies every
        constraint, validated again: an editor shows a shorter valid suggestion, never an invalid one."""
        cut_short = self.result.finish_reason in ("length", "time", "stop")
        if self.validation.all_satisfied or not cut_short or self.compiled is None:
            return self
        text = longest_valid_prefix(self.result.text, self.compiled)
        result = self.result.model_copy(update={"text": text})
        return Outcome(
            result, validate_text(text, self.compiled, enforced=result.enforced), self.compile_ms, self.compiled
        )

    def metadata(self) -> PyGenerationMetadata:
        r = self.result
        return PyGenerationMetadata(
            tokens_generated=r.tokens_generated,
            generation_time_ms=round(r.generation_ms),
            avg_token_time_us=round(r.decode_ms * 1000 / r.tokens_generated) if r.tokens_generated else 0,
            constraint_compile_time_ms=round(self.compile_ms),
            prompt_tokens=r.prompt_tokens,
            finish_reason=r.finish_reason,
            engine=r.engine,
        )

    def provenance(self, intent: str) -> PyProvenance:
        return PyProvenance(
            model=self.result.model,
            timestamp=int(time.time()),
            constraints_applied=list(self.validation.satisfied + self.validation.violated),
            original_intent=intent,
        )


async def compile_request(
    cache: ConstraintCache, request: EngineRequest, engine: Engine | None = None
) -> tuple[CompiledConstraints | None, float]:
    """Compile the request's constraints off the event loop (a large grammar takes a while)."""
    if not request.constraints:
        return None, 0.0
    start = time.perf_counter()
    compiled = cache.peek(request.constraints)
    if compiled is None:  # compiling can take a while: off the event loop
        tokenizer = getattr(engine, "llg_tokenizer", None)

        def compile_now() -> tuple[CompiledConstraints, bool]:
            # fetching the tokenizer may load the model: that, too, belongs off the event loop
            return cache.get(request.constraints, tokenizer() if tokenizer else None)

        compiled, _ = await asyncio.to_thread(compile_now)
    return compiled, (time.perf_counter() - start) * 1000


def finish(
    result: EngineResult, compiled: CompiledConstraints | None, lookup_ms: float, line_stops: LineStops | None = None
) -> Outcome:
    """Validate the engine's result; with ``line_stops``, first cut it where the suggestion ends
    (the embedded engine already stopped there; other engines' text is cut here)."""
    if line_stops is not None:
        result = result.model_copy(update={"text": finished(result.text, line_stops)})
    if compiled is None:
        validation = PyValidationResult(all_satisfied=True)
    else:
        validation = validate_text(result.text, compiled, enforced=result.enforced)
    return Outcome(result, validation, lookup_ms + result.compile_ms, compiled)


async def run(engine: Engine, cache: ConstraintCache, request: EngineRequest) -> Outcome:
    compiled, lookup_ms = await compile_request(cache, request, engine)
    result = await engine.generate(request, compiled)
    return finish(result, compiled, lookup_ms, request.line_stops)


async def run_streaming(
    engine: Engine, request: EngineRequest, compiled: CompiledConstraints | None, lookup_ms: float
) -> AsyncIterator[str | Outcome]:
    """Text deltas, then the ``Outcome``, for an already compiled request. Closing the iterator
    stops the engine."""
    stream = engine.stream(request, compiled)
    try:
        async for item in stream:
            if isinstance(item, EngineResult):
                yield finish(item, compiled, lookup_ms, request.line_stops)
                return
            yield item
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
