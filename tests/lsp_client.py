"""How the tests start ananke-lsp and talk to it; both clients start the same command
(``server_command``) and open the workspace with the same initialize request (``initialize_params``).

- pytest-lsp (``SERVER``, ``session`` and the request helpers): a library client that talks as VS
  Code does. Every LSP test uses it unless it needs what such a client hides.
- ``RawLspClient``: JSON-RPC framed by hand, over the process's stdio or a TCP connection. Every
  message the server sends is kept, so a test can count the answers each request got (a library
  client would hide a duplicate), send what no library client sends (bad frames, envelopes and
  params of any shape), and read the process's memory.

The CLI's own client is product code (``ananke_lsp/editor_session.py``), tested through the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .servers import free_port

Message = dict[str, Any]


def server_command(*args: str) -> list[str]:
    """``ananke-lsp`` run by this interpreter, with ``args``."""
    return [sys.executable, "-m", "ananke_lsp.server", *args]


def initialize_params(
    root: Path, options: dict | None = None, capabilities: types.ClientCapabilities | None = None
) -> types.InitializeParams:
    """What an editor sends to open the workspace folder ``root`` (``options``: the editor's
    settings, as initializationOptions)."""
    folder = types.WorkspaceFolder(uri=root.as_uri(), name=root.name)
    return types.InitializeParams(
        capabilities=capabilities or types.ClientCapabilities(),
        root_uri=folder.uri,
        workspace_folders=[folder],
        initialization_options=options,
    )


# -- pytest-lsp ---------------------------------------------------------------------------------

SERVER = ClientServerConfig(server_command=server_command("--log-level", "DEBUG"))


def _record_client_requests(client: LanguageClient) -> None:
    """Answer what a real editor answers: capability registrations and edits to apply."""
    client.applied_edits = []
    client.registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations.extend(r.method for r in params.registrations)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)


@contextlib.asynccontextmanager
async def session(client: LanguageClient, root: Path, options: dict | None = None) -> AsyncIterator[None]:
    """pytest-lsp's ``client`` initialized for the workspace folder ``root``; shut down after."""
    _record_client_requests(client)
    await client.initialize_session(initialize_params(root, options, client_capabilities("visual-studio-code")))
    yield
    await client.shutdown_session()


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "python", version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )
    return uri


def change_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def end_position(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(line=len(lines) - 1, character=len(lines[-1]))


async def inline(client: LanguageClient, uri: str, position: types.Position, invoked: bool = True):
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
    )


async def command(client: LanguageClient, name: str, *arguments: object):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )


async def actions(client: LanguageClient, uri: str, start: types.Position, end: types.Position | None = None):
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=start, end=end or start),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in found or [] if isinstance(a, types.CodeAction)]


def apply_edit(text: str, edit: types.TextEdit) -> str:
    """Apply one edit the way an editor does (positions in UTF-16 units; ASCII text here)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(p: types.Position) -> int:
        return min(offsets[p.line] + p.character, len(text)) if p.line < len(lines) else len(text)

    return text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]


# -- framed by hand -----------------------------------------------------------------------------

_CONVERTER = default_converter()
_STREAM_LIMIT = 2**24  # bytes: a header or a line the reader may buffer


def _editor_answer(request: Message) -> object:
    """What an editor answers the server that applies no edit and has no settings for it."""
    if request["method"] == "workspace/applyEdit":
        return {"applied": False}
    if request["method"] == "workspace/configuration":
        return [None] * len((request.get("params") or {}).get("items", []))
    return None


class RawLspClient:
    """One connection to ananke-lsp: its stdio (``start``) or a TCP socket (``connect``).
    ``received`` holds every message the server sent, in order; ``answers`` the answers by id (a
    null id too), ``notifications`` the notifications."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        process: asyncio.subprocess.Process | None = None,
        answer_s: float = 60,
    ) -> None:
        self.reader, self.writer, self.process = reader, writer, process
        self.answer_s = answer_s  # how long a request waits for its answer unless told
        self.received: list[Message] = []
        self.answers: dict[object, list[Message]] = {}
        self.notifications: list[Message] = []
        self.initialize_answer: Message | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Message]]] = {}
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        root: Path,
        options: dict[str, Any] | None = None,
        *,
        stderr: Path | None = None,
        log_level: str = "WARNING",
        command: list[str] | None = None,
        answer_s: float = 60,
    ) -> RawLspClient:
        """ananke-lsp over stdio, initialized for ``root``. ``stderr``: a file to keep the server's
        log in (discarded otherwise); ``command``: another server's, run with ``--log-level`` too."""
        with stderr.open("wb") if stderr else open(os.devnull, "wb") as log:
            process = await asyncio.create_subprocess_exec(
                *(command or server_command()),
                "--log-level",
                log_level,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=_STREAM_LIMIT,
            )
        assert process.stdout is not None and process.stdin is not None
        client = cls(process.stdout, process.stdin, process, answer_s)
        await client.initialize(root, options)
        return client

    @classmethod
    async def connect(cls, port: int) -> RawLspClient:
        """A connection to ``ananke-lsp --tcp`` on ``port`` once it listens, not initialized."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return cls(*await asyncio.open_connection("127.0.0.1", port, limit=_STREAM_LIMIT))
            except OSError:
                assert time.monotonic() < deadline, "ananke-lsp --tcp did not listen"
                await asyncio.sleep(0.05)

    async def initialize(self, root: Path, options: dict[str, Any] | None = None) -> None:
        """The initialize request (its answer kept in ``initialize_answer``), then initialized."""
        params = _CONVERTER.unstructure(initialize_params(root, options))
        self.initialize_answer = await self.request("initialize", params)
        self.notify("initialized", {})

    def write_raw(self, data: bytes) -> None:
        """Bytes as they are: a frame with any header, or none."""
        self.writer.write(data)

    def write(self, body: bytes) -> None:
        """One framed message, whatever its body."""
        self.write_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: object) -> None:
        self.write(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def send(self, method: str, params: object = None) -> int:
        """Send a request (without params when ``params`` is None); its id, without waiting."""
        envelope: Message = {"jsonrpc": "2.0", "method": method}
        return self.send_envelope(envelope if params is None else {**envelope, "params": params})

    def send_envelope(self, envelope: Message) -> int:
        """Send ``envelope``, whatever its members, as a request with the next id; that id."""
        request_id = next(self._ids)
        body = json.dumps({**envelope, "id": request_id})
        self._pending[request_id] = (body[:200], asyncio.get_running_loop().create_future())
        self.write(body.encode())
        return request_id

    async def answer(self, request_id: int, timeout: float | None = None) -> Message:
        sent, answered = self._pending[request_id]
        timeout = self.answer_s if timeout is None else timeout
        await asyncio.wait({answered, self._reading}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if answered.done():
            return answered.result()
        if self._reading.done():
            raise ConnectionError(f"ananke-lsp closed the connection before answering request {request_id}: {sent}")
        raise TimeoutError(f"no answer in {timeout:g} s to request {request_id}: {sent}")

    async def request(self, method: str, params: object = None, timeout: float | None = None) -> Message:
        return await self.answer(self.send(method, params), timeout)

    def open(self, path: Path, text: str, language: str = "python", version: int = 1) -> str:
        uri = path.as_uri()
        item = {"uri": uri, "languageId": language, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})
        return uri

    def unmatched(self) -> list[Message]:
        """Answers whose id no request of ours had (a null id, or one sent raw), taken."""
        return [
            answer for key in [k for k in self.answers if not isinstance(k, int)] for answer in self.answers.pop(key)
        ]

    def everything_sent(self) -> str:
        """All the server has said, as text."""
        return json.dumps(self.received)

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now, or at its peak with ``field="VmHWM"``."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:"))) / 1024

    async def wait_closed(self, timeout: float = 15) -> None:
        """Until the server has closed the connection."""
        await asyncio.wait_for(asyncio.shield(self._reading), timeout)

    async def close(self) -> None:
        """End the session as an editor does, unless a test has ended it; a process that does not
        exit in time is killed."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            if self.process.returncode is None if self.process else not self._reading.done():
                await self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
                await asyncio.wait_for(self.process.wait() if self.process else asyncio.shield(self._reading), 10)
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reading.cancel()
        self.writer.close()

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # the server closed it
            while True:
                header = await self.reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in header.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                self._take(json.loads(await self.reader.readexactly(length)))

    def _take(self, message: Message) -> None:
        self.received.append(message)
        if "method" not in message:
            self.answers.setdefault(message.get("id"), []).append(message)
            pending = self._pending.get(message.get("id"))
            if pending is not None and not pending[1].done():
                pending[1].set_result(message)
        elif "id" in message:  # the server asks the editor something
            self.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": _editor_answer(message)}).encode())
        else:
            self.notifications.append(message)


@contextlib.asynccontextmanager
async def tcp_server() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``ananke-lsp --tcp`` on a free port, its log discarded: the process and the port."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *server_command("--tcp", f"127.0.0.1:{port}"), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
