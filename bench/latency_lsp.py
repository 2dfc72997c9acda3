"""An editing trace replayed into the real ``ananke-lsp`` as VS Code drives it: ``didChange`` per
key (incremental, versioned), then ``textDocument/inlineCompletion`` with triggerKind Automatic,
never waiting for an answer before the next key (the server debounces, and a newer request
supersedes the one in flight). Per request: how it ended, the time from its key to the answer,
and, for an answer, whether the suggestion cache or the engine gave it (``ananke.cacheStats``'s
``suggestion_reuses``) and the engine's provenance (``ananke.showProvenance``)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pygls.lsp.client import LanguageClient

from bench.lsp_suggestions import lsp_suggester
from bench.typing_trace import Trace


@dataclass
class Asked:
    key: int  # index of the key after which it was asked
    outcome: str = "unanswered"  # shown, empty, stale (a newer key came first), cancelled, error
    ms: float | None = None  # from the key to the answer
    text: str | None = None
    source: str | None = None  # cache or engine
    provenance: dict[str, Any] | None = None
    first_line_right: bool | None = None  # its first line is the rest of the line the user typed
    error: str | None = None


def position(text: str, offset: int) -> types.Position:
    line_start = text.rfind("\n", 0, offset) + 1
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(line=text.count("\n", 0, offset), character=column)


def first_line_right(suggestion: str, final: str, cursor: int) -> bool:
    """Whether the suggestion's first line is what the user went on to type on this line."""
    line = suggestion.split("\n", 1)[0]
    end = final.find("\n", cursor)
    return bool(line.strip()) and final[cursor : end if end >= 0 else None].startswith(line)


@contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in os.environ while the server starts (it inherits this process's environment)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Replayer:
    def __init__(self, client: LanguageClient, root: Path, answer_timeout: float) -> None:
        self.client = client
        self.root = root
        self.answer_timeout = answer_timeout
        self._lock = asyncio.Lock()  # counters are read answer by answer, in order
        self._reuses = 0
        self._latest = -1  # the key of the newest request: an answer to an older one is stale

    async def _command(self, name: str) -> Any:
        return await self.client.workspace_execute_command_async(types.ExecuteCommandParams(command=name))

    async def stats(self) -> dict[str, Any]:
        stats = await self._command("ananke.cacheStats")
        self._reuses = stats["suggestion_reuses"]
        return stats

    async def _ask(self, asked: Asked, params: types.InlineCompletionParams, at: float, trace: Trace) -> None:
        try:
            result = await self.client.text_document_inline_completion_async(params)
        except JsonRpcRequestCancelled:
            asked.outcome = "cancelled"
            return
        except Exception as exc:
            asked.outcome, asked.error = "error", f"{type(exc).__name__}: {exc}"
            return
        asked.ms = (time.perf_counter() - at) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else result or []
        text = items[0].insert_text if items else None
        asked.text = text if isinstance(text, str) or text is None else text.value
        async with self._lock:
            before = self._reuses
            await self.stats()
            asked.source = "cache" if self._reuses > before else "engine"
            if asked.source == "engine":
                asked.provenance = await self._command("ananke.showProvenance")
        if self._latest != asked.key:
            asked.outcome = "stale"
        elif asked.text:
            asked.outcome = "shown"
            asked.first_line_right = first_line_right(asked.text, trace.final, trace.keys[asked.key].cursor)
        else:
            asked.outcome = "empty"

    async def replay(self, trace: Trace) -> dict[str, Any]:
        """Type ``trace`` into a newly opened document on its schedule; then wait for the last
        request and close the document."""
        uri = (self.root / trace.file).as_uri()
        ident = types.TextDocumentIdentifier(uri=uri)
        text = trace.initial
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        before = await self.stats()
        asked: list[Asked] = []
        tasks: list[asyncio.Task[None]] = []
        began = due = time.perf_counter()
        for k, key in enumerate(trace.keys):
            due += key.delay_s
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=position(text, key.start), end=position(text, key.end)), text=key.text
            )
            text = text[: key.start] + key.text + text[key.end :]
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=k + 2),
                    content_changes=[change],
                )
            )
            params = types.InlineCompletionParams(
                text_document=ident,
                position=position(text, key.cursor),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
            self._latest = k
            asked.append(Asked(k))
            tasks.append(asyncio.create_task(self._ask(asked[-1], params, time.perf_counter(), trace)))
        typed_s = time.perf_counter() - began
        _, late = await asyncio.wait(tasks, timeout=self.answer_timeout)
        for task in late:
            task.cancel()
        after = await self.stats()
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=ident))
        return {
            "name": trace.name,
            "keys": len(trace.keys),
            "typed_seconds": round(typed_s, 2),
            "engine_requests": after["engine_requests"] - before["engine_requests"],
            "requests": [asdict(a) for a in asked],
        }


async def run(model: str, traces: list[Trace], log: Path, env: dict[str, str], answer_timeout: float) -> dict[str, Any]:
    """Every trace through one ``ananke-lsp`` (after its untimed warm-up request), the server
    started with ``env`` added to this environment; it has exited when this returns."""
    with tempfile.TemporaryDirectory(prefix="ananke-latency-project-") as root, environment(env):
        async with lsp_suggester(model, Path(root), log) as lsp:
            replayer = Replayer(lsp.client, Path(root), answer_timeout)
            files = [await replayer.replay(trace) for trace in traces]
            # ananke.showProvenance also shows the provenance as a message: one per engine answer
            others = [m for m in lsp.messages if not m.removeprefix("ananke: ").startswith("{")]
            info = {
                "env": env,
                "warm_up_seconds": lsp.warm_up_seconds,
                "server_messages": others[:50],
                "server_log": str(log),
            }
    return {"info": info, "files": files}
