"""Concurrency figures: throughput and p99 latency with 1, 8 and 64 concurrent clients against
`ananke serve`, and how long a cheap request (`/v1/stats`) waits meanwhile — the event loop's lag."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from tests.servers import ananke_serve

REQUESTS = 48
BODY = {
    "prompt": "List lowercase words.",
    "max_tokens": 16,
    "temperature": 0.0,
    "constraints": [{"name": "words", "regex_patterns": ["[a-z ]{1,200}"]}],
}


async def _level(url: str, clients: int) -> tuple[float, float, float, int]:
    """(requests/s, p99 latency ms, p99 /v1/stats latency ms, tokens/s) at ``clients`` in flight."""
    latencies: list[float] = []
    lags: list[float] = []
    tokens = 0
    queue = list(range(REQUESTS))
    done = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=clients + 2)) as http:

        async def worker() -> None:
            nonlocal tokens
            while queue:
                queue.pop()
                started = time.perf_counter()
                reply = await http.post("/v1/generate", json=BODY)
                reply.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                tokens += reply.json()["tokens_generated"]

        async def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                (await http.get("/v1/stats")).raise_for_status()
                lags.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)

        prober = asyncio.create_task(probe())
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        done.set()
        await prober
    p99 = statistics.quantiles(latencies, n=100)[98]
    lag = statistics.quantiles(lags, n=100)[98] if len(lags) > 2 else max(lags)
    return REQUESTS / elapsed, p99, lag, round(tokens / elapsed)


async def measure() -> str:
    rows = ["| clients | requests/s | tokens/s | p99 latency | p99 `/v1/stats` while loaded |", "|---|---|---|---|---|"]
    with ananke_serve() as url:
        await _level(url, 1)  # warm
        for clients in (1, 8, 64):
            rate, p99, lag, tps = await _level(url, clients)
            rows.append(f"| {clients} | {rate:.1f} | {tps} | {p99:.0f} ms | {lag:.1f} ms |")
    return (
        f"## Concurrency (`ananke serve`, embedded engine, {REQUESTS} constrained 16-token requests per level)\n\n"
        + "\n".join(rows)
    )
