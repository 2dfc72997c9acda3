"""When to retry an HTTP call and how long to wait: the server's ``Retry-After`` first, else
exponential backoff for 429 (capped at 60 s), else linear 100 ms times the attempt; full jitter on the
computed delays, so many clients do not retry in lockstep. Only transient failures retry."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

TRANSIENT_STATUS = frozenset({408, 429, 502, 503, 504})
# Failures before any byte of an answer: not connecting, or a connection reset or closed while
# waiting (what a service restarting after a crash looks like). Generating has no side effects,
# so sending the request again is safe.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After``: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_429_s: float = 1.0
    cap_429_s: float = 60.0
    linear_step_s: float = 0.1
    max_retry_after_s: float = 300.0  # a server asking for longer than this is an outage, not a blip

    def delay(self, attempt: int, status: int | None, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        linear = self.linear_step_s * attempt
        if retry_after is not None:
            # never earlier than the server asked; the jitter only spreads clients after it
            return retry_after + rng.uniform(0, linear)
        if status == 429:
            return rng.uniform(0, min(self.cap_429_s, self.backoff_429_s * 2 ** (attempt - 1)))
        return rng.uniform(0, linear)
