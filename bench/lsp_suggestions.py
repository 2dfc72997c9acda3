"""Suggestions from the real ``ananke-lsp`` process, asked for as an editor asks: the document
opened with the span emptied to its auto-indent, the cursor after that indent, an invoked
``textDocument/inlineCompletion``, the first item's text taken as shown, the document closed."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from ananke_lsp.server.commands import PROVENANCE
from bench.humaneval_infill import InfillTask
from bench.infill_scoring import Suggestion

WARM_UP = "def add(a, b):\n    "


def _server_command() -> list[str]:
    installed = Path(sys.executable).with_name("ananke-lsp")
    command = [str(installed)] if installed.exists() else [shutil.which("ananke-lsp") or "ananke-lsp"]
    return [*command, "--log-level", os.environ.get("BENCH_LOG_LEVEL", "WARNING")]


def _insert_text(item: types.InlineCompletionItem) -> str:
    text = item.insert_text
    return text if isinstance(text, str) else text.value


class LspSuggester:
    """One long-lived server; each task gets a file of its own in ``root`` (no .ananke.toml)."""

    def __init__(self, client: LanguageClient, root: Path, timeout: float) -> None:
        self.client = client
        self.root = root
        self.timeout = timeout
        self.messages: list[str] = []  # window/showMessage from the server: errors, model choice
        self.warm_up_seconds = 0.0  # the first, untimed suggestion: the model's load included
        self._count = 0
        client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: self.messages.append(params.message))
        client.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)  # the same lines are in the server's log

    async def suggest_at(self, text: str, position: types.Position) -> Suggestion:
        self._count += 1
        uri = (self.root / f"task_{self._count:05d}.py").as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(self.client.text_document_inline_completion_async(params), self.timeout)
            seconds = time.perf_counter() - started
        except Exception as exc:  # a timeout or an error answer: scored as no suggestion
            return Suggestion(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
        finally:
            self.client.text_document_did_close(
                types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
            )
        items = result.items if isinstance(result, types.InlineCompletionList) else result or []
        stats = await self._provenance() if items else None
        if not items:
            return Suggestion(None, seconds)
        first = items[0]
        here = types.Range(start=position, end=position)
        error = None if first.range in (None, here) else f"item range {first.range} is not the cursor"
        return Suggestion(_insert_text(first), seconds, error, stats=stats)

    async def _provenance(self) -> dict[str, Any] | None:
        """The last suggestion's figures from the server (tokens, decode time, masking, syntax)."""
        shown = len(self.messages)
        found = await self.client.workspace_execute_command_async(types.ExecuteCommandParams(command=PROVENANCE))
        del self.messages[shown:]  # the command also shows the provenance as a message
        if not isinstance(found, dict):
            return None
        keys = ("tokens", "decode_ms", "mask_us", "python_syntax", "finish_reason")
        return {k: found.get(k) for k in keys}

    async def suggest(self, task: InfillTask) -> Suggestion:
        position = types.Position(line=task.prefix.count("\n"), character=len(task.indent))
        return await self.suggest_at(task.program(""), position)


@asynccontextmanager
async def lsp_suggester(model: str, root: Path, log: Path, timeout: float = 300) -> AsyncIterator[LspSuggester]:
    """``ananke-lsp`` on ``model`` (initializationOptions and ``ANANKE_MODEL``), warmed up with one
    untimed suggestion; shut down and waited for on exit, so no other llama.cpp runs after it."""
    client = LanguageClient("ananke-quality-bench", "0")
    env = {**os.environ, "ANANKE_MODEL": model}
    await client.start_io(*_server_command(), env=env, cwd=str(root))
    process = client._server
    assert process is not None and process.stderr is not None
    drain = asyncio.create_task(_copy(process.stderr, log))  # an unread stderr pipe would block the server
    try:
        caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=False))
        await client.initialize_async(
            types.InitializeParams(
                capabilities=caps,
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options={"engine": "embedded", "model": model},
            )
        )
        client.initialized(types.InitializedParams())
        suggester = LspSuggester(client, root, timeout)
        warm = await suggester.suggest_at(WARM_UP, types.Position(line=1, character=4))
        if warm.error:
            raise RuntimeError(f"ananke-lsp did not answer its first request: {warm.error} (log: {log})")
        suggester.warm_up_seconds = warm.seconds
        yield suggester
    finally:
        if process.returncode is None:
            try:
                await asyncio.wait_for(client.shutdown_async(None), 30)
                client.exit(None)
                await asyncio.wait_for(process.wait(), 30)
            except Exception:
                process.kill()
                await process.wait()
        await client.stop()
        await drain


async def _copy(stream: asyncio.StreamReader, path: Path) -> None:
    with path.open("ab") as out:
        while chunk := await stream.read(65536):
            out.write(chunk)
            out.flush()
