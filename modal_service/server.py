"""The generation service: one ASGI app that wraps any ``Engine``. The same code serves vLLM on
Modal and the embedded engine on a laptop (`ananke serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ananke_lsp import __version__, generation
from ananke_lsp.constraints import CompiledConstraints, ConstraintCache
from ananke_lsp.engines.base import Engine, EngineRequest
from ananke_lsp.errors import ConstraintError, EngineError, PromptTooLongError
from ananke_lsp.selftest import self_test
from ananke_lsp.wire import (
    API_PREFIX,
    GenerateRequest,
    GenerateResponse,
    HealthResponse,
    SelfTest,
    StatsResponse,
    Timings,
)

from . import openai_routes
from .errors import ServiceError
from .settings import ServiceSettings

_Body = TypeVar("_Body", bound=BaseModel)
log = logging.getLogger("modal_service.server")


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


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())


def engine_failure(exc: EngineError) -> ServiceError:
    """A prompt the model's context cannot hold, or a constraint this engine refuses, is the
    request's fault: a 400 naming it. Any other engine failure is the service's: a 500."""
    if isinstance(exc, PromptTooLongError):
        return ServiceError(400, "limit", str(exc))
    if isinstance(exc, ConstraintError):  # an engine that cannot take this constraint (vLLM's limits)
        return ServiceError(400, "constraint_error", str(exc), constraint=exc.constraint)
    return ServiceError(500, "engine_error", str(exc))


class _Service:
    def __init__(self, engine: Engine, settings: ServiceSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.cache = ConstraintCache(enabled=settings.cache_size > 0, limit=settings.cache_size)
        self.status: Literal["ok", "loading", "unhealthy"] = "loading"
        self.detail = ""
        self.self_test: SelfTest | None = None
        self._self_test_at = 0.0
        self._self_test_lock = asyncio.Lock()
        self.requests = self.in_flight = self.cancelled = 0

    # -- readiness -----------------------------------------------------------------------
    async def warm_up(self) -> None:
        """Load the model, then prove that constraints hold, before taking traffic."""
        try:
            health = await self.engine.health()
            if not health.ok:
                self.status, self.detail = "unhealthy", health.detail
                return
            await self._run_self_test()
        except Exception as exc:  # reported on /v1/health; the process stays up
            self.status, self.detail = "unhealthy", f"{type(exc).__name__}: {exc}"

    async def _run_self_test(self) -> None:
        async with self._self_test_lock:
            self.self_test = await self_test(self.engine, self.cache)
            self._self_test_at = time.monotonic()
            self.status, self.detail = ("ok", "") if self.self_test.ok else ("unhealthy", self.self_test.detail)

    # -- request checks ------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        token = self.settings.token
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ServiceError(401, "auth", "missing or wrong bearer token: send 'Authorization: Bearer <token>'")

    def _require_ready(self) -> None:
        if self.status == "loading":
            wait = self.settings.loading_retry_after_s
            raise ServiceError(503, "loading", f"the model is loading; retry in {wait} s", retry_after=wait)
        if self.status == "unhealthy":
            raise ServiceError(503, "engine_error", f"the engine is unhealthy: {self.detail}", retry_after=30)

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        too_large = ServiceError(413, "too_large", f"request body exceeds this service's limit of {limit} bytes")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        seconds = self.settings.body_timeout_s
        try:
            async with asyncio.timeout(seconds):  # a body sent a byte at a time would hold it forever
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            message = f"the request body did not arrive within {seconds:g} s"
            raise ServiceError(408, "timeout", message, close=True) from None
        return b"".join(chunks)

    def parse(self, body: bytes, shape: type[_Body]) -> _Body:
        try:
            return shape.model_validate_json(body)
        except ValidationError as exc:
            kind = "bad_request" if any(e["type"] == "json_invalid" for e in exc.errors()) else "invalid"
            raise ServiceError(400 if kind == "bad_request" else 422, kind, _describe(exc)) from None

    def admit(self, request: EngineRequest, model: str | None) -> None:
        """This service's limits, and the model it serves."""
        limits = self.settings
        if request.seed is not None and request.seed < 0:  # engines seed generators that take none
            raise ServiceError(422, "invalid", f"seed: must be >= 0 (got {request.seed})")
        if request.max_tokens > limits.max_tokens:
            raise ServiceError(
                400, "limit", f"max_tokens {request.max_tokens} exceeds this service's limit of {limits.max_tokens}"
            )
        for c in request.constraints:
            size = len((c.json_schema or "").encode()) + len((c.grammar or "").encode())
            size += sum(len(r.encode()) for r in c.regex_patterns)
            if size > limits.max_constraint_bytes:
                raise ServiceError(
                    413,
                    "too_large",
                    f"constraint '{c.name}' is {size} bytes; the limit is {limits.max_constraint_bytes}",
                    constraint=c.name,
                )
        if model is not None and model != self.engine.model:
            raise ServiceError(400, "bad_request", f"this service serves model {self.engine.model!r}, not {model!r}")

    async def prepare(
        self, request: Request, shape: type[_Body], to_engine: Callable[[_Body], EngineRequest]
    ) -> tuple[_Body, EngineRequest, CompiledConstraints | None, float]:
        """Every check a request passes before it reaches the engine, in order."""
        self.authorize(request)
        parsed = self.parse(await self._body(request), shape)
        try:
            engine_request = to_engine(parsed)
        except ValidationError as exc:  # a field the engine bounds further (the OpenAI shapes)
            raise ServiceError(422, "invalid", _describe(exc)) from None
        self.admit(engine_request, getattr(parsed, "model", None))
        self._require_ready()
        compiled, lookup_ms = await self._compile(engine_request)
        self.requests += 1
        return parsed, engine_request, compiled, lookup_ms

    async def _compile(self, request: EngineRequest) -> tuple[CompiledConstraints | None, float]:
        try:
            return await generation.compile_request(self.cache, request, self.engine)
        except ConstraintError as exc:
            raise ServiceError(400, "constraint_error", str(exc), constraint=exc.constraint) from None

    # -- endpoints -----------------------------------------------------------------------
    async def generate(self, request: Request) -> Response:
        try:
            parsed, engine_request, compiled, lookup_ms = await self.prepare(
                request,
                GenerateRequest,
                lambda p: EngineRequest.model_validate(p.model_dump(exclude={"stream", "model"})),
            )
        except ServiceError as exc:
            return exc.response()
        if parsed.stream:
            return sse_response(self._events(engine_request, compiled, lookup_ms))
        try:
            outcome = await self.complete(request, engine_request, compiled, lookup_ms)
        except EngineError as exc:
            return engine_failure(exc).response()
        if outcome is None:
            return Response(status_code=499)  # nobody is listening
        return JSONResponse(_response(outcome).model_dump())

    async def complete(
        self, request: Request, engine_request: EngineRequest, compiled: CompiledConstraints | None, lookup_ms: float
    ) -> generation.Outcome | None:
        """Generate; None when the client went away, which stops the engine at once."""

        async def run() -> generation.Outcome:
            result = await self.engine.generate(engine_request, compiled)
            return generation.finish(result, compiled, lookup_ms, engine_request.line_stops)

        self.in_flight += 1
        work = asyncio.create_task(run())
        gone = asyncio.create_task(request.receive())  # the body is read: the next message is a disconnect
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                return work.result()
            work.cancel()
            self.cancelled += 1
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return None
        finally:
            gone.cancel()
            self.in_flight -= 1

    async def stream(
        self, engine_request: EngineRequest, compiled: CompiledConstraints | None, lookup_ms: float
    ) -> AsyncIterator[str | generation.Outcome]:
        """Deltas then the outcome; when the client leaves, the response task is cancelled and
        closing this stream stops the engine."""
        self.in_flight += 1
        stream = generation.run_streaming(self.engine, engine_request, compiled, lookup_ms)
        finished = False
        try:
            async for item in stream:
                finished = not isinstance(item, str)
                yield item
        finally:
            self.in_flight -= 1
            if not finished:
                self.cancelled += 1
            await stream.aclose()  # type: ignore[attr-defined]

    async def _events(
        self, engine_request: EngineRequest, compiled: CompiledConstraints | None, lookup_ms: float
    ) -> AsyncIterator[bytes]:
        try:
            async for item in self.stream(engine_request, compiled, lookup_ms):
                if isinstance(item, str):
                    yield _sse("delta", json.dumps({"text": item}))
                else:
                    yield _sse("done", _response(item).model_dump_json())
        except EngineError as exc:
            yield _sse("error", engine_failure(exc).body.model_dump_json(exclude_none=True))

    async def health(self, request: Request) -> Response:
        try:
            self.authorize(request)
        except ServiceError as exc:
            return exc.response()
        stale = time.monotonic() - self._self_test_at > self.settings.self_test_interval_s
        if self.status == "ok" and stale and not self._self_test_lock.locked():
            try:
                await self._run_self_test()
            except Exception as exc:
                self.status, self.detail = "unhealthy", f"{type(exc).__name__}: {exc}"
        body = HealthResponse(
            status=self.status,
            model=self.engine.model,
            engine=self.engine.name,
            version=__version__,
            self_test=self.self_test,
            detail=self.detail,
        )
        headers = {"Retry-After": str(self.settings.loading_retry_after_s)} if self.status == "loading" else None
        return JSONResponse(body.model_dump(), status_code=200 if self.status == "ok" else 503, headers=headers)

    async def stats(self, request: Request) -> Response:
        try:
            self.authorize(request)
        except ServiceError as exc:
            return exc.response()
        decoded = (await self.engine.health()).tokens_decoded if self.status != "loading" else None
        body = StatsResponse(
            requests=self.requests, in_flight=self.in_flight, cancelled=self.cancelled, engine_tokens_decoded=decoded
        )
        return JSONResponse(body.model_dump())


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    kind = "not_found" if status == 404 else "bad_request"
    message = (
        f"{request.method} {request.url.path} is not part of this API ({API_PREFIX}/generate, {API_PREFIX}/health)"
    )
    return ServiceError(status, kind, message).response()


class _StructuredErrors:
    """An unexpected exception (a bug, not a bad request) is logged and still answered with the
    ``ErrorBody`` every client parses. Starlette's own 500 handler re-raises, and uvicorn then
    drops the connection under the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            error = ServiceError(500, "internal", f"internal error: {type(exc).__name__}: {exc}")
            await error.response()(scope, receive, send)


def create_app(engine: Engine, settings: ServiceSettings | None = None) -> Starlette:
    service = _Service(engine, settings or ServiceSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        warm = asyncio.create_task(service.warm_up())
        yield
        warm.cancel()

    app = Starlette(
        routes=[
            Route(f"{API_PREFIX}/generate", service.generate, methods=["POST"]),
            Route(f"{API_PREFIX}/health", service.health, methods=["GET"]),
            Route(f"{API_PREFIX}/stats", service.stats, methods=["GET"]),
            *openai_routes.routes(service),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
        middleware=[Middleware(_StructuredErrors)],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
