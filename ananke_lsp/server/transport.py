"""How bytes reach the protocol: Content-Length frames over stdio, or over TCP for one editor.

This replaces pygls's reader loop (``pygls.io_.run_async``), which needs the exact header line
``Content-Length: N\\r\\n``: after any other header block it reads the next body as headers and
never finds a frame again (alive but deaf), and it allocates whatever length a header claims
(``MemoryError``). Here a message is bounded, and after a bad frame reading resumes at the next
header. pygls's TCP server also gives every connection the one protocol, so a second connection
received the first one's answers and its disconnect stopped the server: here the first
connection is the editor, and others are told so and closed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import BinaryIO, cast

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from ..errors import FrameError
from .protocol import AnankeProtocol

log = logging.getLogger("ananke_lsp.server")

MAX_MESSAGE_BYTES = 64 << 20  # a message body; documents of several MB fit many times over
MAX_HEADER_BYTES = 8 << 10  # a header block (Content-Length, Content-Type): tens of bytes in practice
_CHUNK = 1 << 20
# Where a frame starts. No JSON body can hold this line: a JSON string escapes CR and LF.
_HEADER_LINE = re.compile(rb"Content-Length:[ \t]*\d+[ \t]*\r\n", re.IGNORECASE)
_HEADER_END = b"\r\n\r\n"
_MAX_DIGITS = 12  # already over the limit; and int() refuses a number of over 4300 digits


Reader = Callable[[int], Awaitable[bytes]]


def _content_length(header: bytes) -> int:
    """The body length a header block declares, within the limit."""
    values = [
        value.strip()
        for name, _, value in (line.partition(b":") for line in header.split(b"\r\n"))
        if name.strip().lower() == b"content-length"
    ]
    if len(values) != 1 or not values[0].isdigit():
        raise FrameError(f"a header block without one valid Content-Length: {header[:80]!r}")
    if len(values[0]) > _MAX_DIGITS or int(values[0]) > MAX_MESSAGE_BYTES:
        raise FrameError(f"a message of {values[0][:20].decode()} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    return int(values[0])


class FrameReader:
    """Message bodies from a byte stream: ``read_some(n)`` returns up to ``n`` bytes (what has
    arrived), ``read_into(view)`` fills ``view`` and returns the count; fewer only at the end.

    The last body is kept, so that a body found not to be a message can be searched for the
    header its wrong length may have swallowed."""

    def __init__(self, read_some: Reader, read_into: Callable[[memoryview], Awaitable[int]]) -> None:
        self._read_some = read_some
        self._read_into = read_into  # a body in one call, without copies (a pipe gives 64 KiB per read)
        self._buffer = bytearray()  # what has arrived after the last frame
        self._body = bytearray()
        self._searching = False  # after a bad frame: the next frame starts at the next header line

    def lost(self) -> None:
        """The last body was not a message: look for the next header inside it and after it."""
        self._buffer[:0] = self._body
        self._searching = True

    async def read_body(self) -> bytearray | None:
        """The next message body; None at the end of input. Raises ``FrameError`` for a frame
        that cannot be read; the next call resumes at the next header."""
        if self._searching:
            self._searching = False
            if not await self._resync():
                return None
        while (end := self._buffer.find(_HEADER_END)) < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._skip(1)
                raise FrameError(f"a header block longer than {MAX_HEADER_BYTES} bytes")
            if not await self._fill():
                return None
        start = end + len(_HEADER_END)
        try:
            length = _content_length(bytes(self._buffer[:end]))
        except FrameError:
            self._skip(start)
            raise
        self._body = body = bytearray(length)
        arrived = min(length, len(self._buffer) - start)
        body[:arrived] = self._buffer[start : start + arrived]
        del self._buffer[: start + arrived]
        if arrived < length and await self._read_into(memoryview(body)[arrived:]) < length - arrived:
            return None
        return body

    def _skip(self, count: int) -> None:
        del self._buffer[:count]
        self._searching = True

    async def _resync(self) -> bool:
        """Drop bytes up to the next header line; False at the end of input. Memory stays
        bounded however much is skipped (a body longer than the limit is read through)."""
        while (found := _HEADER_LINE.search(self._buffer)) is None:
            del self._buffer[: max(0, len(self._buffer) - MAX_HEADER_BYTES)]  # keep a header cut in two
            if not await self._fill():
                return False
        del self._buffer[: found.start()]
        return True

    async def _fill(self) -> bool:
        chunk = await self._read_some(_CHUNK)
        self._buffer += chunk
        return bool(chunk)


def _framed(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def serve(frames: FrameReader, server: LanguageServer, stop: threading.Event) -> None:
    """Hand each message to the protocol until the input ends or the server stops."""
    protocol = server.protocol
    if not isinstance(protocol, AnankeProtocol):  # it answers what cannot be read
        raise TypeError(f"the server must be built with protocol_cls=AnankeProtocol, not {type(protocol).__name__}")
    while not stop.is_set():
        try:
            body = await frames.read_body()
        except FrameError as exc:
            protocol.refuse_unreadable(str(exc))
            continue
        if body is None:
            return
        try:
            message = json.loads(body, object_hook=protocol.structure_message)
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deep
            frames.lost()
            protocol.refuse_unreadable(f"a message that is not JSON: {exc}"[:200])
            continue
        try:
            protocol.handle_message(message)
        except Exception:  # one message's failure must not end the session
            log.exception("could not handle a message")


def run_stdio(server: LanguageServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    source = cast(io.BufferedIOBase, stdin or sys.stdin.buffer)  # has read1 and readinto, as sys.stdin.buffer
    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

    # blocking reads on a thread, as pygls does: stdin may be a file, which asyncio cannot poll
    async def read_some(n: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(server.thread_pool, source.read1, n)

    async def read_into(view: memoryview) -> int:
        return await asyncio.get_running_loop().run_in_executor(server.thread_pool, source.readinto, view)

    frames = FrameReader(read_some, read_into)
    try:
        asyncio.run(serve(frames, server, stop))
    except BrokenPipeError:
        log.error("the editor closed the connection")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def run_tcp(server: LanguageServer, host: str, port: int) -> None:
    """Serve the first editor that connects until it disconnects; a connection made meanwhile is
    told to start its own ``ananke-lsp`` and closed, without touching the editor's session."""
    server._stop_event = stop = threading.Event()

    async def main() -> None:
        done = asyncio.Event()

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if server.protocol.writer is not None:
                await _turn_away(writer, f"{host}:{port}")
                return
            server.protocol.set_writer(writer)

            async def read_into(view: memoryview) -> int:
                try:
                    data = await reader.readexactly(len(view))
                except asyncio.IncompleteReadError as end:
                    data = end.partial
                view[: len(data)] = data
                return len(data)

            try:
                await serve(FrameReader(reader.read, read_into), server, stop)
            finally:
                done.set()

        listener = await asyncio.start_server(connected, host, port)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in listener.sockets))
        async with listener:
            await done.wait()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


async def _turn_away(writer: asyncio.StreamWriter, address: str) -> None:
    message = f"ananke-lsp on {address} already serves an editor; start another ananke-lsp for this one"
    log.warning("refused a second connection from %s: %s", writer.get_extra_info("peername"), message)
    params = {"type": types.MessageType.Error.value, "message": message}
    writer.write(_framed({"jsonrpc": "2.0", "method": types.WINDOW_SHOW_MESSAGE, "params": params}))
    with contextlib.suppress(ConnectionError):  # it may be gone already
        await writer.drain()
    writer.close()
