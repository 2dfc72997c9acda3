"""Inline completions (LSP 3.18) and completion items (for clients without inline completion)."""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..constraints import validate_text
from ..context.cursor import CursorContext, cursor_context
from ..context.python_parse import parsing_part
from ..context.python_syntax import python_syntax
from ..engines.base import MAX_CONTEXT_FILES, EngineRequest
from ..engines.fim import ContextFile
from ..errors import Excluded, RequestRefused
from ..indentation import indentation
from .app import AnankeServer
from .prompts import render
from .targets import Target

log = logging.getLogger("ananke_lsp.server")


# Characters per token assumed when fitting other files into [completion] context_tokens: a
# little under what code averages, so the budget is not exceeded.
_CONTEXT_CHARS_PER_TOKEN = 3


def context_files(ls: AnankeServer, target: Target, budget_tokens: int) -> list[ContextFile]:
    """Other open documents of the same project and language, head first, in a stable order (by
    path, so the prompt's start stays the same from one keystroke to the next); never a private
    one. Each gets an equal share of the budget."""
    others = []
    for uri in sorted(ls.workspace.text_documents):
        if uri == target.uri:
            continue
        try:
            other = ls.target(uri)
        except (Excluded, JsonRpcInvalidParams):
            continue
        same = other.project.root == target.project.root and other.doc.language_id == target.doc.language_id
        if same and other.path is not None and (relative := other.project.relative(other.path)) is not None:
            others.append((relative.as_posix(), other.doc.source))
    others = others[:MAX_CONTEXT_FILES]
    if not others or budget_tokens <= 0:
        return []
    share = budget_tokens * _CONTEXT_CHARS_PER_TOKEN // len(others)
    return [ContextFile(path=path, text=_head(text, share)) for path, text in others if text.strip()]


def _head(text: str, chars: int) -> str:
    """The start of ``text`` within ``chars``, in whole lines where there is more than one."""
    if len(text) <= chars:
        return text
    cut = text.rfind("\n", 0, chars)
    return text[: cut + 1] if cut > 0 else text[:chars]


def inline_prompt(target: Target, cursor: CursorContext) -> str:
    """The text before the cursor as the engine gets it: the project's ``inline_completion``
    template, by default the text itself (raw fill-in-the-middle, no framing for a code model)."""
    line = cursor.line_before
    indent = indentation(line)
    return render(target, "inline_completion", code_before=cursor.prefix, code_after=cursor.suffix, indent=indent)


def _still_valid(ls: AnankeServer, constraints: list, text: str) -> bool:
    compiled, _ = ls.cache.get(constraints)
    return validate_text(text, compiled).all_satisfied


async def suggest(ls: AnankeServer, uri: str, position: types.Position, action: str, *, invoked: bool) -> str | None:
    """Constrained text to insert at ``position``, or None (excluded, disabled, nothing valid)."""
    ls.in_flight.supersede(uri)
    try:
        target = ls.target(uri)
    except Excluded as exc:
        log.info("%s", exc)
        return None
    settings = target.project.settings.completion
    if not settings.enabled or (action == "inline_completion" and not ls.editor.inline_completion):
        return None
    doc = target.doc
    version = doc.version
    if position.line > len(doc.lines):
        raise RequestRefused(
            f"position {position.line}:{position.character} is outside the document ({len(doc.lines)} lines)"
        )
    offset = doc.offset_at_position(position)
    source = doc.source  # pygls edits the document in place: the text this suggestion is for
    engine = ls.engine_for(target.project)
    # Tokenizing (and loading the model that tokenizes) belongs off the event loop.
    cursor = await asyncio.to_thread(
        cursor_context,
        source,
        offset,
        settings.prefix_lines,
        settings.suffix_lines,
        prefix_tokens=settings.prefix_tokens,
        suffix_tokens=settings.suffix_tokens,
        count=engine.token_counter(),
    )
    constraints = [*cursor.constraints(doc.language_id), *target.constraints(action)]
    before = source[:offset]
    reused = ls.suggestions.lookup(uri, before, cursor.line_after)
    if reused is not None and _still_valid(ls, constraints, reused):
        return reused  # typed through a shown suggestion: its rest at once, no debounce, no engine
    if not invoked:  # a newer keystroke cancels this task while it waits: no engine work at all
        await asyncio.sleep(ls.debouncer.delay(uri, ls.editor.debounce_ms or settings.debounce_ms))
        if doc.version != version:  # pygls edits the document object in place
            return None  # edited while waiting, with no new request to supersede this one: stale
    python = target.python_syntax != "off"
    syntax = None
    if target.python_syntax == "enforce":
        syntax = await asyncio.to_thread(python_syntax, before)  # reads the statement: milliseconds
        constraints += [syntax.constraint] if syntax.constraint else []
    # deterministic unless chosen otherwise: a suggestion is the model's best guess
    sampling = ls.sampling(target, action)
    request = EngineRequest(
        prompt=inline_prompt(target, cursor),
        suffix=cursor.suffix,
        line_stops=cursor.line_stops(),
        max_predict_ms=settings.max_predict_ms,
        chat=False,
        constraints=constraints,
        max_tokens=settings.max_tokens,
        context=target.context,
        files=context_files(ls, target, settings.context_tokens),
        **sampling.fields(),
    )
    outcome = await ls.generate(target, request, sampling.profile)
    if not outcome.validation.all_satisfied:
        log.info("suggestion withheld, constraints not met: %s", outcome.validation.errors)
        return None
    text = outcome.result.text
    if python and text:
        shown = await asyncio.to_thread(parsing_part, source, offset, text, settings.suffix_lines)
        ls.note_python_syntax(syntax, cut=None if shown is None else len(text) - len(shown))
        shown = text if shown is None else shown
        if shown != text:
            log.info("suggestion cut from %d to %d characters: the file would not parse", len(text), len(shown))
        text = shown
    if text:
        ls.suggestions.put(uri, before, cursor.line_after, text)
    return text or None


def register(ls: AnankeServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        server: AnankeServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        text = await suggest(server, params.text_document.uri, params.position, "inline_completion", invoked=invoked)
        if text is None:
            return None
        here = types.Range(start=params.position, end=params.position)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text, range=here)])

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))
    async def completion(server: AnankeServer, params: types.CompletionParams) -> types.CompletionList:
        invoked = params.context is None or params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        text = await suggest(server, params.text_document.uri, params.position, "completion", invoked=invoked)
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
