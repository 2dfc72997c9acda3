"""Generate code from the comment under the cursor, or from a selected description."""

from __future__ import annotations

from lsprotocol import types

from ..context.brackets import comment_marker
from ..context.buffer_constraints import balanced_brackets, block_start, indented_block, no_trailing_blanks
from ..engines.base import EngineRequest
from ..errors import RequestRefused
from ..indentation import indentation
from .code_actions import Job, Offer, end_of
from .prompts import render, system
from .python_actions import fill_between
from .targets import Target


def _offered(args: list[object], line_count: int) -> tuple[str, int, int] | None:
    """``(kind, first line, last line)`` when ``args`` are what ``offers`` made (``["comment",
    line]`` or ``["selection", start, end]``) and still inside the document: the client sends them
    back, possibly altered."""
    match args:
        case ["comment", int(line)] if 0 <= line < line_count:
            return "comment", line, line
        case ["selection", int(start), int(end)] if 0 <= start < line_count and start <= end:
            return "selection", start, end
    return None


class GenerateFromComment:
    name = "from_comment"

    def offers(self, target: Target, selection: types.Range) -> list[Offer]:
        lines = target.doc.source.split("\n")
        if selection.start != selection.end:
            start, end = selection.start.line, selection.end.line - (selection.end.character == 0)
            if any(lines[i].strip() for i in range(start, min(end, len(lines) - 1) + 1)):
                return [Offer("Generate code from the selection", ["selection", start, end])]
            return []
        line = selection.start.line
        if line < len(lines) and lines[line].lstrip().startswith(comment_marker(target.doc.language_id)):
            return [Offer("Generate code from this comment", ["comment", line])]
        return []

    def prepare(self, target: Target, args: list[object]) -> Job:
        lines = target.doc.source.split("\n")
        settings = target.project.settings.generation
        common = {"max_tokens": settings.max_tokens, "context": target.context}
        offered = _offered(args, len(lines))
        if offered is None:
            raise RequestRefused(f"no comment or selection at {args!r:.80}; request code actions again")
        kind, start, end = offered
        if kind == "comment":
            line = start
            indent = indentation(lines[line])
            constraints = [
                block_start(indent),
                no_trailing_blanks(),
                balanced_brackets([], comment_marker(target.doc.language_id)),
                *target.constraints("generate"),
            ]
            request = fill_between(
                target,
                lines,
                line + 1,
                line + 1,
                constraints,
                settings.max_tokens,
                indent,
                template="generate_from_comment",
                comment=lines[line].strip(),
            )
            here = types.Position(line=line + 1, character=0)
            return Job(request, types.Range(start=here, end=here), lambda t: t if t.endswith("\n") else t + "\n")
        described = "\n".join(lines[start : end + 1]).strip()
        window = target.project.settings.completion
        prompt = render(
            target,
            "generate_from_selection",
            selection=described,
            code_before="\n".join(lines[max(0, start - window.prefix_lines) : start]) + "\n",
            code_after="\n".join(lines[end + 1 : end + 1 + window.suffix_lines]),
            indent=indentation(lines[start]),
        )
        request = EngineRequest(
            prompt=prompt,
            system=system(target, "generate_from_selection"),
            chat=True,
            constraints=[
                indented_block(indentation(lines[start]), first_line_started=False),
                *target.constraints("generate"),
            ],
            **common,
        )
        replace = types.Range(start=types.Position(line=start, character=0), end=end_of(lines, end + 1))
        return Job(request, replace, lambda t: t if t.endswith("\n") else t + "\n")
