"""Constraint compilation, hashing, caching and validation against llguidance itself."""

import json
import re

import pytest

from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import ConstraintCache, compile_constraints, constraints_hash, validate_text
from ananke_lsp.errors import ConstraintError

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}},
    "required": ["id"],
    "additionalProperties": False,
}


def test_hash_is_deterministic_and_ignores_order_and_key_order():
    a = [C(name="j", json_schema=json.dumps(SCHEMA)), C(name="r", regex_patterns=["a+", "b*"])]
    reordered_schema = json.dumps(dict(reversed(list(SCHEMA.items()))))
    b = [C(name="r", regex_patterns=["b*", "a+"]), C(name="j", json_schema=reordered_schema)]
    assert constraints_hash(a) == constraints_hash(b)
    assert constraints_hash(a) != constraints_hash([C(name="r", regex_patterns=["a+"])])


@pytest.mark.parametrize(
    ("constraint", "kind", "reason"),
    [
        (C(name="bad-regex", regex_patterns=["(unclosed"]), "regex", "unclosed group"),
        (C(name="bad-grammar", grammar="start: missing_rule"), "grammar", "unknown name"),
        (C(name="bad-schema", json_schema='{"type": "integr"}'), "json_schema", "integr"),
        (C(name="not-json", json_schema="{oops"), "json_schema", "not valid JSON"),
        (C(name="empty"), "constraint", "none of"),
    ],
)
def test_compile_error_names_the_constraint_and_gives_the_reason(constraint, kind, reason):
    with pytest.raises(ConstraintError) as err:
        compile_constraints([constraint])
    assert isinstance(err.value, RuntimeError)
    assert err.value.constraint == constraint.name and err.value.kind == kind
    assert constraint.name in str(err.value) and reason in str(err.value)


def test_duplicate_names_are_rejected():
    with pytest.raises(ConstraintError, match="share this name"):
        compile_constraints([C(name="x", regex_patterns=["a"]), C(name="x", regex_patterns=["b"])])


def test_gbnf_style_root_rule_is_the_start_rule():
    compiled = compile_constraints([C(name="g", grammar='root: "{" "}"')])
    assert validate_text("{}", compiled).all_satisfied
    assert not validate_text("{", compiled).all_satisfied


def test_all_regexes_of_a_constraint_must_hold():
    compiled = compile_constraints([C(name="r", regex_patterns=[r"[a-z]+", r".{3}"])])
    assert validate_text("abc", compiled).all_satisfied
    for text in ("abcd", "ab1", "AB"):
        result = validate_text(text, compiled)
        assert result.violated == ["r"] and "r" in result.errors
        assert not (re.fullmatch(r"[a-z]+", text) and re.fullmatch(r".{3}", text))


def test_validation_reports_each_constraint_separately():
    compiled = compile_constraints(
        [C(name="json", json_schema=json.dumps(SCHEMA)), C(name="short", regex_patterns=[".{1,8}"])]
    )
    result = validate_text('{"id": 12345}', compiled)
    assert result.satisfied == ["json"] and result.violated == ["short"] and not result.all_satisfied
    result = validate_text('{"id":1}', compiled)
    assert result.all_satisfied and result.violated == []
    incomplete = validate_text('{"id":', compiled)
    assert "incomplete" in incomplete.errors["json"]


def test_json_validation_accepts_any_whitespace_but_not_extra_keys():
    compiled = compile_constraints([C(name="json", json_schema=json.dumps(SCHEMA))])
    assert validate_text('{ "id" : 7 }', compiled).all_satisfied
    assert not validate_text('{"id": 7, "x": 1}', compiled).all_satisfied


def test_compiled_schema_is_llguidance_grammar_json():
    compiled = compile_constraints([C(name="j", json_schema=json.dumps(SCHEMA))])
    doc = json.loads(compiled.schema)
    assert doc["all_of"][0]["constraint"] == "j"
    grammar = doc["all_of"][0]["grammar"]  # an llguidance grammar string, usable as is
    assert json.loads(grammar)["grammars"][0]["json_schema"]["required"] == ["id"]


def test_cache_is_lru_and_honours_limit_and_disable():
    cache = ConstraintCache(limit=2)
    sets = [[C(name=f"c{i}", regex_patterns=[f"a{{{i}}}"])] for i in range(3)]
    first, hit = cache.get(sets[0])
    assert not hit and cache.get(sets[0]) == (first, True)
    cache.get(sets[1])
    cache.get(sets[0])  # c0 is now the most recent: c1 goes first
    cache.get(sets[2])
    assert cache.stats() == {"size": 2, "limit": 2}
    assert cache.get(sets[0])[1] and not cache.get(sets[1])[1]
    cache.clear()
    assert cache.stats()["size"] == 0
    off = ConstraintCache(enabled=False, limit=10)
    off.get(sets[0])
    assert off.get(sets[0])[1] is False and off.stats() == {"size": 0, "limit": 10}


def test_matcher_memo_is_bounded_by_estimated_bytes_and_by_count():
    from ananke_lsp.constraints.matcher_memo import MatcherMemo, matcher_bytes

    built: list[str] = []

    def build(grammar: str) -> object:
        built.append(grammar)
        return object()

    small = [f"start: /a{{{i}}}/" for i in range(4)]
    memo = MatcherMemo(build, limit=3, max_bytes=10 * matcher_bytes("x" * 1000))  # type: ignore[arg-type]
    for grammar in small:
        memo(grammar)
    assert len(memo) == 3 and memo(small[-1]) is memo(small[-1]) and len(built) == 4  # by count
    large = "start: /b/ " + "x" * 4000  # weighs 4 of the 10: two of them fit, not three
    for i in range(3):
        memo(large + str(i))
    assert len(memo) == 2 and built[-3:] == [large + str(i) for i in range(3)]
    huge = "x" * 20_000  # over the whole budget: built and used, never kept
    assert memo(huge) is not memo(huge) and len(memo) == 2
