"""When did the engine stop? Poll its decoded-token counter until it stays put."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

QUIET_S = 0.5  # the counter is taken as stopped once it has not moved for this long


async def ms_until_still(tokens_decoded: Callable[[], Awaitable[int]], since: float) -> tuple[float, int]:
    """(ms from ``since`` (time.monotonic) to the counter's last change, the final count)."""
    last, changed = await tokens_decoded(), time.monotonic()
    while time.monotonic() - changed < QUIET_S:
        await asyncio.sleep(0.01)
        now = await tokens_decoded()
        if now != last:
            last, changed = now, time.monotonic()
    return max(0.0, changed - since) * 1000, last
