"""Buffer-derived constraints, judged by llguidance itself (the grammar that is enforced while
decoding) on texts whose verdict is known: brackets and quotes must balance in code, never in a
comment."""

from __future__ import annotations

import pytest

from ananke_lsp.constraints.compile import compile_constraints
from ananke_lsp.constraints.validate import validate_text
from ananke_lsp.context.brackets import open_brackets
from ananke_lsp.context.buffer_constraints import balanced_brackets
from ananke_lsp.context.cursor import cursor_context


def _holds(text: str, closable: list[str], comment: str) -> bool:
    return validate_text(text, compile_constraints([balanced_brackets(closable, comment)])).all_satisfied


@pytest.mark.parametrize(
    ("text", "comment", "holds"),
    [
        ("total)  # don't forget", "#", True),  # an apostrophe in a comment opens nothing
        ('x)  # the "(" case', "#", True),
        ("x  # closes nothing )", "#", True),  # ... and a bracket in it closes nothing
        ("x) // it's fine", "//", True),
        ("a / b)", "//", True),  # one slash is division, not a comment
        ("f(1", "#", False),
        ("'unclosed", "#", False),
        ("x)'", "//", False),
        ("x) // don't", "#", False),  # `//` is no comment in a `#` language
        ("x) # don't", "//", False),
        ("x  # note\n)", "#", True),  # a comment ends at the end of its line
        ("x  # note\n'", "#", False),
    ],
)
def test_comments_are_free_text_strings_are_not(text: str, comment: str, holds: bool):
    assert _holds(text, ["("], comment) is holds


def test_a_cursor_inside_a_comment_asks_for_no_bracket_constraint():
    assert open_brackets("x = f(1,  # it's", "python") is None
    assert open_brackets("x = f(1,  # it's\n    2", "python") == ["("]
    context = cursor_context("values = f(1,  # don't", 22, 10, 10)
    names = [c.name for c in context.constraints("python")]
    assert "buffer:balanced-brackets" not in names and "buffer:single-line" in names
