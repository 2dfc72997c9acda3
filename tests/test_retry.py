"""Retries: the delay policy as data, then real retries against a real local server that fails
first (429 with and without Retry-After, 503) and then answers from the real service app."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from ananke_lsp.api_types import PyModalConfig
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.engines.service import ServiceEngine
from ananke_lsp.errors import EngineError
from ananke_lsp.transport.retry import RetryPolicy, retry_after_seconds
from modal_service.server import create_app
from modal_service.settings import ServerSettings

from .servers import serve_in_thread, wait_healthy


def test_retry_after_parses_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 28 <= retry_after_seconds(format_datetime(later, usegmt=True)) <= 30
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_delays_follow_the_three_priorities_with_full_jitter():
    policy, rng = RetryPolicy(), random.Random(1)
    for attempt in range(1, 8):
        waits = [policy.delay(attempt, 429, 2.0, rng) for _ in range(200)]
        assert min(waits) >= 2.0 and max(waits) <= 2.0 + 0.1 * attempt  # server's word first, never earlier
        waits = [policy.delay(attempt, 429, None, rng) for _ in range(200)]
        bound = min(60.0, 2 ** (attempt - 1))
        assert max(waits) <= bound and min(waits) < bound / 4  # full jitter spreads over [0, bound]
        waits = [policy.delay(attempt, 503, None, rng) for _ in range(200)]
        assert max(waits) <= 0.1 * attempt
    assert max(policy.delay(20, 429, None, rng) for _ in range(200)) <= 60.0


class FlakyFront:
    """A real ASGI front that answers the first queued failures itself, then passes through."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.arrivals: list[float] = []
        self.headers: dict[str, str] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/generate":
            self.arrivals.append(time.monotonic())
            self.headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            if self.failures:
                status, headers = self.failures.pop(0)
                body = json.dumps({"error": {"type": "busy", "message": f"try later ({status})"}}).encode()
                raw = [(k.encode(), v.encode()) for k, v in {"content-type": "application/json", **headers}.items()]
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def front():
    flaky = FlakyFront(create_app(EmbeddedEngine()))
    with serve_in_thread(flaky) as url:
        wait_healthy(url)
        yield flaky, url


def _engine(url: str, **policy: float) -> ServiceEngine:
    return ServiceEngine(PyModalConfig(endpoint_url=url, max_retries=3), RetryPolicy(**policy))


REQUEST = EngineRequest(prompt="Say hi.", max_tokens=4, temperature=0.0)


def _gaps(front: FlakyFront) -> list[float]:
    return [b - a for a, b in zip(front.arrivals, front.arrivals[1:], strict=False)]


async def test_429_with_retry_after_waits_as_told(front):
    flaky, url = front
    flaky.arrivals.clear()
    flaky.failures = [(429, {"retry-after": "1"})]
    engine = _engine(url)
    result = await engine.generate(REQUEST)
    assert result.tokens_generated > 0 and engine.http.retries == 1
    [gap] = _gaps(flaky)
    assert 1.0 <= gap < 1.5


async def test_429_without_retry_after_backs_off_exponentially(front):
    flaky, url = front
    flaky.arrivals.clear()
    flaky.failures = [(429, {}), (429, {})]
    engine = _engine(url, backoff_429_s=0.2)
    await engine.generate(REQUEST)
    assert engine.http.retries == 2
    first, second = _gaps(flaky)
    assert first <= 0.2 + 0.05 and second <= 0.4 + 0.05


async def test_503_then_200_retries_linearly_also_for_streams(front):
    flaky, url = front
    flaky.arrivals.clear()
    flaky.failures = [(503, {})]
    engine = _engine(url)
    items = [item async for item in engine.stream(REQUEST)]
    assert engine.http.retries == 1 and items[-1].tokens_generated > 0
    [gap] = _gaps(flaky)
    assert gap <= 0.1 + 0.05


async def test_retries_are_bounded_and_the_error_says_why(front):
    flaky, url = front
    flaky.arrivals.clear()
    flaky.failures = [(503, {})] * 10
    engine = ServiceEngine(PyModalConfig(endpoint_url=url, max_retries=2))
    with pytest.raises(EngineError, match="gave up after 2 retries"):
        await engine.generate(REQUEST)
    assert len(flaky.arrivals) == 3
    flaky.failures.clear()


async def test_a_server_asking_for_a_long_wait_is_not_waited_for(front):
    flaky, url = front
    flaky.failures = [(503, {"retry-after": "3600"})]
    started = time.monotonic()
    with pytest.raises(EngineError, match="asks to wait 3600 s"):
        await _engine(url).generate(REQUEST)
    assert time.monotonic() - started < 1


async def test_client_errors_are_not_retried(front):
    flaky, url = front
    flaky.arrivals.clear()
    engine = _engine(url)
    with pytest.raises(EngineError, match="400"):
        await engine.generate(EngineRequest(prompt="x", constraints=[{"name": "bad", "regex_patterns": ["(x"]}]))
    assert len(flaky.arrivals) == 1 and engine.http.retries == 0


class SlowStartEngine(EmbeddedEngine):
    """The real embedded engine, whose first load takes as long as a large model's would (a
    multi-GB model cannot be loaded here): only ``health`` — what warm-up awaits — is slowed."""

    async def health(self):
        await asyncio.sleep(1.5)
        return await super().health()


async def test_a_restarting_service_answers_503_then_serves(monkeypatch):
    app = create_app(SlowStartEngine(), ServerSettings(loading_retry_after_s=1))
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            health = await client.get("/v1/health")
            assert health.status_code == 503 and health.json()["status"] == "loading"
            assert health.headers["retry-after"] == "1"
            busy = await client.post("/v1/generate", json={"prompt": "x", "max_tokens": 2})
            assert busy.status_code == 503 and busy.json()["error"]["type"] == "loading"
        # rides out the load on Retry-After: 1 s a retry, as many as a loaded 2-core machine needs
        engine = ServiceEngine(PyModalConfig(endpoint_url=url, max_retries=60))
        result = await engine.generate(REQUEST)
        assert result.tokens_generated > 0 and engine.http.retries >= 1
        assert (await engine.health()).ok


async def test_modal_proxy_auth_headers_come_from_the_environment(front, monkeypatch):
    flaky, url = front
    monkeypatch.setenv("MODAL_PROXY_KEY", "wk-test")
    monkeypatch.setenv("MODAL_PROXY_SECRET", "ws-test")
    await ServiceEngine(PyModalConfig(endpoint_url=url, api_key="k")).generate(REQUEST)
    assert flaky.headers["modal-key"] == "wk-test" and flaky.headers["modal-secret"] == "ws-test"
    assert flaky.headers["authorization"] == "Bearer k"
    monkeypatch.delenv("MODAL_PROXY_SECRET")
    await ServiceEngine(PyModalConfig(endpoint_url=url)).generate(REQUEST)
    assert "modal-key" not in flaky.headers  # only a complete pair is sent
