"""Language-server figures: per-request overhead over a bare pygls server (zero-latency engine),
engine requests for a burst of keystrokes, and time from `$/cancelRequest` to the engine stopping."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from bench.settle import ms_until_still

HERE = Path(__file__).resolve().parent
REQUESTS = 600
SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\nvalue = area("


async def _client(script: list[str], root: Path) -> LanguageClient:
    client = LanguageClient("bench", "0")
    await client.start_io(*script)
    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=False))
    await client.initialize_async(types.InitializeParams(capabilities=caps, root_uri=root.as_uri()))
    client.initialized(types.InitializedParams())
    return client


def _open(client: LanguageClient, path: Path, text: str) -> str:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="python", version=1, text=text)
        )
    )
    return path.as_uri()


def _params(uri: str, text: str, invoked: bool = True) -> types.InlineCompletionParams:
    lines = text.split("\n")
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=len(lines) - 1, character=len(lines[-1])),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


async def _latencies(scripts: list[list[str]], root: Path) -> list[list[float]]:
    """Round trips for each server, the servers taking turns request by request so that drift
    on this shared machine hits them alike."""
    clients = [await _client(script, root) for script in scripts]
    uri = (root / "bench.py").as_uri()
    for client in clients:
        _open(client, root / "bench.py", SOURCE)
        for _ in range(20):  # warm up
            await client.text_document_inline_completion_async(_params(uri, SOURCE))
    times: list[list[float]] = [[] for _ in clients]
    for i in range(REQUESTS):
        # a different buffer each time, so no earlier suggestion can be reused: the engine path
        text = f"# edit {i}\n{SOURCE}"
        for client, series in zip(clients, times, strict=True):
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2 + i),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
            started = time.perf_counter()
            result = await client.text_document_inline_completion_async(_params(uri, text))
            series.append((time.perf_counter() - started) * 1000)
            assert result is not None and result.items
    for client in clients:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return times


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def _stats(client: LanguageClient) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="ananke.cacheStats"))


async def _burst_and_cancel(root: Path) -> tuple[int, float]:
    client = await _client([sys.executable, "-m", "ananke_lsp.server", "--log-level", "ERROR"], root)
    base = SOURCE + "\nx = "
    uri = _open(client, root / "burst.py", base)
    await client.text_document_inline_completion_async(_params(uri, base))  # model loaded, caches warm
    before = (await _stats(client))["engine_requests"]
    typed = "area(2.0) + area(3.0)"
    pending = []
    for i in range(1, 21):
        text = base + typed[:i]
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=1 + i),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        pending.append(asyncio.ensure_future(client.text_document_inline_completion_async(_params(uri, text, False))))
        await asyncio.sleep(0.05)
    await asyncio.gather(*pending, return_exceptions=True)
    burst = (await _stats(client))["engine_requests"] - before

    (root / "slow").mkdir(exist_ok=True)
    (root / "slow" / ".ananke.toml").write_text(
        "[completion]\nmax_tokens = 1000\n\n[[constraints]]\nname = \"long\"\nregex = '[a-z ]{4000}'\n"
    )
    uri = _open(client, root / "slow" / "long.py", "s = ")
    future = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, _params(uri, "s = "))
    [msg_id] = [i for i, f in client.protocol._request_futures.items() if f is future]
    await asyncio.sleep(1.0)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))

    async def decoded() -> int:
        return (await _stats(client))["engine_tokens_decoded"]

    cancel_ms, _ = await ms_until_still(decoded, time.monotonic())
    client.protocol._request_futures.pop(msg_id, None)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return burst, cancel_ms


async def measure() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare, bare_async, ours = await _latencies(
            [
                [sys.executable, str(HERE / "bare_pygls_server.py")],
                [sys.executable, str(HERE / "bare_pygls_server.py"), "async"],
                [sys.executable, str(HERE / "zero_engine_server.py")],
            ],
            root,
        )
        burst, cancel_ms = await _burst_and_cancel(root)
    rows = ["| figure | value |", "|---|---|"]
    for q in (50, 99):
        a, b, c = _pct(ours, q), _pct(bare, q), _pct(bare_async, q)
        rows.append(
            f"| inline completion round trip p{q}: ananke-lsp (zero-latency engine) vs bare pygls, "
            f"{REQUESTS} requests | {a:.2f} ms / {b:.2f} ms = {a / b:.2f}x |"
        )
        rows.append(
            f"| ... p{q} vs a bare pygls server whose handler is a coroutine | {a:.2f} ms / {c:.2f} ms = {a / c:.2f}x |"
        )
    rows.append(f"| engine requests started by a burst of 20 keystrokes 50 ms apart | {burst} |")
    rows.append(f"| `$/cancelRequest` to the engine's last token (real model) | {cancel_ms:.0f} ms |")
    return "## Language server\n\n" + "\n".join(rows)


if __name__ == "__main__":
    print(asyncio.run(measure()))
