"""One pooled async HTTP client per remote engine, with bounded, jittered retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

import httpx

from ..engines.base import EngineError
from .retry import TRANSIENT_ERRORS, TRANSIENT_STATUS, RetryPolicy, retry_after_seconds

log = logging.getLogger("ananke_lsp.transport")


class HttpError(EngineError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)
        self.policy = policy
        self._rng = rng or random.Random()
        self.retries = 0  # how many retries this client made (observable in tests and logs)

    async def aclose(self) -> None:
        await self._client.aclose()

    @contextlib.asynccontextmanager
    async def send(
        self, method: str, path: str, json: object | None = None, *, retry: bool = True
    ) -> AsyncIterator[httpx.Response]:
        """The first response that is not a transient failure (its body not read yet), after at
        most ``max_retries`` retries (none with ``retry=False``: a 503 is then returned as is).
        Raises ``EngineError`` with what went wrong."""
        attempt = 0
        while True:
            request = self._client.build_request(method, path, json=json)
            status: int | None = None
            retry_after: float | None = None
            try:
                response = await self._client.send(request, stream=True)
            except TRANSIENT_ERRORS as exc:
                failure = f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            except httpx.TimeoutException:
                raise EngineError(f"{method} {path} timed out after {self._client.timeout.read} s") from None
            except httpx.HTTPError as exc:
                raise EngineError(f"{method} {self.base_url}{path} failed: {type(exc).__name__}: {exc}") from None
            else:
                if response.status_code not in TRANSIENT_STATUS or not retry:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                said = (await response.aread())[:300].decode(errors="replace")
                failure = f"{self.base_url}{path} answered {status}: {said}"
                await response.aclose()
            attempt += 1
            if attempt > (self.policy.max_retries if retry else 0):
                raise HttpError(status or 0, f"{failure} (gave up after {self.policy.max_retries} retries)")
            if retry_after is not None and retry_after > self.policy.max_retry_after_s:
                raise HttpError(status or 0, f"{failure}; the server asks to wait {retry_after:.0f} s")
            wait = self.policy.delay(attempt, status, retry_after, self._rng)
            log.info("retry %d/%d in %.2f s: %s", attempt, self.policy.max_retries, wait, failure)
            self.retries += 1
            await asyncio.sleep(wait)
