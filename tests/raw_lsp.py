"""ananke-lsp over stdio with the JSON-RPC framing done by hand. Every message the server sends
is kept, so a test can count the answers each request got (a library client would hide a
duplicate), send what no library client sends, and read the process's memory."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

COMMAND = [sys.executable, "-m", "ananke_lsp.server"]


class RawLspClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.answers: dict[int, list[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        root: Path,
        options: dict[str, Any] | None = None,
        *,
        stderr: Path | None = None,
        log_level: str = "WARNING",
    ) -> RawLspClient:
        """``stderr``: a file to keep the server's log in (discarded otherwise)."""
        with stderr.open("wb") if stderr else open(os.devnull, "wb") as log:
            process = await asyncio.create_subprocess_exec(
                *COMMAND,
                "--log-level",
                log_level,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=2**24,
            )
        client = cls(process)
        await client.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "capabilities": {},
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "initializationOptions": options,
            },
        )
        client.notify("initialized", {})
        return client

    def write(self, body: bytes) -> None:
        """One framed message, whatever its body."""
        self.write_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def write_raw(self, data: bytes) -> None:
        """Bytes as they are: a frame with any header, or none."""
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    def notify(self, method: str, params: object) -> None:
        self.write(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def send(self, method: str, params: object) -> int:
        """Send a request and return its id without waiting."""
        request_id = next(self._ids)
        self._waiters[request_id] = asyncio.get_running_loop().create_future()
        self.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode())
        return request_id

    async def answer(self, request_id: int, timeout: float = 60) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self._waiters[request_id]), timeout)

    async def request(self, method: str, params: object, timeout: float = 60) -> dict[str, Any]:
        return await self.answer(self.send(method, params), timeout)

    def open(self, path: Path, text: str, language: str = "python") -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
        )
        return uri

    def everything_sent(self) -> str:
        """All the server has said on stdout, as text."""
        return json.dumps([self.answers, self.notifications])

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now, or at its peak with ``field="VmHWM"``."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:"))) / 1024

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            if self.process.returncode is None:  # a test may have ended the session itself
                await self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
                await asyncio.wait_for(self.process.wait(), 10)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            header = await stdout.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            message = json.loads(await stdout.readexactly(length))
            if "method" in message and "id" in message:  # the server asks the editor something
                items = (
                    message.get("params", {}).get("items") if message["method"] == "workspace/configuration" else None
                )
                result = [None] * len(items) if items is not None else None
                self.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode())
            elif "method" in message:
                self.notifications.append(message)
            else:
                self.answers.setdefault(message["id"], []).append(message)
                waiter = self._waiters.get(message["id"])
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
