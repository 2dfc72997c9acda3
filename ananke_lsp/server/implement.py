"""Code action "Implement function" (Python): generate the body of the function under the cursor,
held inside the function's indentation block, as a versioned edit.

Clients that resolve code actions lazily (VS Code, Neovim) get the edit from `codeAction/resolve`,
generated only when the user picks the action; others get a command that applies it with
`workspace/applyEdit`. Either way an edit computed for an older buffer is never applied."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..context.buffer_constraints import indented_block
from ..context.python_functions import function_at
from ..engines.base import EngineRequest
from .app import AnankeServer, buffer_context

log = logging.getLogger("ananke_lsp.server")
IMPLEMENT = "ananke.implementFunction"


class StaleBuffer(Exception):
    """The document changed after the action was offered or while the body was generated."""


def _lines(source: str) -> list[str]:
    return source.split("\n")


def _end_position(lines: list[str], end_line: int) -> types.Position:
    """Start of ``end_line``, or the end of the text when the body runs to the last line."""
    if end_line < len(lines):
        return types.Position(line=end_line, character=0)
    last = len(lines) - 1
    return types.Position(line=last, character=len(lines[last].encode("utf-16-le")) // 2)


def _resolves_edits(ls: AnankeServer) -> bool:
    caps = ls.client_capabilities.text_document
    action = caps.code_action if caps else None
    support = action.resolve_support if action else None
    return bool(support and "edit" in support.properties)


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
    target = [uri, doc.version, fn.def_line]
    if _resolves_edits(ls):
        return [types.CodeAction(title=title, kind=types.CodeActionKind.RefactorRewrite, data=target)]
    command = types.Command(title=title, command=IMPLEMENT, arguments=target)
    return [types.CodeAction(title=title, kind=types.CodeActionKind.RefactorRewrite, command=command)]


async def body_edit(ls: AnankeServer, uri: str, version: int | None, def_line: int) -> types.TextDocumentEdit:
    """Generate the function's body and the versioned edit that puts it in place."""
    doc = ls.workspace.get_text_document(uri)
    if version is not None and doc.version != version:
        raise StaleBuffer("the file changed since the action was offered; try again")
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
    request = EngineRequest(
        prompt="\n".join(lines[first : fn.body_start]) + "\n",
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
    if not outcome.validation.all_satisfied:
        raise ValueError(f"no body for '{fn.name}': constraints not met: {outcome.validation.errors}")
    if not body.strip():
        raise ValueError(f"no body for '{fn.name}': the model produced an empty body")
    if ls.workspace.get_text_document(uri).version != doc.version:
        raise StaleBuffer("the file was edited while the body was generated; try again")
    if not body.endswith("\n"):
        body += "\n"  # keep the next statement on its own line
    replaced = types.Range(start=types.Position(line=fn.body_start, character=0), end=_end_position(lines, fn.body_end))
    return types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=doc.version),
        edits=[types.TextEdit(range=replaced, new_text=body)],
    )


def _tell(ls: AnankeServer, kind: types.MessageType, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=kind, message=f"ananke: {message}"))


def register(ls: AnankeServer) -> None:
    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True),
    )
    def on_code_action(server: AnankeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(server, params)

    @ls.feature(types.CODE_ACTION_RESOLVE)
    async def on_resolve(server: AnankeServer, action: types.CodeAction) -> types.CodeAction:
        if not (isinstance(action.data, list) and len(action.data) == 3):
            raise ValueError("this code action carries no target; request code actions again")
        uri, version, def_line = action.data
        try:
            edit = await body_edit(server, uri, version, def_line)
        except StaleBuffer as exc:
            _tell(server, types.MessageType.Warning, str(exc))
            return action  # no edit: nothing is applied
        action.edit = types.WorkspaceEdit(document_changes=[edit])
        return action

    @ls.command(IMPLEMENT)
    async def on_implement(server: AnankeServer, uri: str, version: int | None, def_line: int) -> bool:
        try:
            edit = await body_edit(server, uri, version, def_line)
        except StaleBuffer as exc:
            _tell(server, types.MessageType.Warning, str(exc))
            return False
        except ValueError as exc:
            _tell(server, types.MessageType.Error, str(exc))
            return False
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(
                edit=types.WorkspaceEdit(document_changes=[edit]), label="Implement function"
            )
        )
        return bool(result.applied)
