"""One pooled async HTTP client per remote engine, with bounded, jittered retries. Every failure is
an ``EngineError`` that says what failed and what to do, and no wait outlasts the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import cast

import httpx

from ..errors import EngineError, HttpError
from .retry import TRANSIENT_ERRORS, TRANSIENT_STATUS, RetryPolicy, retry_after_seconds

log = logging.getLogger("ananke_lsp.transport")

REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Modal answers a web request still running after 150 s with a 303 to a result URL, which again
# waits up to 150 s; its docs count on the 20 redirects browsers follow. The timeout bounds the
# chain as a whole; this bounds a server that redirects at once, in a loop.
MAX_REDIRECTS = 20


def error_text(raw: bytes) -> str:
    """What an error body says: its ``error.message`` (this service's and OpenAI's shape), else its start."""
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    return message if isinstance(message, str) else raw[:300].decode(errors="replace")


def advice(status: int) -> str:
    """What a user can do about a failed status."""
    if status == 429:
        return "the service is rate limiting; wait a little, then try again"
    if status == 503:
        return "the service is unavailable (starting up or overloaded); try again shortly"
    if status in (502, 504):
        return "the proxy in front of the service got no answer from it; try again shortly"
    if status >= 500 or status == 408:
        return "the service failed; try again, or see its logs"
    return "check the request and the service's settings"


@dataclass
class _Target:
    """Where a request goes next: the first URL, then wherever same-origin redirects send it."""

    method: str
    url: httpx.URL
    json: object | None

    def follow(self, response: httpx.Response) -> None:
        location = response.headers.get("location")
        if not location:
            raise EngineError(f"{self.url} answered {response.status_code} without saying where to (no Location)")
        target = self.url.join(location)
        if (target.scheme, target.host, target.port) != (self.url.scheme, self.url.host, self.url.port):
            # the bearer token and Modal's proxy-auth headers go to the configured endpoint only
            where = f"{target.scheme}://{target.netloc.decode()}"
            raise EngineError(
                f"{self.url} redirected to another server ({where}); not followed: set the endpoint to "
                "the service's own address"
            )
        if response.status_code == 303 or (response.status_code in (301, 302) and self.method == "POST"):
            # 303 (Modal's long-request answer) means: GET the result there, without resending the
            # request; 301/302 after a POST are followed the same way, as browsers do
            self.method, self.json = "GET", None
        self.url = target


def _cause(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__  # a reset's message is often empty


class RetryingClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_secs: float,
        policy: RetryPolicy,
        rng: random.Random | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = {**(headers or {}), **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
        timeout = httpx.Timeout(timeout_secs, connect=min(10.0, timeout_secs))
        self.base_url = base_url.rstrip("/")
        self.timeout_secs = timeout_secs
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)
        self.policy = policy
        self._rng = rng or random.Random()
        self.retries = 0  # how many retries this client made (observable in tests and logs)
        self.redirects = 0  # how many redirects it followed

    async def aclose(self) -> None:
        await self._client.aclose()

    def _timed_out(self, url: object) -> str:
        return f"no answer from {url} within {self.timeout_secs:g} s; try again, or raise timeout_secs"

    @contextlib.asynccontextmanager
    async def _bounded(self, url: object) -> AsyncIterator[None]:
        """Reading an answer: within the timeout as a whole (httpx's is per read, so a server that
        trickles bytes would never trip it), and a connection lost half-way is said as such."""
        try:
            async with asyncio.timeout(self.timeout_secs):
                yield
        except (TimeoutError, httpx.TimeoutException):
            raise EngineError(self._timed_out(url)) from None
        except httpx.HTTPError as exc:
            raise EngineError(f"the answer from {url} broke off ({_cause(exc)}); try again") from None

    async def read(self, response: httpx.Response) -> bytes:
        """The whole body, within the timeout."""
        async with self._bounded(response.request.url):
            return await response.aread()

    async def lines(self, response: httpx.Response) -> AsyncGenerator[str, None]:
        """The body's lines, each within the timeout: a stream may run long while text keeps coming."""
        # httpx declares an AsyncIterator; it is an async generator, closed here when the caller stops
        lines = cast(AsyncGenerator[str, None], response.aiter_lines())
        try:
            while True:
                async with self._bounded(response.request.url):
                    line = await anext(lines, None)
                if line is None:
                    return
                yield line
        finally:
            await lines.aclose()

    @contextlib.asynccontextmanager
    async def send(
        self, method: str, path: str, json: object | None = None, *, retry: bool = True
    ) -> AsyncIterator[httpx.Response]:
        """The first response that is not a transient failure (its body not read yet: use ``read``
        or ``lines``), after at most ``max_retries`` retries (none with ``retry=False``: a 503 is
        then returned as is). Redirects within the endpoint's origin are followed (Modal redirects
        requests that run past 150 s); a retry after one asks the URL it led to, so a generation is
        never started twice. Raises ``EngineError`` with what went wrong and what to do."""
        url = f"{self.base_url}{path}"
        target = _Target(method, httpx.URL(url), json)
        limit = self.policy.max_retries if retry else 0
        attempt = 0
        while True:
            status: int | None = None
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout_secs):  # the whole chain; also headers that trickle in
                    response = await self._follow(target)
            except TRANSIENT_ERRORS as exc:
                if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    failure = f"cannot reach {url} ({_cause(exc)})"
                    todo = "check that the service is running there and that the endpoint setting is right"
                else:
                    failure = f"lost the connection to {url} before an answer ({_cause(exc)})"
                    todo = "the service or a proxy in front of it dropped it (restarting?); try again shortly"
            except (TimeoutError, httpx.TimeoutException):
                raise EngineError(self._timed_out(url)) from None
            except httpx.HTTPError as exc:
                raise EngineError(f"{method} {url} failed ({_cause(exc)})") from None
            else:
                if response.status_code not in TRANSIENT_STATUS or not retry:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                try:
                    said = error_text(await self.read(response))
                finally:
                    await response.aclose()
                failure, todo = f"{url} answered {status} ({said})", advice(status)
            attempt += 1
            gave_up = f" (gave up after {limit} retries)" if limit else ""
            if attempt > limit:
                raise HttpError(status or 0, f"{failure}{gave_up}: {todo}")
            if retry_after is not None and retry_after > self.policy.max_retry_after_s:
                raise HttpError(status or 0, f"{failure}; the server asks to wait {retry_after:.0f} s: try again later")
            wait = self.policy.delay(attempt, status, retry_after, self._rng)
            log.info("retry %d/%d in %.2f s: %s", attempt, limit, wait, failure)
            self.retries += 1
            await asyncio.sleep(wait)

    async def _follow(self, target: _Target) -> httpx.Response:
        """The response at the end of ``target``'s redirects, which update ``target``."""
        redirects = 0
        while True:
            request = self._client.build_request(target.method, target.url, json=target.json)
            response = await self._client.send(request, stream=True)
            if response.status_code not in REDIRECT_STATUS:
                return response
            await response.aclose()
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise EngineError(f"{target.url} redirected more than {MAX_REDIRECTS} times; check the endpoint")
            target.follow(response)
            self.redirects += 1
            log.info("%s: %d, following it to %s", request.url, response.status_code, target.url)
