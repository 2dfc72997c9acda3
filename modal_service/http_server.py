"""How `ananke serve` runs the service under uvicorn, bounded against slow clients.

uvicorn times out nothing while a request arrives: its keep-alive timer runs only between
requests, and every received byte cancels it, so a client sending its head or its body a byte at
a time holds a connection (and what it buffered) for good. Here every request must arrive within
deadlines: the head (request line and headers) within ``head_timeout_s`` of the connection opening
or of the previous answer, else a 408 and the connection closed; the body within
``body_timeout_s`` of the head. The app itself answers a late body with a 408
(`GenerationService._read_body`, which also holds on Modal, where no uvicorn of ours runs); a body
the app never reads (a 401 answered at once) is cut off here: the connection is closed once the
deadline has passed and the answer is out. ``max_connections`` bounds what the clients hold at once
(uvicorn's ``limit_concurrency``: beyond it, requests get a 503)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import ServiceError
from .settings import ServerSettings


def _head_timeout_answer(seconds: float) -> bytes:
    error = ServiceError(408, "timeout", f"the request head did not arrive within {seconds:g} s")
    body = error.body.model_dump_json(exclude_none=True).encode()
    head = "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with one deadline per connection, following what the client sends
    (h11's ``their_state``): IDLE is a head under way or awaited, SEND_BODY a body; once the
    request is in (DONE), the time the answer takes is the app's, never cut here."""

    head_timeout_s: ClassVar[float]
    body_timeout_s: ClassVar[float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: object = None  # h11.IDLE, h11.SEND_BODY or None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # narrowed as uvicorn narrows it
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start the next request on a kept-alive connection
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow(self) -> None:
        state = self.conn.their_state
        phase = state if state in (h11.IDLE, h11.SEND_BODY) else None
        if phase is self._phase:
            return
        self._disarm()
        self._phase = phase
        if phase is h11.IDLE:
            self._deadline = self.loop.call_later(self.head_timeout_s, self._head_late)
        elif phase is h11.SEND_BODY:
            self._deadline = self.loop.call_later(self.body_timeout_s, self._body_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_late(self) -> None:
        # h11 cannot answer a request it has not seen: the 408 is written as it is, then closed
        if not self.transport.is_closing():
            self.transport.write(_head_timeout_answer(self.head_timeout_s))
            self.transport.close()

    def _body_late(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:  # the app is reading it under its own deadline, or answering: close after its answer
            self.cycle.keep_alive = False


def uvicorn_config(app: Any, settings: ServerSettings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration `ananke serve` runs ``app`` with (``options``: host, port, …)."""
    protocol = type(
        "DeadlineProtocol",
        (_DeadlineProtocol,),
        {"head_timeout_s": settings.head_timeout_s, "body_timeout_s": settings.body_timeout_s},
    )
    # no websockets: an upgrade would hand the connection to a protocol without these deadlines
    return uvicorn.Config(app, http=protocol, ws="none", limit_concurrency=settings.max_connections, **options)
