"""Hostile constraints: random and pathological regexes, Lark grammars and JSON schemas either
compile or raise a ``ConstraintError`` that names the constraint, quickly; validating any text
against what compiled never raises."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import (
    CompiledConstraints,
    compile_constraints,
    constraints_hash,
    longest_valid_prefix,
    validate_text,
)
from ananke_lsp.errors import ConstraintError

from .strategies import grammars, json_values, regexes, schema_texts

SLOW_S = 10.0  # generous: every case here takes milliseconds; a regression to a hang fails loudly
FUZZ = settings(max_examples=200, deadline=None)

# -- strategies ---------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12).filter(str.strip)
# Any text, lone surrogates included (a Python str may hold them; UTF-8 cannot).
any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=60)

# -- the property -------------------------------------------------------------------------------


def _compiles_or_names_itself(constraint: PyConstraintIR) -> CompiledConstraints | None:
    """Compile ``constraint`` within the time bound; a refusal must be a ``ConstraintError`` that
    names it and says why."""
    start = time.perf_counter()
    try:
        compiled = compile_constraints([constraint])
    except ConstraintError as err:
        assert err.constraint == constraint.name
        assert f"constraint '{constraint.name}'" in str(err) and err.reason.strip()
        assert isinstance(err, RuntimeError)
        compiled = None
    assert time.perf_counter() - start < SLOW_S
    return compiled


def _validates_anything(compiled: CompiledConstraints, text: str) -> None:
    start = time.perf_counter()
    result = validate_text(text, compiled)
    assert sorted(result.satisfied + result.violated) == sorted(compiled.names)
    assert set(result.errors) == set(result.violated)
    prefix = longest_valid_prefix(text, compiled)
    assert text.startswith(prefix)
    assert time.perf_counter() - start < SLOW_S


@FUZZ
@given(name=names, patterns=st.lists(regexes, min_size=1, max_size=3), text=any_text)
def test_random_regexes_compile_or_are_refused_by_name(name: str, patterns: list[str], text: str):
    compiled = _compiles_or_names_itself(PyConstraintIR(name=name, regex_patterns=patterns))
    if compiled is not None:
        _validates_anything(compiled, text)


@FUZZ
@given(name=names, grammar=grammars, text=any_text)
def test_random_grammars_compile_or_are_refused_by_name(name: str, grammar: str, text: str):
    compiled = _compiles_or_names_itself(PyConstraintIR(name=name, grammar=grammar))
    if compiled is not None:
        _validates_anything(compiled, text)


@FUZZ
@given(name=names, schema=schema_texts, text=st.one_of(json_values.map(json.dumps), any_text))
def test_random_json_schemas_compile_or_are_refused_by_name(name: str, schema: str, text: str):
    compiled = _compiles_or_names_itself(PyConstraintIR(name=name, json_schema=schema))
    if compiled is not None:
        _validates_anything(compiled, text)


@settings(max_examples=80, deadline=None)
@given(schema=schema_texts, grammar=grammars, patterns=st.lists(regexes, max_size=2))
def test_every_part_of_a_mixed_constraint_is_compiled_or_named(schema: str, grammar: str, patterns: list[str]):
    constraint = PyConstraintIR(name="mixed", json_schema=schema, grammar=grammar, regex_patterns=patterns)
    compiled = _compiles_or_names_itself(constraint)
    if compiled is not None:
        assert {p.kind for p in compiled.parts} == {"json_schema", "grammar"} | ({"regex"} if patterns else set())


def _nested(depth: int, wrap: str) -> str:
    return wrap * depth + "{}" + "}" * depth if wrap.startswith("{") else wrap * depth + "{}" + "]}" * depth


PATHOLOGICAL = {
    "exponential alternation": PyConstraintIR(name="p", regex_patterns=["(a|aa)*b"]),
    "nested plus": PyConstraintIR(name="p", regex_patterns=["(x+x+)+y"]),
    "counted repetition": PyConstraintIR(name="p", regex_patterns=["((a{1,100}){1,100}){1,100}"]),
    "intersection of hard regexes": PyConstraintIR(name="p", regex_patterns=["(a|b)*a(a|b){12}", "(a|b)*b(a|b){12}"]),
    "huge alternation": PyConstraintIR(name="p", regex_patterns=["|".join(f"w{i}x" for i in range(20_000))]),
    "lone surrogate regex": PyConstraintIR(name="p", regex_patterns=["a\ud800"]),
    "grammar of 100k+ chars": PyConstraintIR(
        name="p", grammar="start: " + " | ".join(f'"k{i}"' for i in range(15_000))
    ),
    "grammar nested 5000 deep": PyConstraintIR(name="p", grammar="start: " + "(" * 5000 + '"a"' + ")" * 5000),
    "lone surrogate grammar": PyConstraintIR(name="p", grammar='start: "\udc00"'),
    "schema nested 1000 deep (items)": PyConstraintIR(name="p", json_schema=_nested(1000, '{"items": ')),
    "schema nested 1000 deep (anyOf)": PyConstraintIR(name="p", json_schema=_nested(1000, '{"anyOf": [')),
    "schema nested 100k deep": PyConstraintIR(name="p", json_schema=_nested(100_000, '{"items": ')),
    "schema nested 64 properties deep": PyConstraintIR(
        name="p", json_schema='{"properties": {"a": ' * 64 + "{}" + "}}" * 64
    ),
    "invalid JSON": PyConstraintIR(name="p", json_schema='{"type": "object",'),
    "NaN in a schema": PyConstraintIR(name="p", json_schema='{"type": "number", "minimum": NaN}'),
    "number beyond double": PyConstraintIR(name="p", json_schema='{"type": "number", "maximum": 1e999}'),
    "integer of 5000 digits": PyConstraintIR(name="p", json_schema='{"maximum": ' + "9" * 5000 + "}"),
    "escaped lone surrogate": PyConstraintIR(name="p", json_schema='{"const": "\\udfff"}'),
    "schema false": PyConstraintIR(name="p", json_schema="false"),
    "unsatisfiable minLength": PyConstraintIR(name="p", json_schema='{"type": "string", "minLength": 99999999999}'),
    "enum of 20k values": PyConstraintIR(name="p", json_schema=json.dumps({"enum": list(range(20_000))})),
}


@pytest.mark.parametrize("constraint", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_constraints_fail_clearly_or_compile_quickly(constraint: PyConstraintIR):
    with contextlib.suppress(ConstraintError):  # hashing (the cache key) refuses what compiling refuses
        constraints_hash([constraint])
    compiled = _compiles_or_names_itself(constraint)
    if compiled is not None:
        _validates_anything(compiled, "a" * 200 + "b")


def test_schema_true_compiles_and_accepts_any_json():
    compiled = compile_constraints([PyConstraintIR(name="any", json_schema="true")])
    assert validate_text('{"a": [1, null]}', compiled).all_satisfied
    assert not validate_text("{", compiled).all_satisfied


def test_depth_limit_is_stated():
    with pytest.raises(ConstraintError, match="more than 128 levels deep"):
        compile_constraints([PyConstraintIR(name="deep", json_schema=_nested(129, '{"items": '))])
    compile_constraints([PyConstraintIR(name="ok", json_schema=_nested(100, '{"items": '))])


def test_lone_surrogate_text_is_a_violation_not_an_exception():
    compiled = compile_constraints([PyConstraintIR(name="word", regex_patterns=["[a-z]+"])])
    result = validate_text("ab\ud800", compiled)
    assert result.violated == ["word"] and "rejects byte 2" in result.errors["word"]
    assert longest_valid_prefix("ab\ud800", compiled) == "ab"
