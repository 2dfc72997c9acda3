"""Code actions that generate text, and what they share: lazy edits through `codeAction/resolve`
(or a command + `workspace/applyEdit` for clients that do not resolve), work-done progress,
versioned edits that are never applied to a newer buffer, and "Regenerate".

Each kind of action is an ``ActionKind``: it offers itself at a range, and turns its arguments
into a ``Job`` (the request to generate and the range the result replaces)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from .. import profiles
from ..constraints import validate_text
from ..context.python_parse import parsing_part
from ..context.python_syntax import python_syntax
from ..engines.base import EngineRequest
from ..errors import Excluded, NothingApplied, RequestRefused, StaleBuffer
from .app import AnankeServer
from .targets import Target

log = logging.getLogger("ananke_lsp.server")
COMMAND = "ananke.applyAction"
# The `.ananke.toml` action of each kind of code action: whose profile samples it.
ACTIONS = {
    "implement": "implement_function",
    "docstring": "add_docstring",
    "from_comment": "generate",
    "fill_json": "fill_json",
}


@dataclass(frozen=True)
class Job:
    request: EngineRequest
    replace: types.Range  # in the document version the action was offered for
    finish: Callable[[str], str] = lambda text: text  # e.g. end with a newline
    profile: str | None = None  # the execution profile the request was sampled with


@dataclass(frozen=True)
class Offer:
    title: str
    args: list[object]  # JSON-safe; handed back to ``prepare``


class ActionKind(Protocol):
    name: str

    def offers(self, target: Target, selection: types.Range) -> list[Offer]: ...

    def prepare(self, target: Target, args: list[object]) -> Job: ...


@dataclass
class _Generated:
    """The last text an action put in a document: what "Regenerate" replaces."""

    request: EngineRequest
    start: types.Position
    text: str
    finish: Callable[[str], str]


def end_of(lines: list[str], line: int) -> types.Position:
    """Start of ``line``, or the end of the text when ``line`` is past the last one."""
    if line < len(lines):
        return types.Position(line=line, character=0)
    last = len(lines) - 1
    return types.Position(line=last, character=len(lines[last].encode("utf-16-le")) // 2)


def _span(start: types.Position, text: str) -> types.Range:
    lines = text.split("\n")
    width = len(lines[-1].encode("utf-16-le")) // 2
    end_char = width if len(lines) > 1 else start.character + width
    return types.Range(start=start, end=types.Position(line=start.line + len(lines) - 1, character=end_char))


def _action_data(data: Sequence[object]) -> tuple[str, str, int | None, list[object]]:
    """An offer's ``[kind, uri, version, args]`` as the client sends it back: checked, since the
    client may send anything."""
    match list(data):
        case [str(kind), str(uri), None | int() as version, list(args)] if type(version) is not bool:
            return kind, uri, version, args
    raise JsonRpcInvalidParams(f"this is not the data of an ananke action: {list(data)!r:.200}")


class CodeActions:
    def __init__(self, ls: AnankeServer, kinds: list[ActionKind]) -> None:
        unknown = [k.name for k in kinds if k.name not in ACTIONS]
        if unknown:
            raise ValueError(f"code actions without an .ananke.toml action (ACTIONS): {unknown}")
        self.ls = ls
        self.kinds = {k.name: k for k in kinds}
        self.generated: dict[str, _Generated] = {}

    def _resolves_edits(self) -> bool:
        caps = self.ls.client_capabilities.text_document
        action = caps.code_action if caps else None
        support = action.resolve_support if action else None
        return bool(support and "edit" in support.properties)

    def offered(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        try:
            target = self.ls.target(uri)
        except Excluded:
            return []
        offers: list[tuple[ActionKind | None, Offer]] = [
            (kind, offer) for kind in self.kinds.values() for offer in kind.offers(target, params.range)
        ]
        if self._regenerable(target):
            offers.append((None, Offer("Regenerate the last ananke suggestion", [])))
        actions = []
        for kind, offer in offers:
            data = [kind.name if kind else "regenerate", uri, target.doc.version, offer.args]
            if self._resolves_edits():
                actions.append(
                    types.CodeAction(title=offer.title, kind=types.CodeActionKind.RefactorRewrite, data=data)
                )
            else:
                command = types.Command(title=offer.title, command=COMMAND, arguments=data)
                actions.append(
                    types.CodeAction(title=offer.title, kind=types.CodeActionKind.RefactorRewrite, command=command)
                )
        return actions

    def _regenerable(self, target: Target) -> bool:
        last = self.generated.get(target.uri)
        return last is not None and target.doc.text_in_client_range(_span(last.start, last.text)) == last.text

    async def edit(self, kind: str, uri: str, version: int | None, args: list[object]) -> types.TextDocumentEdit:
        """Generate the text for one action, as a versioned edit of the buffer it was offered for."""
        target = self.ls.target(uri)
        doc = target.doc
        if version is not None and doc.version != version:
            raise StaleBuffer("the file changed since the action was offered; try again")
        if kind == "regenerate":
            last = self.generated.get(uri)
            if last is None or not self._regenerable(target):
                raise StaleBuffer("the last suggestion was edited or is gone; nothing to regenerate")
            sampling = profiles.regenerate(last.request.temperature)  # creative: a fresh seed
            request = last.request.model_copy(update=sampling.fields())
            job = Job(request, _span(last.start, last.text), last.finish, sampling.profile)
        elif kind in self.kinds:
            job = self.kinds[kind].prepare(target, args)
            sampling = self.ls.sampling(target, ACTIONS[kind])  # replaces what ``prepare`` set
            job = dataclasses.replace(
                job, request=job.request.model_copy(update=sampling.fields()), profile=sampling.profile
            )
        else:
            raise RequestRefused(f"unknown action {kind!r}")
        python = target.python_syntax
        start, end = doc.offset_at_position(job.replace.start), doc.offset_at_position(job.replace.end)
        around = doc.source[:start] + doc.source[end:]  # the document without the range replaced
        if python == "enforce" and kind != "regenerate":  # a regenerated request has its constraint
            syntax = await asyncio.to_thread(python_syntax, around[:start])
            if syntax.constraint is not None:
                constraints = [*job.request.constraints, syntax.constraint]
                job = dataclasses.replace(job, request=job.request.model_copy(update={"constraints": constraints}))
            else:
                log.info("Python syntax not enforced for this action: %s", syntax.reason)
        outcome = await self._with_progress(target, job)
        text = outcome.result.text
        if not outcome.validation.all_satisfied:
            raise NothingApplied(f"nothing applied: constraints not met: {outcome.validation.errors}")
        if not text.strip():
            raise NothingApplied("nothing applied: the model produced only whitespace")
        if self.ls.workspace.get_text_document(uri).version != doc.version:
            raise StaleBuffer("the file was edited while generating; try again")
        finished = job.finish(text)
        if outcome.compiled is None or validate_text(finished, outcome.compiled).all_satisfied:
            text = finished  # tidied (one final newline) only where every constraint still holds
        if python != "off":
            seen = target.project.settings.completion.suffix_lines
            shown = await asyncio.to_thread(parsing_part, around, start, text, seen)
            if shown is None:
                log.info("the file is too large to parse: the generated code is applied unparsed")
                shown = text
            if not shown.strip():
                raise NothingApplied("nothing applied: the file would not parse with the generated code")
            text = job.finish(shown) if shown != text else text
        self.generated[uri] = _Generated(job.request, job.replace.start, text, job.finish)
        return types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=doc.version),
            edits=[types.TextEdit(range=job.replace, new_text=text)],
        )

    async def _with_progress(self, target: Target, job: Job):
        ls = self.ls
        window = ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return await ls.generate(target, job.request, job.profile)
        token = f"ananke-{uuid.uuid4().hex}"
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="ananke", message="generating…"))
        try:
            outcome = await ls.generate(target, job.request, job.profile)
        except BaseException:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="failed"))
            raise
        r = outcome.result
        ls.work_done_progress.end(
            token, types.WorkDoneProgressEnd(message=f"{r.tokens_generated} tokens in {r.generation_ms:.0f} ms")
        )
        return outcome

    def register(self) -> None:
        ls = self.ls

        @ls.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True),
        )
        def on_code_action(server: AnankeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
            return self.offered(params)

        @ls.feature(types.CODE_ACTION_RESOLVE)
        async def on_resolve(server: AnankeServer, action: types.CodeAction) -> types.CodeAction:
            if not (isinstance(action.data, list) and len(action.data) == 4):
                return action  # a command-style action (or not ours): nothing to resolve
            try:
                action.edit = types.WorkspaceEdit(document_changes=[await self.edit(*_action_data(action.data))])
            except (StaleBuffer, Excluded) as exc:
                server.tell(types.MessageType.Warning, str(exc))  # no edit: nothing is applied
            return action

        @ls.command(COMMAND)
        async def on_command(server: AnankeServer, *data: object) -> bool:
            action = _action_data(data)  # checked here: pygls calls with no arguments when the client sends none
            try:
                edit = await self.edit(*action)
            except (RequestRefused, ValueError) as exc:  # ValueError: arguments the action cannot use
                server.tell(types.MessageType.Warning, str(exc))
                return False
            result = await server.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=types.WorkspaceEdit(document_changes=[edit]), label="ananke")
            )
            return bool(result.applied)
