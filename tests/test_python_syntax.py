"""The Python syntax constraint at a cursor: where it reads from, when it cannot be built and
says why, and what it lets a real model write."""

import codeop

import pytest

from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.context.python_syntax import MAX_CHARS, MAX_LINES, NAME, python_syntax
from ananke_lsp.engines.base import EngineRequest

MODULE = '''import os


def first(xs):
    """The first item."""
    for x in xs:
        if x:
            return x
        else:
            continue
    '''


def _checked(before: str, text: str) -> bool:
    syntax = python_syntax(before)
    assert syntax.constraint is not None, syntax.reason
    return validate_text(text, compile_constraints([syntax.constraint])).all_satisfied


def test_it_reads_from_the_outermost_statement_at_column_zero():
    syntax = python_syntax(MODULE)
    assert syntax.constraint is not None and syntax.constraint.name == NAME
    assert syntax.start == 3 and syntax.reason == "read from line 4 (indent 0, step 4)"
    assert syntax.constraint.prefix == MODULE[MODULE.index("def first") :]


def test_a_chain_keyword_is_read_with_the_statement_it_continues():
    before = MODULE + "    " + "return None\n\n\nif os.name:\n    pass\nel"
    syntax = python_syntax(before)
    assert syntax.constraint is not None and syntax.constraint.prefix.startswith("if os.name:")
    assert _checked(before, "se:\n    x = 1")
    assert _checked(before, "if y:")  # `elif y:`
    assert not _checked(before, "se y:")


def test_the_suggestion_continues_the_statement_it_starts_in():
    before = MODULE + "return max(xs, key="
    assert _checked(before, "len)")
    assert _checked(before, "lambda x: x[0])")
    assert not _checked(before, "len))")
    assert not _checked(before, "len) return")


def test_keywords_need_blanks_and_blocks_their_indentation():
    assert not _checked(MODULE, "return x notin xs")
    assert _checked(MODULE, "return x not in xs")
    assert not _checked(MODULE, "if xs:\n  return 1")  # a body two columns in, where the file steps four
    assert _checked(MODULE, "if xs:\n        return 1")


def test_tabs_an_unparseable_prefix_and_mixed_steps_are_reported_not_enforced():
    tabs = python_syntax("def f():\n\tif x:\n\t\t")
    assert tabs.constraint is None and "tabs" in tabs.reason
    broken = python_syntax("def f():\n    x = (1, ]\n    ")
    assert broken.constraint is None and "does not parse at line 2" in broken.reason
    # an error above a statement that begins on its own is not read: the statement is, alone
    inner = python_syntax("def f(:\n    return ")
    assert inner.constraint is not None and inner.constraint.prefix == "    return "
    mixed = python_syntax("def f():\n    if a:\n          b = 1\n    return ")
    assert mixed.constraint is None and "indentation" in mixed.reason


def test_a_statement_start_too_far_above_is_not_searched_for():
    before = "x = [\n" + "    1,\n" * (MAX_LINES + 5)
    syntax = python_syntax(before)
    assert syntax.constraint is None and str(MAX_LINES) in syntax.reason


def test_two_space_files_get_a_two_space_grammar():
    before = "def f(xs):\n  for x in xs:\n    "
    syntax = python_syntax(before)
    assert syntax.constraint is not None and "step 2" in syntax.reason
    assert _checked(before, "print(x)\n  return xs")


@pytest.mark.parametrize("cursor_text", ["", "total = "])
async def test_the_model_writes_python_that_parses_where_it_stops(engine, cursor_text):
    before = "def total(xs):\n    " + cursor_text
    syntax = python_syntax(before)
    assert syntax.constraint is not None
    compiled = compile_constraints([syntax.constraint], engine.llg_tokenizer())
    request = EngineRequest(prompt=before, constraints=[syntax.constraint], max_tokens=24, seed=0, temperature=0.0)
    result = await engine.generate(request, compiled)
    assert validate_text(result.text, compiled).all_satisfied
    # Python's own interactive parser: complete, or incomplete (None), never invalid
    codeop.compile_command(before + result.text, "<suggestion>", "exec")


def test_a_statement_too_long_to_read_every_keystroke_is_read_from_inside_or_not_at_all():
    nested = "def g():\n    x = [\n" + "        1,\n" * (MAX_CHARS // 10) + "    ]\n    return "
    inner = python_syntax(nested)  # the `def` is too far back; the `return` line starts a statement
    assert inner.constraint is not None and inner.constraint.prefix == "    return "
    alone = python_syntax("x = " + "1 + " * (MAX_CHARS // 4))
    assert alone.constraint is None and f"longer than {MAX_CHARS} characters" in alone.reason
