"""Python code actions: "Implement function" (a placeholder body) and "Add docstring", each held
to the function's indentation block while decoding."""

from __future__ import annotations

import re

from lsprotocol import types

from ..context.brackets import comment_marker
from ..context.buffer_constraints import balanced_brackets, indented_block
from ..context.python_functions import PythonFunction, function_at
from ..engines.base import EngineRequest
from ..types import PyConstraintIR
from .app import Target
from .code_actions import Job, Offer, end_of


def _lines(target: Target) -> list[str]:
    return target.doc.source.split("\n")


def _function(target: Target, args: list[object]) -> tuple[list[str], PythonFunction]:
    lines = _lines(target)
    def_line = args[0] if args else None  # as offered: [def_line]
    fn = function_at(lines, int(def_line)) if isinstance(def_line, int) else None
    if fn is None or fn.def_line != def_line:
        raise ValueError(f"no Python function starts at line {def_line}; request code actions again")
    return lines, fn


def _ends_line(text: str) -> str:
    """Exactly one final newline: the next statement on its own line, no pile of blank lines."""
    return text.rstrip("\n") + "\n"


def _continuation(
    target: Target, lines: list[str], fn: PythonFunction, constraints: list[PyConstraintIR], max_tokens: int
) -> EngineRequest:
    """The model continues the file from the start of ``fn``'s body (raw text, no chat)."""
    first = max(0, fn.body_start - target.project.settings.completion.prefix_lines)
    return EngineRequest(
        prompt="\n".join(lines[first : fn.body_start]) + "\n",
        chat=False,
        constraints=constraints,
        max_tokens=max_tokens,
        temperature=target.project.settings.generation.temperature,
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
            indented_block(fn.body_indent, first_line_started=False),
            balanced_brackets([], comment_marker("python")),
            *target.constraints("implement_function"),
        ]
        request = _continuation(target, lines, fn, constraints, target.project.settings.generation.max_tokens)
        replace = types.Range(start=types.Position(line=fn.body_start, character=0), end=end_of(lines, fn.body_end))
        return Job(request, replace, _ends_line)


def docstring_constraint(indent: str) -> PyConstraintIR:
    """A triple-quoted docstring at ``indent``: a summary line, then indented lines, closed."""
    pad = re.escape(indent)
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
        request = _continuation(target, lines, fn, constraints, min(target.project.settings.generation.max_tokens, 160))
        here = types.Position(line=fn.body_start, character=0)
        return Job(request, types.Range(start=here, end=here), _ends_line)
