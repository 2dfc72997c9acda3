"""Python code actions: "Implement function" (a placeholder body) and "Add docstring", each held
to the function's indentation block while decoding."""

from __future__ import annotations

import re

from lsprotocol import types

from ..context.buffer_constraints import balanced_brackets, indented_block
from ..context.python_functions import PythonFunction, function_at
from ..engines.base import EngineRequest
from ..types import PyConstraintIR
from .app import Target
from .code_actions import Job, Offer, end_of


def _lines(target: Target) -> list[str]:
    return target.doc.source.split("\n")


def _function(target: Target, def_line: object) -> tuple[list[str], PythonFunction]:
    lines = _lines(target)
    fn = function_at(lines, int(def_line)) if isinstance(def_line, int) else None
    if fn is None or fn.def_line != def_line:
        raise ValueError(f"no Python function starts at line {def_line}; request code actions again")
    return lines, fn


def _ends_line(text: str) -> str:
    """Exactly one final newline: the next statement on its own line, no pile of blank lines."""
    return text.rstrip("\n") + "\n"


def _prompt(target: Target, lines: list[str], upto: int) -> str:
    first = max(0, upto - target.project.settings.completion.prefix_lines)
    return "\n".join(lines[first:upto]) + "\n"


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
        lines, fn = _function(target, args[0])
        settings = target.project.settings.generation
        request = EngineRequest(
            prompt=_prompt(target, lines, fn.body_start),
            chat=False,
            constraints=[
                indented_block(fn.body_indent, first_line_started=False),
                balanced_brackets([]),
                *target.constraints("implement_function"),
            ],
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            context=target.context,
        )
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
        lines, fn = _function(target, args[0])
        settings = target.project.settings.generation
        request = EngineRequest(
            prompt=_prompt(target, lines, fn.body_start),
            chat=False,
            constraints=[docstring_constraint(fn.body_indent), *target.constraints("add_docstring")],
            max_tokens=min(settings.max_tokens, 160),
            temperature=settings.temperature,
            context=target.context,
        )
        here = types.Position(line=fn.body_start, character=0)
        return Job(request, types.Range(start=here, end=here), _ends_line)
