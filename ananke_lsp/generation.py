"""One generation, start to finish, on any engine: compile (cached), generate, take what was
asked for out of an instruct model's wrapping, validate, and ask again (a bounded number of times)
when a constraint the engine could only validate is violated."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from . import extraction
from .api_types import PyGenerationMetadata, PyProvenance, PyRepair, PyValidationResult
from .constraints import CompiledConstraints, ConstraintCache, longest_valid_prefix, validate_text
from .engines.base import Engine, EngineRequest, EngineResult
from .engines.line_stops import LineStops, finished

# Follow-up requests after an answer that violates a constraint the engine could only validate
# ([generation] max_repairs): each costs a whole generation, so few, and never unbounded.
DEFAULT_MAX_REPAIRS = 1
MAX_REPAIRS = 5


@dataclass(frozen=True)
class Outcome:
    result: EngineResult
    validation: PyValidationResult
    compile_ms: float  # cache lookup or compile, plus the engine's matcher build
    compiled: CompiledConstraints | None = None
    extracted: bool = False  # the text was taken out of fences or prose around it (extraction.py)
    repairs: tuple[PyRepair, ...] = ()  # earlier answers that were asked again, in order

    def cut_to_valid(self) -> Outcome:
        """When the token or time budget ran out mid-construct (an open bracket, an unfinished
        JSON value), or a line stop cut the text there, the longest prefix that satisfies every
        constraint, validated again: an editor shows a shorter valid suggestion, never an invalid one."""
        cut_short = self.result.finish_reason in ("length", "time", "stop")
        if self.validation.all_satisfied or not cut_short or self.compiled is None:
            return self
        text = longest_valid_prefix(self.result.text, self.compiled)
        result = self.result.model_copy(update={"text": text})
        validation = validate_text(text, self.compiled, enforced=result.enforced)
        return dataclasses.replace(self, result=result, validation=validation)

    def unmet_validated(self) -> list[str]:
        """The violated constraints the engine did not enforce token by token: what asking again
        can mend (an enforced one fails only when the budget cut it short)."""
        return [n for n in self.validation.violated if n not in self.result.enforced]

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
            extracted=self.extracted,
            repairs=list(self.repairs),
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

        def compile_now() -> tuple[CompiledConstraints, bool]:
            # fetching the tokenizer may load the model: that, too, belongs off the event loop
            return cache.get(request.constraints, engine.llg_tokenizer() if engine else None)

        compiled, _ = await asyncio.to_thread(compile_now)
    return compiled, (time.perf_counter() - start) * 1000


def finish(
    result: EngineResult,
    compiled: CompiledConstraints | None,
    lookup_ms: float,
    line_stops: LineStops | None = None,
    request: EngineRequest | None = None,
) -> Outcome:
    """Validate the engine's result; with ``line_stops``, first cut it where the suggestion ends
    (the embedded engine already stopped there; other engines' text is cut here). With the chat
    ``request`` it answers, a text that violates a constraint the engine did not enforce is first
    taken out of the fences or prose around it (``extracted``)."""
    if line_stops is not None:
        result = result.model_copy(update={"text": finished(result.text, line_stops)})
    if compiled is None:
        return Outcome(result, PyValidationResult(all_satisfied=True), lookup_ms + result.compile_ms, compiled)
    validation = validate_text(result.text, compiled, enforced=result.enforced)
    extracted = False
    if request is not None and _may_extract(request, result, compiled, validation):
        found = extraction.extract(
            result.text,
            language=request.context.language if request.context else None,
            json_value=any(p.kind == "json_schema" for p in compiled.parts),
        )
        if found is not None and found != result.text:
            checked = validate_text(found, compiled, enforced=result.enforced)
            # kept only where it breaks nothing the whole answer met: a fence inside a string of
            # JSON the server did enforce stays where it is
            if set(checked.violated) <= set(validation.violated):
                result, validation, extracted = result.model_copy(update={"text": found}), checked, True
    return Outcome(result, validation, lookup_ms + result.compile_ms, compiled, extracted)


def _may_extract(
    request: EngineRequest, result: EngineResult, compiled: CompiledConstraints, validation: PyValidationResult
) -> bool:
    """Only a chat answer (a raw continuation has no prose around it, and a fence in it may be
    the document's own, e.g. markdown) that violates a constraint, from an engine that did not
    enforce every constraint token by token: text held to them all has nothing to strip, and
    stripping it could hide a bug."""
    return request.chat and not validation.all_satisfied and not set(compiled.names) <= set(result.enforced)


def repair_prompt(prompt: str, answer: str, errors: dict[str, str]) -> str:
    """The follow-up for an answer that violates constraints: the request, that answer and what
    is wrong with it, in one user message (so every engine and service takes it as it is, with
    no conversation to carry); rendered from the original prompt each time, so it never nests."""
    problems = "\n".join(f"- constraint {name!r}: {reason}" for name, reason in errors.items())
    return (
        f"{prompt}\n\nYour previous answer was:\n{answer}\n\n"
        f"It violates these constraints:\n{problems}\n\n"
        "Answer again with only the corrected output, satisfying every constraint."
    )


def check_max_repairs(max_repairs: int) -> None:
    if not 0 <= max_repairs <= MAX_REPAIRS:
        raise ValueError(f"max_repairs must be between 0 and {MAX_REPAIRS}, got {max_repairs}")


async def run(engine: Engine, cache: ConstraintCache, request: EngineRequest, *, max_repairs: int = 0) -> Outcome:
    """Generate and validate; a chat answer that violates a constraint the engine could only
    validate (an OpenAI-compatible server takes one structured output) is asked again, naming
    the constraint and its error, at most ``max_repairs`` times. Each such answer is recorded in
    ``repairs``; the last one's validation is reported as it is, satisfied or not. A raw
    completion is not asked again: it has no instruction to follow up on (words added to the
    prompt would be read as the document), and an editor's suggestion is withheld or cut to its
    valid prefix instead. The embedded engine enforces every constraint, so it is never re-asked."""
    check_max_repairs(max_repairs)
    compiled, lookup_ms = await compile_request(cache, request, engine)
    ask, repairs = request, list[PyRepair]()
    while True:
        result = await engine.generate(ask, compiled)
        outcome = finish(result, compiled, lookup_ms, request.line_stops, request)
        unmet = outcome.unmet_validated()
        if not unmet or not request.chat or len(repairs) >= max_repairs or result.finish_reason == "cancelled":
            return dataclasses.replace(outcome, repairs=tuple(repairs))
        v = outcome.validation
        repairs.append(
            PyRepair(
                violated=v.violated,
                errors=v.errors,
                extracted=outcome.extracted,
                tokens_generated=result.tokens_generated,
            )
        )
        ask = request.model_copy(update={"prompt": repair_prompt(request.prompt, outcome.result.text, v.errors)})


async def run_streaming(
    engine: Engine, request: EngineRequest, compiled: CompiledConstraints | None, lookup_ms: float
) -> AsyncGenerator[str | Outcome, None]:
    """Text deltas, then the ``Outcome``, for an already compiled request. Closing the iterator
    stops the engine. One attempt, no extraction: the deltas already went out as the engine
    wrote them, so the final text must be theirs (a client's ``run`` extracts from and repairs
    what the service sends it)."""
    stream = engine.stream(request, compiled)
    try:
        async for item in stream:
            if isinstance(item, EngineResult):
                yield finish(item, compiled, lookup_ms, request.line_stops)
                return
            yield item
    finally:
        await stream.aclose()
