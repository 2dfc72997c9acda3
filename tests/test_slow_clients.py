"""Slow clients (slowloris) against the real `ananke serve`, over raw sockets: a request's head and
body must arrive within their deadlines, else a 408 and the connection closed; a body the service
never reads does not hold the connection either; connections beyond the cap get a 503 while the
others are held. Also the app alone under a plain uvicorn (how it runs on Modal, behind Modal's
proxy): it answers a late body with a 408 itself."""

from __future__ import annotations

import json
import math
import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from modal_service.server import create_app
from modal_service.settings import ServerSettings

from .fake_engines import CannedEngine
from .servers import ananke_serve, serve_in_thread, wait_healthy

TOKEN = "slow-token-1"
HEAD_S, BODY_S = 1.0, 2.0
MAX_CONNECTIONS = 6
SLACK_S = 1.5  # scheduling on 2 busy cores
NEVER_S = 8.0  # what "held for good" is cut at, so that the code before the fix fails, not hangs
AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    env = {
        "ANANKE_SERVICE_TOKEN": TOKEN,
        "ANANKE_HEAD_TIMEOUT_S": str(HEAD_S),
        "ANANKE_BODY_TIMEOUT_S": str(BODY_S),
        "ANANKE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    with ananke_serve(env) as url:
        yield url


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _post_head(length: int, auth: bool = True) -> bytes:
    fields = b"Host: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % length
    return b"POST /v1/generate HTTP/1.1\r\n" + fields + (AUTH if auth else b"") + b"\r\n"


def _hold(sock: socket.socket, first: bytes, drip: bytes, every: float = 0.1) -> tuple[bytes, float]:
    """Send ``first``, then ``drip`` a byte at a time, reading whatever comes back, until the
    service closes the connection: (what it sent, seconds from the first byte to the close), or
    seconds = inf when it still held the connection after NEVER_S."""
    start = time.monotonic()
    sock.sendall(first)
    received, sent = b"", 0
    while time.monotonic() - start < NEVER_S:
        if select.select([sock], [], [], every)[0]:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received, time.monotonic() - start
            received += chunk
            continue
        if drip:
            try:
                sock.send(drip[sent % len(drip) : sent % len(drip) + 1])
            except (BrokenPipeError, ConnectionResetError):
                return received, time.monotonic() - start
            sent += 1
    return received, math.inf


def _error(answer: bytes) -> dict[str, str]:
    return json.loads(answer.partition(b"\r\n\r\n")[2])["error"]


def test_a_head_sent_a_byte_at_a_time_gets_a_408_and_the_connection_closed(service: str):
    with _connect(service) as sock:
        answer, closed_after = _hold(sock, b"POST /v1/generate HTTP/1.1\r\n", b"X-Slow: aaaaaaaa\r\n")
    assert HEAD_S - 0.1 <= closed_after <= HEAD_S + SLACK_S, closed_after
    assert answer.startswith(b"HTTP/1.1 408 ") and _error(answer)["type"] == "timeout"


def test_a_connection_that_sends_nothing_is_closed(service: str):
    with _connect(service) as sock:
        answer, closed_after = _hold(sock, b"", b"")
    assert closed_after <= HEAD_S + SLACK_S and answer.startswith(b"HTTP/1.1 408 ")


def test_a_body_sent_a_byte_at_a_time_gets_a_408_and_the_connection_closed(service: str):
    with _connect(service) as sock:
        answer, closed_after = _hold(sock, _post_head(100_000), b" ")
    assert BODY_S - 0.1 <= closed_after <= BODY_S + SLACK_S, closed_after
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer.lower()
    assert _error(answer) == {"type": "timeout", "message": f"the request body did not arrive within {BODY_S:g} s"}


def test_a_body_the_service_never_reads_does_not_hold_the_connection(service: str):
    # refused before its body is read (no token): answered at once, then cut off at the deadline
    with _connect(service) as sock:
        answer, closed_after = _hold(sock, _post_head(100_000, auth=False), b" ")
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert closed_after <= BODY_S + SLACK_S, closed_after


def test_a_kept_alive_connection_gets_a_fresh_head_deadline_per_request(service: str):
    health = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    with _connect(service) as sock:
        for _ in range(2):  # each within its deadline, though together longer than one
            for piece in (health[:10], health[10:30], health[30:]):
                sock.sendall(piece)
                time.sleep(HEAD_S / 4)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        # the next head never comes: closed by the head deadline (or uvicorn's 5 s keep-alive)
        _, closed_after = _hold(sock, b"GET /v1/he", b"")
        assert closed_after <= HEAD_S + SLACK_S


def test_a_request_slow_but_in_time_is_served(service: str):
    body = json.dumps({"prompt": "Hi", "max_tokens": 2, "temperature": 0.0}).encode()
    with _connect(service) as sock:
        sock.sendall(_post_head(len(body)))
        for i in range(0, len(body), 16):  # spread over about half the body deadline
            sock.sendall(body[i : i + 16])
            time.sleep(BODY_S / 2 / (len(body) / 16))
        sock.settimeout(60)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def test_connections_beyond_the_cap_get_a_503_until_the_held_ones_are_cut(service: str):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    idle = [_connect(service) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # accepted by the service
        assert httpx.get(f"{service}/v1/health", headers=headers, timeout=10).status_code == 503
        time.sleep(HEAD_S + 0.5)  # the idle ones are closed by the head deadline
        assert httpx.get(f"{service}/v1/health", headers=headers, timeout=10).status_code == 200
    finally:
        for sock in idle:
            sock.close()


def test_the_app_alone_answers_a_late_body_with_a_408():
    """Under a plain uvicorn (no deadline of ours on the connection), as on Modal."""
    settings = ServerSettings(body_timeout_s=BODY_S)
    with serve_in_thread(create_app(CannedEngine(), settings)) as url:
        wait_healthy(url)
        with _connect(url) as sock:
            answer, closed_after = _hold(sock, _post_head(100_000), b" ")
    assert answer.startswith(b"HTTP/1.1 408 ") and _error(answer)["type"] == "timeout"
    assert BODY_S - 0.1 <= closed_after <= BODY_S + SLACK_S, closed_after
