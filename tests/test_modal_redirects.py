"""Long generations on the Modal path: Modal answers a web request still running after 150 s with a
303 to a result URL (tests/modal_like.py answers the same way, with a shorter limit). The client
follows it to the result of the same call, never starting the generation again; streams are not
redirected; the timeout bounds the whole chain; a redirect away from the endpoint is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from ananke_lsp.api_types import PyModalConfig
from ananke_lsp.constraints import CompiledConstraints
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.engines.service import ServiceEngine
from ananke_lsp.errors import EngineError
from ananke_lsp.transport.http import MAX_REDIRECTS
from modal_service.server import create_app

from .modal_like import CALL_ID, ModalLikeFront
from .servers import serve_in_thread, wait_healthy

LIMIT_S = 1.0  # Modal's is 150 s; 20 redirects of this leave a loaded machine 20 s to generate
SLOW_S = 2.5  # a generation that outlasts the limit twice


class SlowEngine(EmbeddedEngine):
    """The real embedded engine; a prompt "slow <seconds> ..." waits that long before its first
    token, as a long generation on a large model would."""

    async def stream(
        self, request: EngineRequest, compiled: CompiledConstraints | None = None
    ) -> AsyncIterator[str | EngineResult]:
        words = request.prompt.split()
        if words[0] == "slow":
            await asyncio.sleep(float(words[1]))
        async for item in super().stream(request, compiled):
            yield item


@pytest.fixture(scope="module")
def modal_like() -> Iterator[tuple[ModalLikeFront, str]]:
    front = ModalLikeFront(create_app(SlowEngine()), limit_s=LIMIT_S)
    with serve_in_thread(front) as url:
        wait_healthy(url)
        yield front, url


SLOW = EngineRequest(prompt=f"slow {SLOW_S} say hi.", max_tokens=4, temperature=0.0)


def _engine(url: str, timeout_secs: int = 30) -> ServiceEngine:
    return ServiceEngine(PyModalConfig(endpoint_url=url, api_key="k", timeout_secs=timeout_secs, max_retries=1))


def test_the_front_answers_a_long_request_as_modal_does(modal_like: tuple[ModalLikeFront, str]) -> None:
    _, url = modal_like
    answer = httpx.post(f"{url}/v1/generate", json=SLOW.model_dump(), timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{url}/v1/generate?{CALL_ID}=fc-")


async def test_a_long_generation_follows_the_result_url_to_the_same_call(
    modal_like: tuple[ModalLikeFront, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    front, url = modal_like
    monkeypatch.setenv("MODAL_PROXY_KEY", "wk-test")
    monkeypatch.setenv("MODAL_PROXY_SECRET", "ws-test")
    front.seen.clear()
    started, redirects = front.started, front.redirects
    engine = _engine(url)
    result = await engine.generate(SLOW)
    assert result.tokens_generated > 0
    assert front.started == started + 1  # one generation: the result URL never starts another
    assert front.redirects - redirects >= 2 and engine.http.redirects == front.redirects - redirects
    first, *follow_ups = front.seen
    assert first[0] == "POST" and CALL_ID not in first[1]
    for method, path, headers in follow_ups:  # GET, no body, same credentials
        assert method == "GET" and f"{CALL_ID}=fc-" in path
        assert headers["authorization"] == "Bearer k" and headers["modal-key"] == "wk-test"
        assert "content-length" not in headers
    await engine.aclose()


async def test_a_stream_starts_at_once_and_is_not_redirected(modal_like: tuple[ModalLikeFront, str]) -> None:
    front, url = modal_like
    redirects = front.redirects
    engine = _engine(url)
    items = [item async for item in engine.stream(SLOW)]
    assert isinstance(items[-1], EngineResult) and items[-1].tokens_generated > 0
    assert front.redirects == redirects and engine.http.redirects == 0
    await engine.aclose()


async def test_the_timeout_bounds_the_whole_redirect_chain(modal_like: tuple[ModalLikeFront, str]) -> None:
    _, url = modal_like
    engine = _engine(url, timeout_secs=1)
    start = time.monotonic()
    with pytest.raises(EngineError, match="within 1 s"):
        await engine.generate(SLOW.model_copy(update={"prompt": "slow 5 say hi."}))
    assert time.monotonic() - start < 1 + LIMIT_S  # not one limit per redirect
    await engine.aclose()


def _redirecting(location: str) -> object:
    async def app(scope, receive, send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
            await send({"type": "http.response.body", "body": b""})

    return app


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http://127.0.0.2:9/v1/generate", "redirected to another server"),  # the token stays home
        ("/v1/generate?again=1", f"redirected more than {MAX_REDIRECTS} times"),
    ],
)
async def test_redirects_away_or_in_a_loop_are_refused(location: str, error: str) -> None:
    with serve_in_thread(_redirecting(location)) as url:
        engine = _engine(url)
        with pytest.raises(EngineError, match=error):
            await engine.generate(SLOW)
        await engine.aclose()
