"""Find the Python function around a line by indentation, so it works on buffers that do not
parse yet (the user is mid-edit)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..indentation import indentation

_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)[ \t]*\(")
_DOC_OPEN = re.compile(r"^[ \t]*[rRuUbB]{0,2}(\"\"\"|''')")
_PLACEHOLDER = re.compile(r"^\s*(pass|\.\.\.|raise NotImplementedError(\(.*\))?)\s*(#.*)?$")


@dataclass(frozen=True)
class PythonFunction:
    name: str
    def_line: int
    indent: str  # of the `def`
    body_indent: str
    body_start: int  # first line the body may occupy (after header and docstring)
    body_end: int  # exclusive; lines [body_start, body_end) are replaced by a new body
    has_docstring: bool

    def is_placeholder_body(self, lines: list[str]) -> bool:
        """True when the current body is empty or only `pass` / `...` / `raise NotImplementedError`."""
        body = [ln for ln in lines[self.body_start : self.body_end] if ln.strip()]
        return all(_PLACEHOLDER.match(ln) for ln in body)


def _header_end(lines: list[str], start: int) -> int | None:
    """Line index of the `:` that ends a (possibly multi-line) def header; None for a one-line
    function (`def f(): return 1`), whose body cannot be replaced by a block."""
    depth = 0
    for i in range(start, len(lines)):
        code = lines[i].split("#", 1)[0].rstrip()
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0:
            return i if code.endswith(":") else None
    return None


def _docstring_end(lines: list[str], first: int) -> int | None:
    """Index of the line closing a docstring that opens at ``first``, or None if there is none."""
    opened = _DOC_OPEN.match(lines[first])
    if not opened:
        return None
    quote = opened.group(1)
    rest = lines[first][opened.end() :]
    if quote in rest:
        return first
    for i in range(first + 1, len(lines)):
        if quote in lines[i]:
            return i
    return len(lines) - 1


def _block_end(lines: list[str], header: int, indent: str) -> int:
    end = header + 1
    for i in range(header + 1, len(lines)):
        if not lines[i].strip():
            continue
        if len(indentation(lines[i])) <= len(indent):
            break
        end = i + 1
    return end


def function_at(lines: list[str], line: int) -> PythonFunction | None:
    """The innermost function whose header or body contains ``line``."""
    for start in range(min(line, len(lines) - 1), -1, -1):
        found = _DEF.match(lines[start])
        if not found:
            continue
        indent = found.group("indent")
        header = _header_end(lines, start)
        if header is None:
            continue
        block_end = _block_end(lines, header, indent)
        if line >= block_end and line > header:
            continue  # the cursor is below this function: look further up for an enclosing one
        first = next((i for i in range(header + 1, block_end) if lines[i].strip()), None)
        body_indent = indentation(lines[first]) if first is not None else indent + ("\t" if "\t" in indent else "    ")
        doc_end = _docstring_end(lines, first) if first is not None else None
        body_start = doc_end + 1 if doc_end is not None else header + 1
        return PythonFunction(
            name=found.group("name"),
            def_line=start,
            indent=indent,
            body_indent=body_indent,
            body_start=body_start,
            body_end=max(block_end, body_start),
            has_docstring=doc_end is not None,
        )
    return None
