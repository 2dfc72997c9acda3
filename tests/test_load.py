"""Load: 200 concurrent inline completions from four editors, each with its own ananke-lsp (LSP
is one client per server process), all generating on one `ananke serve` with the real model.
Nothing is lost or answered twice, the event loop keeps answering, cancelled requests free
their engine slot, and memory does not grow from one round to the next."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx
import pytest

from .lsp_client import RawLspClient
from .servers import ananke_serve

CLIENTS = 4
PER_CLIENT = 50  # 200 in flight at once
DOCUMENTS = 25  # per client: two requests per document, the first superseded by the second
CANCEL_EVERY = 5  # and every fifth request is also cancelled by the editor


@pytest.fixture(scope="module")
def service() -> str:
    with ananke_serve() as url:
        yield url


def _project(root: Path, url: str) -> Path:
    root.mkdir()
    (root / ".ananke.toml").write_text(f'[service]\nendpoint = "{url}"\n\n[completion]\nmax_tokens = 4\n')
    return root


def _inline(uri: str, line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},  # invoked: no debounce, straight to the engine
    }


async def _round(clients: list[RawLspClient], uris: list[list[str]], texts: list[str], probe: RawLspClient):
    """Fire every request at once, cancel some, probe the event loop until all have answered."""
    sent: list[tuple[RawLspClient, int]] = []
    for client, documents in zip(clients, uris, strict=True):
        for i in range(PER_CLIENT):
            text = texts[i % DOCUMENTS]
            lines = text.split("\n")
            request_id = client.send(
                "textDocument/inlineCompletion", _inline(documents[i % DOCUMENTS], len(lines) - 1, len(lines[-1]))
            )
            sent.append((client, request_id))
            if i % CANCEL_EVERY == CANCEL_EVERY - 1:
                client.notify("$/cancelRequest", {"id": request_id})
    pending = asyncio.gather(*(client.answer(request_id, timeout=240) for client, request_id in sent))
    lags = []
    while not pending.done():
        started = time.perf_counter()
        await probe.request("workspace/executeCommand", {"command": "ananke.cacheStats", "arguments": []}, timeout=30)
        lags.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)
    answers = await pending
    return sent, answers, lags


async def test_two_hundred_concurrent_completions_all_answered_once(service: str, tmp_path: Path):
    roots = [_project(tmp_path / f"editor{n}", service) for n in range(CLIENTS)]
    clients = [await RawLspClient.start(root, {"trustedEndpoints": [service]}) for root in roots]
    texts = [f"def f{d}(x):\n    return x * {d} + " for d in range(DOCUMENTS)]
    uris = [
        [c.open(root / f"m{d}.py", texts[d]) for d in range(DOCUMENTS)] for c, root in zip(clients, roots, strict=True)
    ]
    try:
        sent, answers, lags = await _round(clients, uris, texts, clients[0])
        rss_after_first = [c.rss_mb() for c in clients]
        sent2, answers2, lags2 = await _round(clients, uris, texts, clients[0])
        rss_after_second = [c.rss_mb() for c in clients]

        everything = list(zip(sent + sent2, answers + answers2, strict=True))
        for (client, request_id), answer in everything:
            count = len(client.answers[request_id])
            assert count == 1, f"request {request_id} answered {count} times"
            assert "result" in answer or answer["error"]["code"] == -32800, answer  # served, or cancelled
        # the latest request for each document, unless the editor cancelled it, is served
        for index, ((_, _), answer) in enumerate(everything):
            i = index % PER_CLIENT
            if i >= DOCUMENTS and i % CANCEL_EVERY != CANCEL_EVERY - 1:
                assert "result" in answer, answer
        served = [a for _, a in everything if a.get("result")]
        cancelled = [a for _, a in everything if "error" in a]
        assert cancelled  # the editor's cancellations were honoured
        assert all(c.process.returncode is None for c in clients)

        # cancelled and superseded requests gave their engine slot back: nothing left running
        stats = httpx.get(f"{service}/v1/stats", timeout=10).json()
        assert stats["in_flight"] == 0
        decoded = stats["engine_tokens_decoded"]
        await asyncio.sleep(0.3)
        assert httpx.get(f"{service}/v1/stats", timeout=10).json()["engine_tokens_decoded"] == decoded

        # memory: a second identical round adds next to nothing
        for first, second in zip(rss_after_first, rss_after_second, strict=True):
            assert second - first < 15, (rss_after_first, rss_after_second)
        # the event loop kept answering a command while 200 completions were in flight
        lag = sorted(lags + lags2)
        assert lag[-1] < 2000, lag
        print(
            f"\nload: {len(sent) + len(sent2)} requests, {len(served)} served, {len(cancelled)} cancelled, "
            f"0 lost, 0 twice; command round trip under load p50 {statistics.median(lag):.1f} ms, "
            f"max {lag[-1]:.1f} ms; RSS {rss_after_first} -> {rss_after_second} MB"
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
