"""A grammar that reads a prefix before the generated text (PyConstraintIR.prefix): compiled,
enforced on the real model, validated, closed and planned with its prefix read first."""

import pytest

from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import ConstraintCache, compile_constraints, longest_valid_prefix, validate_text
from ananke_lsp.constraints.closing import Closer
from ananke_lsp.constraints.compile import constraints_hash
from ananke_lsp.constraints.plan import structured_plan
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.errors import ConstraintError

# `NAME = NUMBER;` statements: a prefix ending in `= ` leaves a number and a `;` to generate.
STATEMENTS = 'start: stmt+\nstmt: NAME " = " NUMBER ";"\nNAME: /[a-z]+/\nNUMBER: /[0-9]+/'


def test_the_text_continues_the_prefix():
    compiled = compile_constraints([C(name="stmts", grammar=STATEMENTS, prefix="a = 1;b = ")])
    assert validate_text("22;", compiled).all_satisfied
    assert validate_text("22;c = 3;", compiled).all_satisfied
    # the middle of a document: a text the grammar reads through holds, the rest comes after it
    assert validate_text("22;c", compiled).all_satisfied
    assert "rejects byte 0" in validate_text("x", compiled).errors["stmts"]
    assert "rejects byte 2" in validate_text("7;;", compiled).errors["stmts"]
    assert longest_valid_prefix("7;q =x", compiled) == "7;q ="


def test_a_prefix_the_grammar_does_not_admit_is_an_error_naming_the_constraint():
    with pytest.raises(ConstraintError, match=r"'stmts' \(grammar\).*does not admit the prefix.*line 1, column 10"):
        compile_constraints([C(name="stmts", grammar=STATEMENTS, prefix="a = 1;b == ")])


def test_a_prefix_needs_a_grammar():
    with pytest.raises(ConstraintError, match=r"'digits'.*a prefix is read by a grammar"):
        compile_constraints([C(name="digits", regex_patterns=["[0-9]+"], prefix="1")])


def test_the_prefix_is_part_of_the_hash_and_of_the_cache_key():
    first, second = C(name="s", grammar=STATEMENTS, prefix="a = "), C(name="s", grammar=STATEMENTS, prefix="ab = ")
    assert constraints_hash([first]) != constraints_hash([second])
    assert constraints_hash([C(name="s", grammar=STATEMENTS)]) == constraints_hash([C(name="s", grammar=STATEMENTS)])
    cache = ConstraintCache()
    one, _ = cache.get([first])
    two, hit = cache.get([second])
    assert not hit and one.parts[0].prefix == "a = " and two.parts[0].prefix == "ab = "


def test_the_closing_search_reads_the_prefix_first():
    compiled = compile_constraints([C(name="stmts", grammar=STATEMENTS, prefix="a = ")])
    closer = Closer(compiled.parts)
    closer.feed(b"12")
    assert closer.closing() == b";"


def test_a_backend_of_one_structured_output_validates_a_prefixed_grammar():
    compiled = compile_constraints(
        [C(name="stmts", grammar=STATEMENTS, prefix="a = "), C(name="digits", regex_patterns=["[0-9;]+"])]
    )
    plan = structured_plan(compiled)
    assert plan.kind == "regex" and plan.enforced == ["digits"] and plan.validated_only == ["stmts"]
    alone = structured_plan(compile_constraints([C(name="stmts", grammar=STATEMENTS, prefix="a = ")]))
    assert alone.kind is None and alone.validated_only == ["stmts"]


async def test_the_model_continues_the_prefix_token_by_token(engine):
    constraint = C(name="stmts", grammar=STATEMENTS, prefix="x = 1;y = ")
    compiled = compile_constraints([constraint], engine.llg_tokenizer())
    request = EngineRequest(prompt="Some numbers:", constraints=[constraint], max_tokens=12, seed=3)
    result = await engine.generate(request, compiled)
    assert result.text[:1].isdigit()  # a number first: the prefix left the statement at its value
    assert validate_text(result.text, compiled).all_satisfied or result.finish_reason == "length"
