"""Real HTTP servers on 127.0.0.1 for the tests: `ananke serve` as a subprocess, or an ASGI app
under uvicorn in a background thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn

# A generation far longer than anyone waits for: only a disconnect or a cancel ends it.
ENDLESS = {
    "prompt": "Write a story.",
    "max_tokens": 3000,
    "temperature": 0.0,
    "constraints": [{"name": "long", "regex_patterns": ["[a-z ]{6000}"]}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/v1/health", headers=headers, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@contextlib.contextmanager
def ananke_serve(env: dict[str, str] | None = None) -> Iterator[str]:
    """`ananke serve` in its own process, as a user starts it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "ananke_lsp", "serve", "--port", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        token = (env or {}).get("ANANKE_SERVICE_TOKEN")
        wait_healthy(url, {"Authorization": f"Bearer {token}"} if token else None)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def serve_in_thread(app: object) -> Iterator[str]:
    """An ASGI app under a real uvicorn server on a free port, in this process."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
