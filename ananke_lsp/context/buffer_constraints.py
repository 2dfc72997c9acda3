"""Constraints derived from the buffer around the cursor, enforced while decoding (not filtered
afterwards): what a peer cuts off after generation, the model here cannot produce."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from ..types import PyConstraintIR
from .brackets import PAIRS


def _lark_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The same few constraints come back keystroke after keystroke: built once, they also hit the
# compile cache's raw-key memo without re-validating a model. Callers never mutate them.
_memo = functools.lru_cache(maxsize=256)


@_memo
def single_line() -> PyConstraintIR:
    """Inline completion inside a line: the suggestion never spills onto the next line."""
    return PyConstraintIR(name="buffer:single-line", regex_patterns=[r"[^\n]*"])


@_memo
def indented_block(indent: str, *, first_line_started: bool) -> PyConstraintIR:
    """Every line stays inside the block at ``indent``: no dedent out of the function or block.

    ``first_line_started``: the cursor already sits after the indentation, so the first line
    continues it; otherwise the first line brings its own indentation."""
    pad = re.escape(indent)
    line = r"[^\n]*"
    first = line if first_line_started else rf"{pad}[^\s]{line}"
    return PyConstraintIR(name="buffer:indented-block", regex_patterns=[rf"{first}(\n({pad}{line})?)*"])


def balanced_brackets(closable: Sequence[str]) -> PyConstraintIR:
    """Brackets the completion opens close inside it; it may also close the brackets already open
    before the cursor (``closable``, innermost last), in order, but no other. Quotes count too:
    a string it starts ends in it."""
    return _balanced(tuple(closable))


@_memo
def _balanced(closable: tuple[str, ...]) -> PyConstraintIR:
    rules = [
        "start: bal" + "".join(f" ({_lark_string(PAIRS[o])} bal" for o in reversed(closable)) + ")?" * len(closable),
        'bal: (TEXT | STRING | "(" bal ")" | "[" bal "]" | "{" bal "}")*',
        r"TEXT: /[^()\[\]{}" + "\"'" + r"]+/",
        r'STRING: /"([^"\\\n]|\\.)*"/ | /' + r"'([^'\\\n]|\\.)*'/",
    ]
    return PyConstraintIR(name="buffer:balanced-brackets", grammar="\n".join(rules))


@_memo
def no_repeat(following: str) -> PyConstraintIR | None:
    """The completion must not end by retyping what already follows the cursor (the rest of the
    line, or on an empty line the next line), the classic duplicated `)` or `return`."""
    text = following.strip()
    if not text:
        return None
    return PyConstraintIR(
        name="buffer:no-repeat", grammar=f"start: NOREPEAT\nNOREPEAT: ~/(?s:.*){re.escape(text)}\\s*/"
    )
