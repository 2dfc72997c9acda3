"""The "Add docstring" constraint: indentation from the buffer reaches it through `regex_literal`,
the one escaper for buffer text (valid as a plain regex and inside a Lark `/…/` lexeme alike), and
it holds a docstring to exactly that indentation whatever the indentation is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.context.buffer_constraints import regex_literal
from ananke_lsp.server.python_actions import docstring_constraint


def test_the_indentation_is_escaped_by_the_buffer_escaper():
    for indent in ("    ", "\t", "\t  ", " \x0c "):
        [pattern] = docstring_constraint(indent).regex_patterns
        assert pattern.startswith(regex_literal(indent) + '"""'), pattern


@settings(max_examples=60, deadline=None)
@given(st.text(st.sampled_from(" \t\x0c"), min_size=1, max_size=12))
def test_a_docstring_is_held_to_its_indentation(indent: str):
    compiled = compile_constraints([docstring_constraint(indent)])
    assert validate_text(f'{indent}"""Sum.\n{indent}More.\n\n{indent}"""\n', compiled).all_satisfied
    assert not validate_text(f'{indent}"""Sum.\nMore.\n{indent}"""\n', compiled).all_satisfied
    assert not validate_text(f'x{indent}"""Sum."""\n', compiled).all_satisfied
