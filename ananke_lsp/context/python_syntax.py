"""Python syntax, enforced token by token: the grammar of whole statements (python_grammar.py)
reads the code before the cursor from the start of its statement, so a suggestion that begins
mid-statement can only continue it as Python. Where the code before the cursor cannot be read
that way (tabs, a step of indentation the grammar does not know, code that does not parse),
no syntax constraint is added and the reason says why: nothing is silently unconstrained."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from ..api_types import PyConstraintIR
from ..constraints.compile import prefixed_lark
from ..constraints.prefixed import byte_after_prefix
from ..errors import PrefixRejected
from ..indentation import indent_width, indentation
from .python_grammar import python_grammar

NAME = "buffer:python-syntax"
# How far above the cursor a statement may start: the grammar reads every line in between on
# every keystroke, so an enclosing statement further up (a long class) is read from an inner one.
MAX_LINES = 400
# ... and at most this many characters: a statement longer than that (a minified line, a huge
# literal) costs more to read than a keystroke allows, and is read from an inner start or not at all.
MAX_CHARS = 20_000
DEFAULT_UNIT = 4
# A line that only continues a statement above it: reading from there would not parse.
_CONTINUES = re.compile(r"(elif|else|except|finally)\b|case\b.*:\s*(#.*)?$|[)\]}]")
_HEADER_END = re.compile(r":\s*(#.*)?$")


@dataclass(frozen=True)
class PythonSyntax:
    """The constraint, or why there is none (``reason``); ``start``: the line it reads from."""

    constraint: PyConstraintIR | None
    reason: str
    start: int | None = None


def python_syntax(before: str) -> PythonSyntax:
    """The syntax constraint for a suggestion inserted after ``before`` (the document up to the
    cursor), in the indentation step measured from ``before``."""
    lines = before.split("\n")
    starts = _statement_starts(lines)
    if not starts:
        return PythonSyntax(None, f"no statement starts within {MAX_LINES} lines above the cursor")
    first = starts[-1]
    region = lines[first:]
    if any("\t" in indentation(line) for line in region):
        return PythonSyntax(None, "tabs in the indentation: the grammar knows spaces only")
    step = _indent_unit(region)
    if step is None:
        return PythonSyntax(None, "mixed indentation steps above the cursor")
    error = None
    for start in reversed(starts):  # the outermost first: a chain (`else:`) is read with its head
        base = indent_width(lines[start])
        prefix = "\n".join(lines[start:])
        if len(prefix) > MAX_CHARS:
            continue
        try:
            byte_after_prefix(prefixed_lark(python_grammar(base, step)), prefix)
        except PrefixRejected as exc:
            error = error or f"the code before the cursor does not parse at line {start + exc.line}"
            continue
        constraint = PyConstraintIR(name=NAME, grammar=python_grammar(base, step), prefix=prefix)
        return PythonSyntax(constraint, f"read from line {start + 1} (indent {base}, step {step})", start)
    return PythonSyntax(None, error or f"the statement before the cursor is longer than {MAX_CHARS} characters")


def _statement_starts(lines: list[str]) -> list[int]:
    """Lines a statement enclosing or preceding the cursor may start on, nearest first: each no
    deeper than any code line after it, up to the first at column 0."""
    cursor = lines[-1]
    floor = indent_width(cursor) if cursor.strip() else len(cursor)
    found = [len(lines) - 1] if cursor.strip() and not _CONTINUES.match(cursor.lstrip()) else []
    for index in range(len(lines) - 2, max(-1, len(lines) - 2 - MAX_LINES), -1):
        line = lines[index]
        code = line.lstrip(" \t")
        if not code.strip() or code.startswith("#") or indent_width(line) > floor:
            continue
        floor = indent_width(line)
        if not _CONTINUES.match(code):
            found.append(index)
        if floor == 0 and found and found[-1] == index:
            break
    return found


def _indent_unit(lines: list[str]) -> int | None:
    """The indentation step of block headers' bodies in ``lines``: the most common, when every
    step is a multiple of it (None otherwise); DEFAULT_UNIT with no header to measure."""
    steps: Counter[int] = Counter()
    for header, body in itertools.pairwise(lines):
        if _HEADER_END.search(header) and body.strip() and indent_width(body) > indent_width(header):
            steps[indent_width(body) - indent_width(header)] += 1
    if not steps:
        return DEFAULT_UNIT
    unit = steps.most_common(1)[0][0]
    return unit if all(step % unit == 0 for step in steps) else None
