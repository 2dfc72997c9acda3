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

from ananke_lsp.constraints import (
    CompiledConstraints,
    compile_constraints,
    constraints_hash,
    longest_valid_prefix,
    validate_text,
)
from ananke_lsp.errors import ConstraintError
from ananke_lsp.types import PyConstraintIR

SLOW_S = 10.0  # generous: every case here takes milliseconds; a regression to a hang fails loudly
FUZZ = settings(max_examples=200, deadline=None)

# -- strategies ---------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12).filter(str.strip)
# Any text, lone surrogates included (a Python str may hold them; UTF-8 cannot).
any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=60)

_atom = st.one_of(
    st.sampled_from(list("ab.x/\\|()[]{}*+?^$-&~#\"'\n")),
    st.sampled_from(
        [r"\d", r"\w", r"\s", r"\p{L}", r"[a-z]", r"[^0-9]", r"\b", r"(?i)", r"(?s)", r"\x00", r"\u{10FFFF}"]
    ),
    st.text(max_size=3),
    st.characters(categories=["Cs"]),  # a lone surrogate: a Python str holds it, UTF-8 cannot
)
regexes = st.recursive(
    _atom,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map("|".join),
        inner.map(lambda r: f"({r})"),
        inner.map(lambda r: f"(?:{r})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{0,3}", "{1,}", "*?", "{99999}", "{3,1}"])).map(
            "".join
        ),
    ),
    max_leaves=12,
)

_terminal = st.one_of(
    st.builds(json.dumps, st.text(max_size=4)),
    regexes.map(lambda r: f"/{r}/"),
    st.sampled_from(["%json{}", '%json{"type": "integer"}', "<[1-5]>", "%regex{}", "", "/", '"', "NAME"]),
)
_expr = st.recursive(
    st.one_of(_terminal, _terminal, st.sampled_from(["start", "a", "b", "A", "B", "c", "d", "undefined"])),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(" ".join),
        st.lists(inner, min_size=2, max_size=3).map(" | ".join),
        inner.map(lambda e: f"({e})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "~ 2", "~ 1..3", ""])).map(" ".join),
    ),
    max_leaves=10,
)
_RULE_NAMES = ["a", "b", "A", "B", "?c", "!d"]
grammars = st.one_of(
    st.builds(
        lambda start, rules, ignore: "\n".join(
            [f"start: {start}", *(f"{n}: {e}" for n, e in rules), *(["%ignore /[ \\t]+/"] if ignore else [])]
        ),
        _expr,
        st.lists(st.tuples(st.sampled_from(_RULE_NAMES), _expr), max_size=4, unique_by=lambda r: r[0].strip("?!")),
        st.booleans(),
    ),
    st.text(max_size=80),
)

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=15,
)
_KEYWORDS = {
    "type": st.one_of(
        st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null", "tuple"]),
        st.lists(st.sampled_from(["string", "null", "integer"]), max_size=3),
    ),
    "minimum": st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    "maximum": st.integers(),
    "minLength": st.integers(min_value=-2, max_value=10**12),
    "maxLength": st.integers(min_value=-2, max_value=50),
    "minItems": st.integers(min_value=-1, max_value=10**7),
    "maxItems": st.integers(min_value=0, max_value=5),
    "pattern": regexes,
    "format": st.sampled_from(["date-time", "email", "uuid", "regex", "nonsense"]),
    "enum": st.lists(json_values, max_size=4),
    "const": json_values,
    "required": st.lists(st.text(max_size=4), max_size=3),
    "$ref": st.sampled_from(["#", "#/$defs/a", "#/nowhere", "http://example.com/s.json", "a.json"]),
    "additionalProperties": st.booleans(),
}
schemas = st.recursive(
    st.one_of(
        st.booleans(),
        st.fixed_dictionaries({}, optional=_KEYWORDS),
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {}, optional={"properties": st.dictionaries(st.text(max_size=5), inner, max_size=3), **_KEYWORDS}
        ),
        st.fixed_dictionaries({"items": inner}, optional={"type": st.just("array")}),
        st.fixed_dictionaries(
            {}, optional={"anyOf": st.lists(inner, max_size=3), "$defs": st.fixed_dictionaries({"a": inner})}
        ),
        st.fixed_dictionaries({"allOf": st.lists(inner, max_size=2), "oneOf": st.lists(inner, max_size=2)}),
    ),
    max_leaves=12,
)
schema_texts = st.one_of(
    schemas.map(json.dumps),
    json_values.map(json.dumps).filter(lambda text: text.startswith("{")),  # a JSON object, rarely a schema
    st.text(max_size=40),  # mostly not JSON at all
    st.sampled_from(['{"minimum": NaN}', '{"maximum": Infinity}', '{"minimum": 1e400}', '{"const": "\\ud800"}']),
)

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
