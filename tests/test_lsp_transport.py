"""The real ``ananke-lsp`` process at its transport: frames with a wrong, missing or huge
Content-Length, requests after ``shutdown``, a second TCP connection, and failing handlers. After
each, the server keeps serving well-formed messages and every request gets one clean answer."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ananke_lsp.server.transport import MAX_MESSAGE_BYTES

from .lsp_client import RawLspClient, tcp_server

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


async def test_an_unexpected_failure_is_one_line_to_the_editor_and_a_traceback_in_the_log(tmp_path: Path):
    lsp = await RawLspClient.start(tmp_path, OFFLINE, stderr=tmp_path / "stderr.log", command=BUGGED)
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


async def test_tcp_serves_one_editor_and_turns_a_second_connection_away(tmp_path: Path):
    async with tcp_server() as (process, port):
        editor = await RawLspClient.connect(port)
        await editor.initialize(tmp_path, OFFLINE)
        assert editor.initialize_answer["result"]["serverInfo"]["name"] == "ananke-lsp"

        intruder = await RawLspClient.connect(port)
        await intruder.wait_closed()
        [told] = intruder.received  # and then the connection closed
        assert told["method"] == "window/showMessage"
        assert "already serves an editor" in told["params"]["message"]
        await intruder.close()

        stats = await editor.request("workspace/executeCommand", STATS)
        assert isinstance(stats["result"]["hits"], int)  # the editor's session goes on
        assert (await editor.request("shutdown"))["result"] is None
        editor.notify("exit", None)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        await editor.close()
