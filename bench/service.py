"""Service figures: the same generation through `ananke serve` over HTTP vs in-process, the
time to the first streamed token, and how soon a client that disconnects stops the engine."""

from __future__ import annotations

import statistics
import time

import httpx

from ananke_lsp.api_types import PyConstraintIR, PyModalConfig
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.engines.service import ServiceEngine
from bench.settle import ms_until_still
from tests.servers import ENDLESS, ananke_serve

RUNS = 10
# Exactly 32 tokens' worth of letters is not guaranteed; a fixed prompt at temperature 0 gives
# both paths the same tokens, which is what the ratio needs.
REQUEST = EngineRequest(
    prompt="List lowercase words.",
    max_tokens=32,
    temperature=0.0,
    constraints=[PyConstraintIR(name="words", regex_patterns=[r"[a-z ]{200}"])],
)


async def _timed(engine: object, request: EngineRequest) -> tuple[float, float, int]:
    """(total ms, ms to the first delta, tokens) for one streamed generation."""
    started = time.perf_counter()
    first = None
    result = None
    async for item in engine.stream(request, None):  # type: ignore[attr-defined]
        if isinstance(item, EngineResult):
            result = item
        elif first is None:
            first = time.perf_counter()
    done = time.perf_counter()
    assert result is not None
    return (done - started) * 1000, ((first or done) - started) * 1000, result.tokens_generated


async def _disconnect(url: str) -> tuple[float, int]:
    """Stream, hang up after 5 deltas: (ms until the engine's last token, tokens it decoded after)."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def decoded() -> int:
            return (await http.get("/v1/stats")).json()["engine_tokens_decoded"]

        async with http.stream("POST", "/v1/generate", json={**ENDLESS, "stream": True}) as response:
            deltas = 0
            async for line in response.aiter_lines():
                deltas += line.startswith("event: delta")
                if deltas == 5:
                    at_close = await decoded()
                    break
        stopped_ms, final = await ms_until_still(decoded, time.monotonic())
    return stopped_ms, final - at_close


async def measure() -> str:
    from ananke_lsp.constraints import compile_constraints

    compiled = compile_constraints(REQUEST.constraints)
    local = EmbeddedEngine()
    with ananke_serve() as url:
        remote = ServiceEngine(PyModalConfig(endpoint_url=url))
        here, there, ttft_here, ttft_there, tokens = [], [], [], [], set()
        for _ in range(RUNS):  # alternate so drift hits both alike
            started = time.perf_counter()
            r = await local.generate(REQUEST, compiled)
            here.append((time.perf_counter() - started) * 1000)
            tokens.add(r.tokens_generated)
            started = time.perf_counter()
            r = await remote.generate(REQUEST)
            there.append((time.perf_counter() - started) * 1000)
            tokens.add(r.tokens_generated)
            ttft_here.append((await _timed(local, REQUEST.model_copy()))[1])
            ttft_there.append((await _timed(remote, REQUEST))[1])
        await remote.aclose()
        stops = [await _disconnect(url) for _ in range(5)]
    h, t = statistics.median(here), statistics.median(there)
    rows = [
        "| figure | value |",
        "|---|---|",
        f"| generate {sorted(tokens)} tokens: HTTP service vs in-process (median of {RUNS}) | "
        f"{t:.1f} ms / {h:.1f} ms = {t / h:.3f}x |",
        f"| time to first streamed token: HTTP (SSE) vs in-process | "
        f"{statistics.median(ttft_there):.1f} ms / {statistics.median(ttft_here):.1f} ms |",
        f"| a streaming client disconnects: to the engine's last token (median of {len(stops)}) | "
        f"{statistics.median(ms for ms, _ in stops):.0f} ms, {statistics.median(n for _, n in stops):.0f} tokens "
        "after the hang-up (some were decoded before it was seen) |",
    ]
    return "## Service (`ananke serve` on 127.0.0.1)\n\n" + "\n".join(rows)
