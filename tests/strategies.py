"""Hypothesis strategies for constraint sources: regexes, Lark grammars and JSON schemas (as
text), random and pathological, for the constraint fuzzer and the service fuzzer alike."""

from __future__ import annotations

import json

from hypothesis import strategies as st

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
