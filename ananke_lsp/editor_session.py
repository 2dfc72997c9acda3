"""A minimal editor for the command line: drives ``ananke-lsp`` over stdio exactly as an editor
does (initialize, open the file, ask for an inline completion or a code action, apply the edit),
so ``ananke complete`` and ``ananke implement`` show what an editor would show."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from .config.discovery import CONFIG_NAME

SHUTDOWN_S = 5.0


@dataclass(frozen=True)
class Shown:
    text: str  # the suggestion, or the document after the code action's edit
    seconds: float


def project_root(path: Path) -> Path:
    """The folder an editor would open: the nearest one holding a .ananke.toml, else the file's."""
    for folder in path.parents:
        if (folder / CONFIG_NAME).is_file():
            return folder
    return path.parent


def _language(path: Path) -> str:
    return {".py": "python", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix, "plaintext")


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        return sum(len(line) + 1 for line in lines[: p.line]) + p.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


class EditorSession:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.messages: list[str] = []
        client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: self.messages.append(params.message))
        client.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)
        client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda params: None)  # config problems: in the log

    def open(self, path: Path, text: str | None = None) -> str:
        """Open ``path`` with ``text`` in the buffer (its contents on disk by default)."""
        uri = path.resolve().as_uri()
        text = path.read_text() if text is None else text
        item = types.TextDocumentItem(uri=uri, language_id=_language(path), version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return uri

    async def complete(self, path: Path, line: int, column: int, text: str | None = None) -> Shown:
        """The inline completion at 0-based ``line``/``column`` of the buffer ``text``."""
        uri = self.open(path, text)
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=column),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(params)
        items = result.items if isinstance(result, types.InlineCompletionList) else result or []
        shown = items[0].insert_text if items else ""
        return Shown(shown if isinstance(shown, str) else shown.value, time.perf_counter() - started)

    async def code_action(self, path: Path, line: int, title: str) -> Shown:
        """The document after the code action whose title starts with ``title``, offered at ``line``."""
        uri = self.open(path)
        here = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0))
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=here, context=types.CodeActionContext([])
        )
        offered = await self.client.text_document_code_action_async(params) or []
        actions = [a for a in offered if isinstance(a, types.CodeAction) and a.title.startswith(title)]
        if not actions:
            titles = ", ".join(repr(a.title) for a in offered) or "none"
            raise ValueError(f"no code action {title!r} at line {line + 1} of {path} (offered: {titles})")
        started = time.perf_counter()
        action = await self.client.code_action_resolve_async(actions[0])
        changes = (action.edit.document_changes or []) if action.edit else []
        documents = [c for c in changes if isinstance(c, types.TextDocumentEdit)]
        edits = [e for document in documents for e in document.edits if isinstance(e, types.TextEdit)]
        return Shown(_apply(path.read_text(), edits), time.perf_counter() - started)


# What the server needs to know: code actions are resolved lazily, inline completions are shown.
_CAPABILITIES = types.ClientCapabilities(
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            data_support=True, resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
        ),
        inline_completion=types.InlineCompletionClientCapabilities(),
    )
)


@asynccontextmanager
async def editor_session(root: Path, options: dict[str, object] | None = None) -> AsyncIterator[EditorSession]:
    """``ananke-lsp`` started for the workspace folder ``root``, shut down on exit."""
    client = LanguageClient("ananke-cli", "1")
    await client.start_io(sys.executable, "-m", "ananke_lsp.server", "--log-level", "WARNING")
    session = EditorSession(client)
    try:
        folder = types.WorkspaceFolder(uri=root.resolve().as_uri(), name=root.name)
        await client.initialize_async(
            types.InitializeParams(
                capabilities=_CAPABILITIES,
                root_uri=folder.uri,
                workspace_folders=[folder],
                initialization_options=options,
            )
        )
        client.initialized(types.InitializedParams())
        yield session
    finally:
        await _close(client)


async def _close(client: LanguageClient) -> None:
    """Shut the server down politely; one that does not exit in time is killed (pygls's stop
    waits for the process forever)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.shutdown_async(None), SHUTDOWN_S)
        client.exit(None)
    server = client._server  # the process pygls started
    if server is not None:
        try:
            await asyncio.wait_for(server.wait(), SHUTDOWN_S)
        except TimeoutError:
            server.kill()
    await client.stop()
