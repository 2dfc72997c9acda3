"""The generation service's ASGI app: one ``GenerationService`` around any ``Engine``, ananke's
routes and the OpenAI-compatible ones, the bearer-token check, and the answers to what handlers
raise. The same app serves vLLM on Modal and the embedded engine on a laptop (`ananke serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ananke_lsp.engines.base import Engine
from ananke_lsp.engines.service_wire import API_PREFIX
from ananke_lsp.errors import EngineError

from . import openai_routes, routes
from .errors import ClientGone, ServiceError, engine_failure
from .service import GenerationService
from .settings import ServerSettings

log = logging.getLogger("modal_service.server")


class _BearerAuth:
    """Every API route first checks the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
        # constant time: how long a refusal takes says nothing about how much of the token matched
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
            raise ServiceError(401, "auth", "missing or wrong bearer token: send 'Authorization: Bearer <token>'")
        await self.app(scope, receive, send)


async def _answer(request: Request, exc: Exception) -> Response:
    """What a handler raises on purpose, answered in this API's shape; an engine's failure as
    ``engine_failure`` says."""
    match exc:
        case ServiceError():
            return exc.response()
        case EngineError():
            return engine_failure(exc).response()
        case ClientGone():
            return Response(status_code=499)  # nobody is listening
    raise exc  # registered for the classes above only


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


def create_app(engine: Engine, settings: ServerSettings | None = None) -> Starlette:
    service = GenerationService(engine, settings or ServerSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        warm = asyncio.create_task(service.warm_up())
        yield
        warm.cancel()

    # On each route rather than around the app: an unknown path or method is answered 404 or 405
    # whatever the token, as routing decides those first.
    token = service.settings.token
    auth = [Middleware(_BearerAuth, token=token)] if token is not None else []
    app = Starlette(
        routes=[
            Route(path, endpoint, methods=methods, middleware=auth)
            for path, endpoint, methods in (*routes.ENDPOINTS, *openai_routes.ENDPOINTS)
        ],
        exception_handlers={
            404: _not_found,
            405: _not_found,
            **dict.fromkeys((ServiceError, EngineError, ClientGone), _answer),
        },
        middleware=[Middleware(_StructuredErrors)],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
