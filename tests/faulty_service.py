"""A scripted, faulty stand-in for the generation service, on 127.0.0.1.

A raw asyncio HTTP/1.1 server (uvicorn cannot reset a connection before its first byte or cut a
body mid-way), in a background thread so that it keeps answering while a test's own event loop
waits. It speaks the service's wire (`ananke_lsp/engines/service_wire.py`: `/v1/generate` as JSON or server-sent
events, `/v1/health`) and OpenAI's streamed `/v1/completions`. Each request to a path takes the next
scripted ``Step`` for that path; with none left it answers as a healthy service does. Every request
is recorded, so tests count the attempts a client really made."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ananke_lsp.api_types import PyValidationResult
from ananke_lsp.engines.service_wire import ErrorBody, ErrorDetail, GenerateResponse, HealthResponse, SelfTest, Timings

GENERATE, HEALTH, COMPLETIONS = "/v1/generate", "/v1/health", "/v1/completions"
_REASONS = {200: "OK", 408: "Request Timeout", 429: "Too Many Requests", 500: "Internal Server Error"}
_REASONS |= {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Step:
    """What the server does with one request.

    ok: answer as a healthy service · status: ``status`` with an error body (``error_type``) and
    ``retry_after`` if given; ``loading`` is the real service's 503 while its model loads (on
    `/v1/health` too) · reset: reset the connection before any byte · cut: send half the answer
    (``deltas`` events of a stream, half a JSON body), then reset · slow: answer after ``seconds``
    · trickle: send the headers, then one byte of the body every ``seconds``, forever."""

    kind: Literal["ok", "status", "reset", "cut", "slow", "trickle"]
    status: int = 200
    error_type: str = "engine_error"
    retry_after: str | None = None
    deltas: int = 2
    seconds: float = 0.0


OK = Step("ok")
RESET = Step("reset")
CUT = Step("cut")
LOADING = Step("status", 503, "loading", retry_after="1")


def status(code: int, retry_after: str | None = None) -> Step:
    return Step("status", code, "rate_limited" if code == 429 else "engine_error", retry_after)


def slow(seconds: float) -> Step:
    return Step("slow", seconds=seconds)


def trickle(seconds: float) -> Step:
    return Step("trickle", seconds=seconds)


def _head(status: int, content_type: str, extra: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Type: {content_type}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _reset(writer: asyncio.StreamWriter) -> None:
    """An RST, not a FIN: linger 0 drops the connection as a crashed process or a proxy does."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultyService:
    def __init__(self, code: str = "42") -> None:
        self.code = code  # what a healthy generation answers (it must satisfy the tests' constraints)
        self.url = ""
        self._scripts: dict[str, list[Step]] = defaultdict(list)
        self._arrivals: list[tuple[str, float]] = []
        self._loop: asyncio.AbstractEventLoop
        self._stop: asyncio.Event

    def script(self, path: str, *steps: Step) -> None:
        """Replace what the next requests to ``path`` get; the attempt log starts afresh."""
        self._scripts[path] = list(steps)
        self._arrivals.clear()

    def attempts(self, path: str = GENERATE) -> list[float]:
        """When each request to ``path`` arrived (monotonic seconds)."""
        return [t for p, t in self._arrivals if p == path]

    def gaps(self, path: str = GENERATE) -> list[float]:
        """Seconds between one attempt and the next: the waits before retries."""
        return [b - a for a, b in itertools.pairwise(self.attempts(path))]

    def _generated(self) -> GenerateResponse:
        timings = Timings(generation_ms=1, prefill_ms=0.5, decode_ms=0.5, per_token_us=500, constraint_compile_ms=0)
        return GenerateResponse(
            code=self.code,
            finish_reason="stop",
            tokens_generated=len(self.code),
            prompt_tokens=3,
            timings=timings,
            model="faulty-model",
            engine="faulty",
            validation=PyValidationResult(all_satisfied=True),
        )

    def _events(self, path: str) -> list[bytes]:
        """A healthy stream's events: one delta per character, then the result."""
        if path == COMPLETIONS:
            chunks = [{"choices": [{"text": c, "finish_reason": None}]} for c in self.code]
            chunks.append({"choices": [{"text": "", "finish_reason": "stop"}]})
            return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        deltas = [f"event: delta\ndata: {json.dumps({'text': c})}\n\n".encode() for c in self.code]
        return [*deltas, f"event: done\ndata: {self._generated().model_dump_json()}\n\n".encode()]

    async def _answer(self, writer: asyncio.StreamWriter, path: str, stream: bool, step: Step) -> None:
        if step.kind == "reset":
            _reset(writer)
            return
        if step.kind == "status":
            loading = step.error_type == "loading"
            if path == HEALTH:
                body = HealthResponse(
                    status="loading" if loading else "unhealthy",
                    model="faulty-model",
                    engine="faulty",
                    version="0",
                    detail="" if loading else f"answering {step.status} as scripted",  # as the real service
                )
            else:
                message = "the model is loading; retry in 1 s" if loading else f"scripted failure {step.status}"
                body = ErrorBody(error=ErrorDetail(type=step.error_type, message=message))
            extra = {"Retry-After": step.retry_after} if step.retry_after else {}
            raw = body.model_dump_json().encode()
            writer.write(_head(step.status, "application/json", {**extra, "Content-Length": str(len(raw))}) + raw)
            return
        if step.kind == "slow":
            await asyncio.sleep(step.seconds)
        if stream or path == COMPLETIONS:
            writer.write(_head(200, "text/event-stream", {"Transfer-Encoding": "chunked"}))
            events = self._events(path)
            for event in events[: step.deltas] if step.kind == "cut" else events:
                writer.write(_chunk(event))
                await writer.drain()
            if step.kind == "cut":
                await asyncio.sleep(0.05)  # the deltas reach the client before the reset does
                _reset(writer)
                return
            writer.write(b"0\r\n\r\n")
            return
        model = (
            self._generated()
            if path == GENERATE
            else HealthResponse(
                status="ok", model="faulty-model", engine="faulty", version="0", self_test=SelfTest(ok=True)
            )
        )
        raw = model.model_dump_json().encode()
        writer.write(_head(200, "application/json", {"Content-Length": str(len(raw))}))
        if step.kind == "cut":
            writer.write(raw[: len(raw) // 2])
            await writer.drain()
            await asyncio.sleep(0.05)
            _reset(writer)
        elif step.kind == "trickle":
            for byte in raw:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(step.seconds)
        else:
            writer.write(raw)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # CancelledError: the server stopping mid-answer (slow, trickle) is a normal end for it
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            path = head.split(" ", 2)[1]
            fields = (line.partition(":") for line in head.split("\r\n"))
            length = next((int(v) for k, _, v in fields if k.lower() == "content-length"), 0)
            body = await reader.readexactly(length)
            self._arrivals.append((path, time.monotonic()))
            script = self._scripts[path]
            step = script.pop(0) if script else OK
            await self._answer(writer, path, bool(body and json.loads(body).get("stream")), step)
            if not writer.transport.is_closing():
                await writer.drain()
                writer.close()

    def _serve(self, started: threading.Event) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            started.set()
            await self._stop.wait()
            server.close()  # asyncio.run then cancels the answers still running (slow, trickle)

        asyncio.run(main())

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultyService]:
        started = threading.Event()
        thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            self._loop.call_soon_threadsafe(self._stop.set)
            thread.join(timeout=10)
