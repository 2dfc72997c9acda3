"""The generation service's work, apart from HTTP routing: readiness and the constraint self-test,
reading and checking a request (body limits, parsing, this service's limits), compiling its
constraints, running it to an outcome or a stream, and the counters /v1/stats reports. The route
modules find the one instance on ``request.app.state``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol, Self, TypeVar

from pydantic import ValidationError
from starlette.requests import Request

from ananke_lsp import __version__, generation
from ananke_lsp.constraints import CompiledConstraints, ConstraintCache
from ananke_lsp.engines.base import Engine, EngineRequest
from ananke_lsp.engines.service_wire import HealthResponse, SelfTest, StatsResponse
from ananke_lsp.errors import ConstraintError
from ananke_lsp.selftest import self_test

from .errors import ClientGone, ServiceError
from .settings import ServerSettings


class WireRequest(Protocol):
    """A request body of either API: the model it names, and the engine request it asks for."""

    model: str | None

    @classmethod
    def model_validate_json(cls, json_data: bytes) -> Self: ...

    def to_engine_request(self) -> EngineRequest: ...


_Body = TypeVar("_Body", bound=WireRequest)


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check, with its constraints compiled."""

    request: EngineRequest
    compiled: CompiledConstraints | None
    lookup_ms: float


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())


class GenerationService:
    """One per app: the engine, its constraint cache, its readiness and the request counters."""

    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.cache = ConstraintCache(enabled=settings.cache_size > 0, limit=settings.cache_size)
        self.status: Literal["ok", "loading", "unhealthy"] = "loading"
        self.detail = ""
        self.self_test: SelfTest | None = None
        self._self_test_at = 0.0
        self._self_test_lock = asyncio.Lock()
        self.requests = self.in_flight = self.cancelled = 0

    @staticmethod
    def of(request: Request) -> GenerationService:
        """The service answering ``request`` (``create_app`` puts it on the app's state)."""
        service: GenerationService = request.app.state.service
        return service

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

    async def health(self) -> HealthResponse:
        """Readiness, with the self-test run again once it is older than the settings allow."""
        stale = time.monotonic() - self._self_test_at > self.settings.self_test_interval_s
        if self.status == "ok" and stale and not self._self_test_lock.locked():
            try:
                await self._run_self_test()
            except Exception as exc:
                self.status, self.detail = "unhealthy", f"{type(exc).__name__}: {exc}"
        return HealthResponse(
            status=self.status,
            model=self.engine.model,
            engine=self.engine.name,
            version=__version__,
            self_test=self.self_test,
            detail=self.detail,
        )

    async def stats(self) -> StatsResponse:
        decoded = (await self.engine.health()).tokens_decoded if self.status != "loading" else None
        return StatsResponse(
            requests=self.requests, in_flight=self.in_flight, cancelled=self.cancelled, engine_tokens_decoded=decoded
        )

    # -- request checks ------------------------------------------------------------------
    def _require_ready(self) -> None:
        if self.status == "loading":
            wait = self.settings.loading_retry_after_s
            raise ServiceError(503, "loading", f"the model is loading; retry in {wait} s", retry_after=wait)
        if self.status == "unhealthy":
            raise ServiceError(503, "engine_error", f"the engine is unhealthy: {self.detail}", retry_after=30)

    async def _read_body(self, request: Request) -> bytes:
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

    def _parse(self, body: bytes, shape: type[_Body]) -> _Body:
        try:
            return shape.model_validate_json(body)
        except ValidationError as exc:
            kind = "bad_request" if any(e["type"] == "json_invalid" for e in exc.errors()) else "invalid"
            raise ServiceError(400 if kind == "bad_request" else 422, kind, _describe(exc)) from None

    def _admit(self, request: EngineRequest, model: str | None) -> None:
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

    async def prepare(self, request: Request, shape: type[_Body]) -> tuple[_Body, Admitted]:
        """Every check a request passes before it reaches the engine, in order (the bearer token
        was checked before the handler ran)."""
        parsed = self._parse(await self._read_body(request), shape)
        try:
            engine_request = parsed.to_engine_request()
        except ValidationError as exc:  # a field the engine bounds further (the OpenAI shapes)
            raise ServiceError(422, "invalid", _describe(exc)) from None
        self._admit(engine_request, parsed.model)
        self._require_ready()
        try:
            compiled, lookup_ms = await generation.compile_request(self.cache, engine_request, self.engine)
        except ConstraintError as exc:
            raise ServiceError(400, "constraint_error", str(exc), constraint=exc.constraint) from None
        self.requests += 1
        return parsed, Admitted(engine_request, compiled, lookup_ms)

    # -- generation ----------------------------------------------------------------------
    async def complete(self, request: Request, job: Admitted) -> generation.Outcome:
        """Generate; when the client goes away first, the engine is stopped at once and
        ``ClientGone`` raised."""

        async def run() -> generation.Outcome:
            result = await self.engine.generate(job.request, job.compiled)
            return generation.finish(result, job.compiled, job.lookup_ms, job.request.line_stops)

        self.in_flight += 1
        work = asyncio.create_task(run())
        gone = asyncio.ensure_future(request.receive())  # the body is read: the next message is a disconnect
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                return work.result()
            work.cancel()
            self.cancelled += 1
            with contextlib.suppress(asyncio.CancelledError):
                await work
            raise ClientGone
        finally:
            gone.cancel()
            self.in_flight -= 1

    async def stream(self, job: Admitted) -> AsyncGenerator[str | generation.Outcome, None]:
        """Deltas then the outcome; when the client leaves, the response task is cancelled and
        closing this stream stops the engine."""
        self.in_flight += 1
        stream = generation.run_streaming(self.engine, job.request, job.compiled, job.lookup_ms)
        finished = False
        try:
            async for item in stream:
                finished = not isinstance(item, str)
                yield item
        finally:
            self.in_flight -= 1
            if not finished:
                self.cancelled += 1
            await stream.aclose()
