"""An ASGI front that answers the way Modal's web endpoints do when a request runs long.

Modal's documented behaviour (docs "Request timeouts", modal.com/docs/guide/webhook-timeouts): a web
request gets at most 150 s; if the function has not answered by then, Modal replies `303 See Other`
pointing at the original URL with a query parameter naming that call (`__modal_function_call_id=
fc-...`). That *result URL* does not start a new call: a GET on it waits for the same call, up to
150 s again, then answers with its response or with another 303. A response is handed out once.
Here the limit is a parameter, so a test takes a second, not minutes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CALL_ID = "__modal_function_call_id"


class _Call:
    """One run of the wrapped app: its response messages, as they come."""

    def __init__(self, app: Callable[..., Awaitable[None]], scope: Scope, body: bytes) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.task = asyncio.create_task(app(scope, self._receive(body), self.messages.put))

    @staticmethod
    def _receive(body: bytes) -> Receive:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the call runs on after its client is redirected away
            raise AssertionError("unreachable")

        return receive


class ModalLikeFront:
    def __init__(self, app: Callable[..., Awaitable[None]], limit_s: float) -> None:
        self.app = app
        self.limit_s = limit_s
        self.calls: dict[str, _Call] = {}
        self.started = 0  # calls that reached the app
        self.redirects = 0
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, path?query, headers
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], f"{scope['path']}?{query}" if query else scope["path"], headers))
        call_id = parse_qs(query).get(CALL_ID, [None])[0]
        if call_id is None:
            call_id = f"fc-{next(self._ids)}"
            self.calls[call_id] = _Call(self.app, scope, await _body(receive))
            self.started += 1
        elif call_id not in self.calls:
            await _answer(send, 404, b"unknown or already collected call")
            return
        await self._relay_or_redirect(scope, call_id, send)

    async def _relay_or_redirect(self, scope: Scope, call_id: str, send: Send) -> None:
        call = self.calls[call_id]
        try:
            first = await asyncio.wait_for(call.messages.get(), self.limit_s)
        except TimeoutError:
            self.redirects += 1
            host = dict(scope["headers"]).get(b"host", b"").decode()
            location = f"{scope['scheme']}://{host}{scope['path']}?{CALL_ID}={call_id}"  # the original URL
            await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        del self.calls[call_id]  # handed out once
        message = first
        while True:  # a response that has started streams through as it comes
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                return
            message = await call.messages.get()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
