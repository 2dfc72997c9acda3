"""Python code actions: "Implement function" (a placeholder body) and "Add docstring", each a
fill-in-the-middle between the code above and below, ending where it would leave the function."""

from __future__ import annotations

from lsprotocol import types

from ..api_types import PyConstraintIR
from ..context.brackets import comment_marker
from ..context.buffer_constraints import balanced_brackets, block_start, no_trailing_blanks, regex_literal
from ..context.python_functions import PythonFunction, function_at
from ..engines.base import EngineRequest
from ..engines.line_stops import LineStops
from ..errors import RequestRefused
from ..indentation import indent_width
from .code_actions import Job, Offer, end_of
from .prompts import render
from .targets import Target


def _lines(target: Target) -> list[str]:
    return target.doc.source.split("\n")


def _function(target: Target, args: list[object]) -> tuple[list[str], PythonFunction]:
    lines = _lines(target)
    def_line = args[0] if args else None  # as offered: [def_line]
    fn = function_at(lines, int(def_line)) if isinstance(def_line, int) else None
    if fn is None or fn.def_line != def_line:
        raise RequestRefused(f"no Python function starts at line {def_line}; request code actions again")
    return lines, fn


def _ends_line(text: str) -> str:
    """Exactly one final newline: the next statement on its own line, no pile of blank lines."""
    return text.rstrip("\n") + "\n"


def fill_between(
    target: Target,
    lines: list[str],
    start: int,
    end: int,
    constraints: list[PyConstraintIR],
    max_tokens: int,
    indent: str,
    scope: int | None = None,
    *,
    template: str,
    **variables: str,
) -> EngineRequest:
    """Fill-in-the-middle for new lines replacing ``lines[start:end]`` (raw text, no chat): the
    code above and below, within the completion windows; the block ends where a line leaves
    ``indent`` or retypes the code that follows. With ``scope``, the code below ends before the
    first line indented ``scope`` columns or less: for a function's body, the definitions after it
    are not part of it (with the next placeholder function below, the 0.5B wrote *its* body).

    The prompt is the project's ``template`` rendered with the code above (``code_before``, which
    is the whole prompt by default), the code below, ``indent`` and the template's ``variables``."""
    window = target.project.settings.completion
    after = lines[end : end + window.suffix_lines]
    if scope is not None:
        after = after[: next((i for i, ln in enumerate(after) if ln.strip() and indent_width(ln) <= scope), len(after))]
    following = next((ln.strip() for ln in after if ln.strip()), "")
    before = "\n".join(lines[max(0, start - window.prefix_lines) : start]) + "\n"
    suffix = "\n".join(after)
    return EngineRequest(
        prompt=render(target, template, code_before=before, code_after=suffix, indent=indent, **variables),
        suffix=suffix,
        line_stops=LineStops(repeats=(following,) if following else (), dedent_below=len(indent) or None),
        chat=False,
        constraints=constraints,
        max_tokens=max_tokens,
        context=target.context,
    )


class ImplementFunction:
    name = "implement"

    def offers(self, target: Target, selection: types.Range) -> list[Offer]:
        if target.doc.language_id != "python":
            return []
        lines = _lines(target)
        fn = function_at(lines, selection.start.line)
        if fn is None or not fn.is_placeholder_body(lines):
            return []
        return [Offer(f"Implement function '{fn.name}'", [fn.def_line])]

    def prepare(self, target: Target, args: list[object]) -> Job:
        lines, fn = _function(target, args)
        constraints = [
            block_start(fn.body_indent),
            no_trailing_blanks(),
            balanced_brackets([], comment_marker("python")),
            *target.constraints("implement_function"),
        ]
        max_tokens = target.project.settings.generation.max_tokens
        body = (fn.body_start, fn.body_end)
        request = fill_between(
            target,
            lines,
            *body,
            constraints,
            max_tokens,
            fn.body_indent,
            scope=len(fn.indent),
            template="implement_function",
            function_name=fn.name,
        )
        replace = types.Range(start=types.Position(line=fn.body_start, character=0), end=end_of(lines, fn.body_end))
        return Job(request, replace, _ends_line)


def docstring_constraint(indent: str) -> PyConstraintIR:
    """A triple-quoted docstring at ``indent``: a summary line, then indented lines, closed."""
    pad = regex_literal(indent)  # buffer text: the one escaper for constraints (buffer_constraints.py)
    text = r'[^"\\\n]'
    return PyConstraintIR(name="buffer:docstring", regex_patterns=[rf'{pad}"""{text}+(\n({pad}{text}*)?)*"""\n?'])


class AddDocstring:
    name = "docstring"

    def offers(self, target: Target, selection: types.Range) -> list[Offer]:
        if target.doc.language_id != "python":
            return []
        fn = function_at(_lines(target), selection.start.line)
        if fn is None or fn.has_docstring:
            return []
        return [Offer(f"Add docstring to '{fn.name}'", [fn.def_line])]

    def prepare(self, target: Target, args: list[object]) -> Job:
        lines, fn = _function(target, args)
        constraints = [docstring_constraint(fn.body_indent), *target.constraints("add_docstring")]
        max_tokens = min(target.project.settings.generation.max_tokens, 160)
        request = fill_between(
            target,
            lines,
            fn.body_start,
            fn.body_start,
            constraints,
            max_tokens,
            fn.body_indent,
            template="add_docstring",
            function_name=fn.name,
        )
        here = types.Position(line=fn.body_start, character=0)
        return Job(request, types.Range(start=here, end=here), _ends_line)
