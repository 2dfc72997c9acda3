"""Constraints derived from the buffer around the cursor, enforced while decoding (not filtered
afterwards): what a peer cuts off after generation, the model here cannot produce."""

from __future__ import annotations

import re

from ..types import PyConstraintIR


def single_line() -> PyConstraintIR:
    """Inline completion inside a line: the suggestion never spills onto the next line."""
    return PyConstraintIR(name="buffer:single-line", regex_patterns=[r"[^\n]*"])


def indented_block(indent: str, *, first_line_started: bool) -> PyConstraintIR:
    """Every line stays inside the block at ``indent``: no dedent out of the function or block.

    ``first_line_started``: the cursor already sits after the indentation, so the first line
    continues it; otherwise the first line brings its own indentation."""
    pad = re.escape(indent)
    line = r"[^\n]*"
    first = line if first_line_started else rf"{pad}[^\s]{line}"
    return PyConstraintIR(name="buffer:indented-block", regex_patterns=[rf"{first}(\n({pad}{line})?)*"])
