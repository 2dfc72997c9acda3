"""Code action "Implement function" (Python): generate the body of the function under the cursor,
held inside the function's indentation block, and apply it as a versioned edit."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..context.buffer_constraints import indented_block
from ..context.python_functions import function_at
from ..engines.base import EngineRequest
from .app import AnankeServer, buffer_context

log = logging.getLogger("ananke_lsp.server")
IMPLEMENT = "ananke.implementFunction"


def _lines(source: str) -> list[str]:
    return source.split("\n")


def _end_position(lines: list[str], end_line: int) -> types.Position:
    """Start of ``end_line``, or the end of the text when the body runs to the last line."""
    if end_line < len(lines):
        return types.Position(line=end_line, character=0)
    last = len(lines) - 1
    return types.Position(line=last, character=len(lines[last].encode("utf-16-le")) // 2)


def code_actions(ls: AnankeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    path = ls.path_of(uri)
    if doc.language_id != "python":
        return []
    project = ls.configs.for_file(path, ls.workspace_root_of(path))
    if path is not None and project.is_excluded(path):
        return []
    fn = function_at(_lines(doc.source), params.range.start.line)
    if fn is None:
        return []
    title = f"Implement function '{fn.name}'"
    return [
        types.CodeAction(
            title=title,
            kind=types.CodeActionKind.RefactorRewrite,
            command=types.Command(title=title, command=IMPLEMENT, arguments=[uri, doc.version, fn.def_line]),
        )
    ]


async def implement_function(ls: AnankeServer, uri: str, version: int | None, def_line: int) -> bool:
    """Generate and apply the body; False (with a message to the user) when nothing was applied."""
    doc = ls.workspace.get_text_document(uri)
    if version is not None and doc.version != version:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message="ananke: the file changed since the action was offered; try again",
            )
        )
        return False
    lines = _lines(doc.source)
    fn = function_at(lines, def_line)
    if fn is None or fn.def_line != def_line:
        raise ValueError(f"no Python function starts at line {def_line + 1}")
    path = ls.path_of(uri)
    project = ls.configs.for_file(path, ls.workspace_root_of(path))
    if path is not None and project.is_excluded(path):
        raise ValueError(f"{path.name} is excluded by privacy rules; nothing is sent")
    settings = project.settings
    first = max(0, fn.body_start - settings.completion.prefix_lines)
    prompt = "\n".join(lines[first : fn.body_start]) + "\n"
    request = EngineRequest(
        prompt=prompt,
        chat=False,
        constraints=[
            indented_block(fn.body_indent, first_line_started=False),
            *project.constraints_for(path, doc.language_id, "implement_function"),
        ],
        max_tokens=settings.generation.max_tokens,
        temperature=settings.generation.temperature,
        context=buffer_context(uri, path, doc.language_id, project.root),
    )
    outcome = await ls.generate(request)
    body = outcome.result.text
    if not outcome.validation.all_satisfied or not body.strip():
        reason = outcome.validation.errors or "the model produced an empty body"
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error, message=f"ananke: no body applied for '{fn.name}': {reason}"
            )
        )
        return False
    if not body.endswith("\n"):
        body += "\n"  # keep the next statement on its own line
    edit = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=doc.version),
        edits=[
            types.TextEdit(
                range=types.Range(
                    start=types.Position(line=fn.body_start, character=0), end=_end_position(lines, fn.body_end)
                ),
                new_text=body,
            )
        ],
    )
    if ls.workspace.get_text_document(uri).version != doc.version:
        return False  # edited while we generated: the edit was computed for an older buffer
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=types.WorkspaceEdit(document_changes=[edit]), label=f"Implement {fn.name}")
    )
    return bool(result.applied)


def register(ls: AnankeServer) -> None:
    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]),
    )
    def on_code_action(server: AnankeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(server, params)

    @ls.command(IMPLEMENT)
    async def on_implement(server: AnankeServer, uri: str, version: int | None, def_line: int) -> bool:
        return await implement_function(server, uri, version, def_line)
