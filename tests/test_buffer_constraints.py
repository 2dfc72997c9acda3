"""Buffer-derived constraints, judged by llguidance itself (the grammar that is enforced while
decoding) on texts whose verdict is known: brackets and quotes must balance in code, never in a
comment."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints.compile import compile_constraints
from ananke_lsp.constraints.validate import validate_text
from ananke_lsp.context.brackets import open_brackets
from ananke_lsp.context.buffer_constraints import (
    NO_REPEAT_CHARS,
    balanced_brackets,
    indented_block,
    no_block_header,
    no_repeat,
    no_trailing_blanks,
    opens_block,
    starts_with_code,
)
from ananke_lsp.context.cursor import cursor_context
from ananke_lsp.engines.base import EngineRequest


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
    assert "buffer:balanced-brackets" not in names and context.line_stops().max_lines == 1


# -- text from the buffer never changes a constraint's structure --------------------------------

# Unicode White_Space: what `\s` means to llguidance (Python's `\s` also takes \x1c-\x1f)
_WHITE_SPACE = "[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_SPECIAL = [*"/\\\"'`\n\r\t\v\f #~&|()[]{}.*+?^$-<>%@!=,:;", "//", "/*", "*/", "\\n", "\\/", "(?s:.*)", "\\x{2F}"]
suffixes = st.one_of(
    st.lists(st.one_of(st.characters(), st.sampled_from(_SPECIAL)), min_size=1, max_size=12).map("".join),
    st.sampled_from(
        ["// note", "https://example.com/a/b?q=1#frag", "a / b", "x = y // 2", "/", "\\", "'\"", "é中😀 /x/", ".*"]
    ),
)


def _verdicts(constraint, texts: list[str]) -> list[bool]:
    compiled = compile_constraints([constraint])
    return [validate_text(t, compiled).all_satisfied for t in texts]


@pytest.mark.parametrize(
    ("following", "fresh", "retyped"),
    [
        ("// sum of the values", "total = 0", "total = 0  // sum of the values"),  # an empty line above a comment
        ("https://example.com/docs/", "see ", "see https://example.com/docs/"),  # a URL after the cursor
        ("a / b)", "(", "(a / b)"),  # division
        ("path\\to\\file", "x", "x path\\to\\file"),
    ],
)
def test_no_repeat_survives_slashes_and_backslashes(following: str, fresh: str, retyped: str):
    assert _verdicts(no_repeat(following), [fresh, retyped, retyped + " \n"]) == [True, False, False]


@settings(max_examples=300, deadline=None)
@given(following=suffixes, head=st.text(max_size=12))
def test_no_repeat_compiles_and_forbids_exactly_the_retyped_text(following: str, head: str):
    text = following.strip()
    constraint = no_repeat(following)
    if not text or text.encode(errors="ignore").decode() != text:  # blank, or a lone surrogate
        assert constraint is None  # nothing any model output could retype
        return
    assert constraint is not None
    candidates = [head + text, head + text + " \n\t", head + text[:-1], head + text + "x", head + "x", text[1:]]
    expected = [re.fullmatch(f"(?s:.*){re.escape(text)}{_WHITE_SPACE}*", c) is None for c in candidates]
    assert _verdicts(constraint, candidates) == expected


@settings(max_examples=100, deadline=None)
@given(indent=st.text(st.sampled_from(" \t\v\f\x1c\x85\xa0\u3000"), min_size=1, max_size=6), body=st.text(max_size=8))
def test_an_indented_block_holds_any_indentation(indent: str, body: str):
    body = body.replace("\n", "")
    constraint = indented_block(indent, first_line_started=True)
    assert _verdicts(constraint, [f"x\n{indent}{body}", "x\ny", f"x\n\n{indent}y"]) == [True, False, True]


def test_buffer_text_that_cannot_be_retyped_asks_for_nothing():
    assert no_repeat("x\ud800y") is None  # a lone surrogate: no model output can contain it


def test_a_long_line_after_the_cursor_gives_a_bounded_constraint():
    line = "f(a/b);" * 50_000  # a minified line
    constraint = no_repeat(line)
    assert len(constraint.grammar) < 10 * NO_REPEAT_CHARS
    assert _verdicts(constraint, ["x = 1", "x" + line]) == [True, False]


BLOCK_HEADERS = [
    "for s in strings:",
    "else:",
    "if x:  # why",
    "if(x):",
    "async with lock:",
    "def f(x: int, y: dict[str, int] = {1: 2}) -> int:",
    'if a[1:] == ":":',
    "while (n := f(g(x))):",
    "if len(arr) == 0:\n        more code",  # the line stop, not the constraint, ends it at the break
]
NOT_BLOCK_HEADERS = ["return x:", "format(x):", "if x: return True", "elsewhere:", "iffy:", "if x", "x = {1: 2}"]


def test_opens_block_takes_block_headers_and_nothing_else():
    compiled = compile_constraints([opens_block()])
    assert all(validate_text(t, compiled).all_satisfied for t in BLOCK_HEADERS)
    assert not any(validate_text(t, compiled).all_satisfied for t in NOT_BLOCK_HEADERS)


def test_starts_with_code_refuses_leading_blanks():
    compiled = compile_constraints([starts_with_code()])
    assert validate_text("return x", compiled).all_satisfied and validate_text("", compiled).all_satisfied
    assert not validate_text("    return x", compiled).all_satisfied
    assert not validate_text("\nreturn x", compiled).all_satisfied


def test_no_block_header_refuses_headers_and_compounds_that_cannot_parse():
    compiled = compile_constraints([no_block_header()])
    one_liners = ["return x", "if x: return y", "x = {1: 2}", "elsewhere = 1", "total += 1\n        more"]
    one_liners += ["for j in range(1, i + 1): x += j", "match = 1", "iffy = 2"]
    assert all(validate_text(t, compiled).all_satisfied for t in one_liners)
    assert not any(validate_text(t, compiled).all_satisfied for t in BLOCK_HEADERS[:-1])
    garbled = ["for i in range(3):  // from the right", "for i in x:  if i: y = i", "while(x): for y in z: w"]
    assert not any(validate_text(t, compiled).all_satisfied for t in garbled)


def test_a_header_above_a_body_that_an_elif_follows_can_be_continued_by_it():
    after_if = compile_constraints([opens_block("elif")])
    assert validate_text("elif gpa > 2.0:", after_if).all_satisfied and validate_text("if x:", after_if).all_satisfied
    assert not any(validate_text(t, after_if).all_satisfied for t in ["else:", "for x in y:"])
    after_try = compile_constraints([opens_block("except")])
    assert validate_text("try:", after_try).all_satisfied and not validate_text("if x:", after_try).all_satisfied


def test_a_block_has_no_trailing_blanks_and_its_blank_lines_are_empty():
    compiled = compile_constraints([no_trailing_blanks()])
    assert validate_text("x = 1\n\n    y = 2", compiled).all_satisfied
    assert not validate_text("x = 1\n    \n    y = 2", compiled).all_satisfied
    assert not validate_text("x = 1  \n    y = 2", compiled).all_satisfied


def test_buffer_constraints_are_not_described_to_a_chat_model():
    request = EngineRequest(
        prompt="p", constraints=[starts_with_code(), PyConstraintIR(name="ids", regex_patterns=["[a-z]+"])]
    )
    prompt = request.system_prompt()
    assert "[a-z]+" in prompt and r"[^\s]" not in prompt
