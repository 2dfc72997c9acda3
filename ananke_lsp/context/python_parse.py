"""The last word on a Python suggestion: the file, with it inserted, is parsed by Python itself.

The grammar enforced while decoding (python_syntax.py) sees the code before the cursor, not the
code after it, and an engine that cannot enforce it (one structured output) only had it
validated: what follows the cursor may still not fit. So the whole document is parsed with the
suggestion in place, and a suggestion that breaks it is cut back to its longest run of whole
lines that does not, or withheld. A document that did not parse before is judged by where its
first error is then: none may remain within the lines the model saw below the cursor (the gap it
was asked to fill, a block header's missing body), and one further down, the user's elsewhere,
must not come earlier than before."""

from __future__ import annotations

import ast
import warnings

# The lines below the cursor a suggestion answers for when no other number is given: the
# completion's suffix window ([completion] suffix_lines), what the model saw.
SEEN_LINES = 64
# Larger documents are not parsed (Python parses a few MB a second; this runs on every suggestion):
# the caller says so instead.
MAX_PARSE_CHARS = 1_000_000


def first_error_line(source: str) -> int | None:
    """The 0-based line of the first syntax error in ``source``, None when it parses."""
    try:
        with warnings.catch_warnings():  # invalid escape sequences and the like are not errors
            warnings.simplefilter("ignore")
            compile(source, "<suggestion>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        return max((exc.lineno or 1) - 1, 0)
    except ValueError:  # a NUL character
        return 0
    return None


def fits(source: str, offset: int, text: str, before_error: int | None, seen_lines: int = SEEN_LINES) -> bool:
    """Whether inserting ``text`` at ``offset`` leaves ``source`` parsing as well as it did, and
    parsing within ``seen_lines`` below the cursor: ``before_error`` is ``first_error_line(source)``."""
    after_error = first_error_line(source[:offset] + text + source[offset:])
    if after_error is None:
        return True
    if before_error is None:
        return False
    cursor_line = source.count("\n", 0, offset)
    added = text.count("\n")
    if after_error <= cursor_line + added:
        return False  # in the suggestion's own lines
    moved = after_error - added
    return moved > cursor_line + seen_lines and moved >= before_error


def parsing_part(source: str, offset: int, text: str, seen_lines: int = SEEN_LINES) -> str | None:
    """``text`` if the document still parses with it at ``offset`` (see ``fits``), else its longest
    run of whole lines that does ("" when none does); None for a document too large to parse."""
    if len(source) > MAX_PARSE_CHARS:
        return None
    before_error = first_error_line(source)
    if fits(source, offset, text, before_error, seen_lines):
        return text
    cut = text.rfind("\n")
    while cut > 0:
        shorter = text[:cut].rstrip()
        if shorter and fits(source, offset, shorter, before_error, seen_lines):
            return shorter
        cut = text.rfind("\n", 0, cut)
    return ""
