"""The real service app behind a front that records every generation request that reaches it
(body and Authorization header), under uvicorn on 127.0.0.1: where the LSP tests see what left
the editor's machine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ananke_lsp.engines.base import Engine
from modal_service.server import create_app

from .servers import serve_in_thread, wait_healthy


class Recorder:
    """Passes every request to the real app, keeping what reached it."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.bodies: list[bytes] = []
        self.authorizations: list[str | None] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(("/generate", "/completions")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(b"".join(chunks))
        authorization = dict(scope["headers"]).get(b"authorization")
        self.authorizations.append(authorization.decode() if authorization else None)
        replayed = iter([{"type": "http.request", "body": self.bodies[-1], "more_body": False}])

        async def replay():
            return next(replayed, None) or await receive()

        await self.app(scope, replay, send)


@contextlib.contextmanager
def recorded_service(engine: Engine) -> Iterator[tuple[Recorder, str]]:
    """The service on ``engine``, healthy: its recorder and its URL."""
    recorder = Recorder(create_app(engine))
    with serve_in_thread(recorder) as url:
        wait_healthy(url)
        yield recorder, url
