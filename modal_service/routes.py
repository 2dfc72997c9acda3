"""ananke's own API (`/v1/generate`, `/v1/health`, `/v1/stats`; the contract is `ananke_lsp.engines.service_wire`):
handlers that turn HTTP into calls on the ``GenerationService`` and its answers back into HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ananke_lsp import generation
from ananke_lsp.engines.service_wire import API_PREFIX, GenerateRequest, GenerateResponse, Timings
from ananke_lsp.errors import EngineError

from .errors import engine_failure
from .service import GenerationService
from .sse import sse_event, sse_response


def _response(outcome: generation.Outcome) -> GenerateResponse:
    r = outcome.result
    return GenerateResponse(
        code=r.text,
        finish_reason=r.finish_reason,
        tokens_generated=r.tokens_generated,
        prompt_tokens=r.prompt_tokens,
        timings=Timings(
            generation_ms=r.generation_ms,
            prefill_ms=r.prefill_ms,
            decode_ms=r.decode_ms,
            per_token_us=r.decode_ms * 1000 / r.tokens_generated if r.tokens_generated else 0.0,
            constraint_compile_ms=outcome.compile_ms,
        ),
        model=r.model,
        engine=r.engine,
        enforced=outcome.validation.enforced,
        validated=[n for n in outcome.validation.satisfied + outcome.validation.violated if n not in r.enforced],
        validation=outcome.validation,
        closing_tokens=r.closing_tokens,
    )


async def _events(stream: AsyncIterator[str | generation.Outcome]) -> AsyncIterator[bytes]:
    try:
        async for item in stream:
            if isinstance(item, str):
                yield sse_event(json.dumps({"text": item}), "delta")
            else:
                yield sse_event(_response(item).model_dump_json(), "done")
    except EngineError as exc:
        yield sse_event(engine_failure(exc).body.model_dump_json(exclude_none=True), "error")


async def generate(request: Request) -> Response:
    service = GenerationService.of(request)
    body, job = await service.prepare(request, GenerateRequest)
    if body.stream:
        return sse_response(_events(service.stream(job)))
    outcome = await service.complete(request, job)
    return JSONResponse(_response(outcome).model_dump())


async def health(request: Request) -> Response:
    service = GenerationService.of(request)
    body = await service.health()
    retry = {"Retry-After": str(service.settings.loading_retry_after_s)} if body.status == "loading" else None
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503, headers=retry)


async def stats(request: Request) -> Response:
    return JSONResponse((await GenerationService.of(request).stats()).model_dump())


ENDPOINTS = [
    (f"{API_PREFIX}/generate", generate, ["POST"]),
    (f"{API_PREFIX}/health", health, ["GET"]),
    (f"{API_PREFIX}/stats", stats, ["GET"]),
]
