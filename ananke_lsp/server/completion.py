"""Inline completions (LSP 3.18) and completion items (for clients without inline completion)."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..context.cursor import cursor_context
from ..engines.base import EngineRequest
from .app import AnankeServer, buffer_context

log = logging.getLogger("ananke_lsp.server")


async def suggest(ls: AnankeServer, uri: str, position: types.Position, action: str) -> str | None:
    """Constrained text to insert at ``position``, or None (excluded file, disabled, nothing valid)."""
    ls.supersede(uri)
    doc = ls.workspace.get_text_document(uri)
    path = ls.path_of(uri)
    root = ls.workspace_root_of(path)
    project = ls.configs.for_file(path, root)
    if path is not None and project.is_excluded(path):
        log.info("%s is excluded by privacy rules: no request sent", path.name)
        return None
    settings = project.settings
    if not settings.completion.enabled:
        return None
    lines = doc.lines
    if position.line > len(lines):
        raise ValueError(f"position {position.line}:{position.character} is outside the document ({len(lines)} lines)")
    cursor = cursor_context(
        doc.source, doc.offset_at_position(position), settings.completion.prefix_lines, settings.completion.suffix_lines
    )
    request = EngineRequest(
        prompt=cursor.prefix,
        chat=False,
        constraints=[cursor.shape(), *project.constraints_for(path, doc.language_id, action)],
        max_tokens=settings.completion.max_tokens,
        temperature=settings.generation.temperature,
        context=buffer_context(uri, path, doc.language_id, project.root),
    )
    outcome = await ls.generate(request)
    if not outcome.validation.all_satisfied:
        log.info("suggestion withheld, constraints not met: %s", outcome.validation.errors)
        return None
    return outcome.result.text or None


def register(ls: AnankeServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    async def inline_completion(
        server: AnankeServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        text = await suggest(server, params.text_document.uri, params.position, "inline_completion")
        if text is None:
            return None
        here = types.Range(start=params.position, end=params.position)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text, range=here)])

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))
    async def completion(server: AnankeServer, params: types.CompletionParams) -> types.CompletionList:
        text = await suggest(server, params.text_document.uri, params.position, "completion")
        items = []
        if text is not None:
            here = types.Range(start=params.position, end=params.position)
            first_line = text.strip().splitlines()[0] if text.strip() else text
            items.append(
                types.CompletionItem(
                    label=first_line[:60] or "(whitespace)",
                    kind=types.CompletionItemKind.Snippet,
                    detail="ananke: constrained generation",
                    filter_text="",
                    text_edit=types.TextEdit(range=here, new_text=text),
                    insert_text_format=types.InsertTextFormat.PlainText,
                )
            )
        return types.CompletionList(is_incomplete=True, items=items)
