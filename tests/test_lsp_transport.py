"""The real ``ananke-lsp`` process at its transport: frames with a wrong, missing or huge
Content-Length, requests after ``shutdown``, a second TCP connection, and failing handlers. After
each, the server keeps serving well-formed messages and every request gets one clean answer."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ananke_lsp.server.transport import MAX_MESSAGE_BYTES

from . import raw_lsp
from .raw_lsp import COMMAND, RawLspClient
from .servers import free_port

# A service nobody listens on: nothing loads a model, and these requests never reach an engine.
OFFLINE = {"engine": "service", "endpoint": "http://127.0.0.1:9"}
STATS = {"command": "ananke.cacheStats", "arguments": []}


@pytest.fixture
async def lsp(tmp_path: Path) -> AsyncIterator[RawLspClient]:
    client = await RawLspClient.start(tmp_path, OFFLINE, stderr=tmp_path / "stderr.log")
    yield client
    await client.close()


BAD_FRAMES = {
    "not a number": b"Content-Length: abc\r\n\r\n{}",
    "no Content-Length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n{}",
    "two Content-Lengths": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "negative": b"Content-Length: -2\r\n\r\n{}",
    "longer than the body": b'Content-Length: 40\r\n\r\n{"jsonrpc": "2.0"}',
    "shorter than the body": b'Content-Length: 5\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "huge": b"Content-Length: 99999999999999\r\n\r\n{}",
    "thousands of digits": b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n{}",
    "one past the limit": b"Content-Length: %d\r\n\r\n{}" % (MAX_MESSAGE_BYTES + 1),
    "a header line without end": b"X-Junk: " + b"j" * 100_000,
}


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_after_a_bad_frame_the_next_message_is_served(lsp: RawLspClient, frame: bytes):
    lsp.write_raw(frame)
    answer = await lsp.request("workspace/executeCommand", STATS, timeout=15)
    assert isinstance(answer["result"]["hits"], int), answer
    [refused] = lsp.answers[None]  # the bad frame itself: a parse error, as JSON-RPC answers one without an id
    assert refused["error"]["code"] == -32700 and refused["error"]["message"]
    assert lsp.process.returncode is None


async def test_a_body_over_the_limit_is_read_through_in_bounded_memory(lsp: RawLspClient):
    await lsp.request("workspace/executeCommand", STATS)  # everything a request needs is loaded
    before = lsp.rss_mb("VmHWM")
    body = b" " * (MAX_MESSAGE_BYTES + 1)
    lsp.write_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    del body
    stats = await lsp.request("workspace/executeCommand", STATS, timeout=60)
    assert isinstance(stats["result"]["hits"], int)
    assert lsp.rss_mb("VmHWM") - before < MAX_MESSAGE_BYTES / 2**20 / 4  # skipped, never held whole
    assert lsp.answers[None][0]["error"]["code"] == -32700


async def test_requests_after_shutdown_are_invalid_and_exit_ends_the_process(lsp: RawLspClient):
    assert (await lsp.request("shutdown", None))["result"] is None
    lsp.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///x.py", "languageId": "python"}})
    for method, params in (("workspace/executeCommand", STATS), ("textDocument/hover", {}), ("shutdown", None)):
        error = (await lsp.request(method, params, timeout=10))["error"]
        assert error["code"] == -32600 and "shutdown" in error["message"], error
    assert None not in lsp.answers  # the notification got no answer
    lsp.notify("exit", None)
    started = time.monotonic()
    assert await asyncio.wait_for(lsp.process.wait(), 10) == 0
    assert time.monotonic() - started < 5


def _position(line: int) -> dict[str, object]:
    return {"line": line, "character": 0}


async def test_an_expected_failure_is_a_clean_message(lsp: RawLspClient, tmp_path: Path):
    uri = lsp.open(tmp_path / "a.py", "x = 1\n")
    params = {"textDocument": {"uri": uri}, "position": _position(50), "context": {"triggerKind": 1}}
    error = (await lsp.request("textDocument/inlineCompletion", params))["error"]
    assert error["code"] == -32803  # RequestFailed: the request was well formed, it could not be done
    assert "outside the document" in error["message"] and "\n" not in error["message"]
    assert "data" not in error and "Traceback" not in (tmp_path / "stderr.log").read_text()


# The server with a bug planted in the project lookup of ananke.cacheStats (and only there).
BUGGED = [
    sys.executable,
    "-c",
    "import sys\n"
    "from ananke_lsp.server import commands, main\n"
    "def _bug(*args):\n"
    "    raise ZeroDivisionError('a planted bug')\n"
    "commands._project_for = _bug\n"
    "sys.exit(main.main())\n",
]


async def test_an_unexpected_failure_is_one_line_to_the_editor_and_a_traceback_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(raw_lsp, "COMMAND", BUGGED)
    lsp = await RawLspClient.start(tmp_path, OFFLINE, stderr=tmp_path / "stderr.log")
    try:
        error = (await lsp.request("workspace/executeCommand", STATS))["error"]
        assert error["code"] == -32603 and "data" not in error
        assert "ZeroDivisionError: a planted bug" in error["message"] and "\n" not in error["message"]
    finally:
        await lsp.close()
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log


@pytest.mark.parametrize(
    ("tail", "offered"),
    [("a/" * 3000 + "x.py", True), ("d" * 300 + "/x.py", False)],
    ids=["a path longer than the OS takes", "a directory name longer than the OS takes"],
)
async def test_a_document_whose_path_the_os_cannot_look_at_is_served(
    lsp: RawLspClient, tmp_path: Path, tail: str, offered: bool
):
    # The OS answers ENAMETOOLONG for these; the project's config above them still governs them.
    # (A name longer than any file may have is private by default: nothing is offered for it.)
    (tmp_path / ".ananke.toml").write_text("[completion]\nmax_tokens = 4\n")
    uri = lsp.open(tmp_path / tail, "def f():\n    pass\n")
    stats = await lsp.request("workspace/executeCommand", {**STATS, "arguments": [uri]})
    empty = {"start": _position(1), "end": _position(1)}
    actions = await lsp.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": empty, "context": {"diagnostics": []}}
    )
    assert "result" in stats and "result" in actions, (stats, actions)
    assert any("Implement function 'f'" in a["title"] for a in actions["result"]) is offered
    await lsp.close()
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


# -- TCP ----------------------------------------------------------------------------------------


class TcpPeer:
    """One connection to ``ananke-lsp --tcp``, framed by hand."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
                break
            except OSError:
                assert time.monotonic() < deadline, "ananke-lsp --tcp did not listen"
                time.sleep(0.05)
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None when the server closed the connection."""
        while (end := self._frame_end()) is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        body, self.buffer = self.buffer[self.buffer.index(b"\r\n\r\n") + 4 : end], self.buffer[end:]
        return json.loads(body)

    def _frame_end(self) -> int | None:
        header, found, rest = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return None
        length = int(next(line.split(b":")[1] for line in header.split(b"\r\n") if line.startswith(b"Content-Length")))
        return len(header) + 4 + length if len(rest) >= length else None

    def answer_to(self, msg_id: int) -> dict[str, Any]:
        while (message := self.receive()) is not None:
            if message.get("id") == msg_id and "method" not in message:
                return message
        raise AssertionError(f"the connection closed before request {msg_id} was answered")


@pytest.fixture
def tcp_server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen([*COMMAND, "--tcp", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    yield process, port
    process.kill()
    process.wait(timeout=10)


def test_tcp_serves_one_editor_and_turns_a_second_connection_away(
    tcp_server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
):
    process, port = tcp_server
    editor = TcpPeer(port)
    init = {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}, "initializationOptions": OFFLINE}
    editor.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
    assert editor.answer_to(1)["result"]["serverInfo"]["name"] == "ananke-lsp"

    intruder = TcpPeer(port)
    told = intruder.receive()
    assert told is not None and told["method"] == "window/showMessage"
    assert "already serves an editor" in told["params"]["message"]
    assert intruder.receive() is None  # and closed
    intruder.sock.close()

    editor.send({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": STATS})
    assert isinstance(editor.answer_to(2)["result"]["hits"], int)  # the editor's session goes on
    editor.send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
    assert editor.answer_to(3)["result"] is None
    editor.send({"jsonrpc": "2.0", "method": "exit"})
    assert process.wait(timeout=10) == 0
