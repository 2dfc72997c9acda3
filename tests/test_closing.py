"""Finishing constrained outputs inside the budget: objects closed for generation, the closing
search on real llguidance grammars, and the embedded engine using both on the real model."""

import json
import re

import jsonschema
import pytest

from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.constraints.closed_objects import closed_objects
from ananke_lsp.constraints.closing import Closer
from ananke_lsp.engines.base import EngineRequest

OPEN = {"type": "object", "properties": {"result": {"type": "string"}}}
NESTED = {
    "type": "object",
    "properties": {
        "a": {"type": "object", "properties": {"b": {"type": "array", "items": {"type": "integer"}}}},
        "c": {"type": "string"},
    },
    "required": ["a", "c"],
}
DEF = 'start: "def " NAME "(" ")" ":"\nNAME: /[a-z]+/'
ASSIGN = (
    'start: stmt+\nstmt: NAME "=" expr "\\n"\nexpr: NAME | NUMBER | expr "+" expr | "(" expr ")" | NAME "(" expr ")"\n'
    'NAME: /[a-z]+/\nNUMBER: /[0-9]+/\n%ignore " "'
)


def test_objects_that_name_their_keys_are_closed_and_explicit_choices_kept():
    schema = {
        "type": "object",
        "properties": {"inner": OPEN, "free": {"type": "object", "additionalProperties": True, "properties": {}}},
        "$defs": {"d": OPEN},
        "anyOf": [OPEN, {"type": "object"}],
        "allOf": [OPEN],
    }
    closed = closed_objects(schema)
    assert "additionalProperties" not in closed  # it has allOf: closing it would reject allOf's keys
    assert closed["properties"]["inner"]["additionalProperties"] is False
    assert closed["properties"]["free"]["additionalProperties"] is True
    assert closed["$defs"]["d"]["additionalProperties"] is False
    assert closed["anyOf"][0]["additionalProperties"] is False
    assert "additionalProperties" not in closed["anyOf"][1]  # names no keys: stays open
    assert closed["allOf"] == [OPEN]
    assert schema["properties"]["inner"] == OPEN  # the user's schema is not modified


def test_validation_keeps_the_users_open_schema():
    compiled = compile_constraints([C(name="open", json_schema=json.dumps(OPEN))])
    assert validate_text('{"result": "x", "extra": 1}', compiled).all_satisfied
    assert json.loads(compiled.parts[0].source)["additionalProperties"] is False  # what other backends enforce


@pytest.mark.parametrize(
    ("constraint", "prefix"),
    [
        (C(name="json", json_schema=json.dumps(OPEN)), '{"result":"12345'),
        (C(name="nested", json_schema=json.dumps(NESTED)), '{"a":{"b":[1,2'),
        (C(name="def", grammar=DEF), "def fo"),
        (C(name="assign", grammar=ASSIGN), "x = foo((a + 1"),
        (C(name="phone", regex_patterns=[r"[0-9]{3}-[0-9]{4}"]), "12"),
        (C(name="mail", regex_patterns=[r"[a-z]+@[a-z]+\.com"]), "bob@ex"),
    ],
)
def test_closing_completes_the_text_for_every_kind_of_constraint(constraint, prefix):
    compiled = compile_constraints([constraint])
    closer = Closer(compiled.parts)
    closer.feed(prefix.encode())
    closing = closer.closing()
    assert closing is not None
    assert not validate_text(prefix, compiled).all_satisfied
    assert validate_text(prefix + closing.decode(), compiled).all_satisfied, closing
    assert len(closing) <= 12  # the short way out, not any way out


def test_closing_of_a_complete_text_is_empty_and_of_a_rejected_text_is_none():
    compiled = compile_constraints([C(name="phone", regex_patterns=[r"[0-9]{3}"])])
    done, wrong = Closer(compiled.parts), Closer(compiled.parts)
    done.feed(b"123")
    wrong.feed(b"12x")
    assert done.closing() == b""
    assert wrong.closing() is None


def test_closing_honours_every_constraint_at_once():
    compiled = compile_constraints(
        [C(name="digits", regex_patterns=[r"[0-9]+"]), C(name="four", regex_patterns=[r".{4}"])]
    )
    closer = Closer(compiled.parts)
    closer.feed(b"1")
    closing = closer.closing()
    assert closing is not None and re.fullmatch(r"[0-9]{4}", "1" + closing.decode())


async def test_engine_finishes_a_looping_json_value_inside_max_tokens(engine):
    constraint = C(name="open", json_schema=json.dumps(OPEN))
    compiled = compile_constraints([constraint])
    request = EngineRequest(
        prompt="Count from 1 to 100 in the result string.", constraints=[constraint], max_tokens=12, seed=1
    )
    result = await engine.generate(request, compiled)
    assert result.tokens_generated <= 12
    assert result.closing_tokens > 0 and result.finish_reason == "length"
    jsonschema.validate(json.loads(result.text), OPEN)
    assert validate_text(result.text, compiled).all_satisfied


async def test_engine_truncates_honestly_when_no_closing_fits(engine):
    schema = {"type": "object", "properties": {"s": {"type": "string", "minLength": 200}}, "required": ["s"]}
    constraint = C(name="long", json_schema=json.dumps(schema))
    compiled = compile_constraints([constraint])
    request = EngineRequest(prompt="Write a long text.", constraints=[constraint], max_tokens=10, seed=1)
    result = await engine.generate(request, compiled)
    assert result.closing_tokens == 0 and result.finish_reason == "length"
    assert not validate_text(result.text, compiled).all_satisfied
