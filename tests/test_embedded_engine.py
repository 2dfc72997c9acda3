"""The embedded engine on the real SmolLM2-135M model: every constrained output is checked
independently (json.loads + jsonschema, re.fullmatch, a Lark parser), not only by our validator."""

import asyncio
import json
import re
import time

import jsonschema
import lark
import pytest

from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.embedded import load_model
from ananke_lsp.types import PyConstraintIR as C

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
SQL = """
start: "SELECT " column (", " column)~0..2 " FROM " TABLE ";"
column: NAME
NAME: /[a-z_]{1,12}/
TABLE: /[a-z_]{1,12}/
"""
DATE = r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"


async def _generate(engine, prompt, constraints, **kw):
    compiled = compile_constraints(constraints)
    result = await engine.generate(EngineRequest(prompt=prompt, constraints=constraints, **kw), compiled)
    return result, validate_text(result.text, compiled, result.enforced)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_json_schema_output_is_valid_json_for_the_schema(engine, seed):
    result, validation = await _generate(
        engine,
        "Describe a person as JSON.",
        [C(name="person", json_schema=json.dumps(PERSON))],
        max_tokens=120,
        temperature=0.8,
        seed=seed,
    )
    jsonschema.validate(json.loads(result.text), PERSON)
    assert validation.all_satisfied and validation.enforced == ["person"]
    assert result.finish_reason == "stop"


@pytest.mark.parametrize("seed", [1, 2])
async def test_regex_output_fullmatches(engine, seed):
    result, validation = await _generate(
        engine,
        "When was the moon landing?",
        [C(name="date", regex_patterns=[DATE])],
        max_tokens=20,
        temperature=1.0,
        seed=seed,
    )
    assert re.fullmatch(DATE, result.text), result.text
    assert validation.all_satisfied


async def test_lark_grammar_output_parses_with_lark(engine):
    result, validation = await _generate(
        engine,
        "Write a SQL query listing user names.",
        [C(name="sql", grammar=SQL)],
        max_tokens=40,
        temperature=0.5,
        seed=4,
    )
    lark.Lark(SQL, parser="earley").parse(result.text)
    assert validation.all_satisfied


async def test_several_constraints_all_hold_at_once(engine):
    constraints = [C(name="sql", grammar=SQL), C(name="users-table", regex_patterns=[r".* FROM users;"])]
    result, validation = await _generate(engine, "Query the users table.", constraints, max_tokens=40, seed=5)
    lark.Lark(SQL, parser="earley").parse(result.text)
    assert result.text.endswith(" FROM users;")
    assert validation.all_satisfied and validation.enforced == ["sql", "users-table"]


async def test_unconstrained_generation_reports_truthful_metadata(engine):
    started = time.perf_counter()
    result = await engine.generate(EngineRequest(prompt="Count to ten.", max_tokens=12, temperature=0.0))
    wall_ms = (time.perf_counter() - started) * 1000
    assert result.tokens_generated <= 12 and result.prompt_tokens > 5
    assert (result.finish_reason == "length") == (result.tokens_generated == 12)
    assert 0 < result.generation_ms <= wall_ms
    assert result.compile_ms == 0 and result.enforced == []


async def test_stream_deltas_add_up_to_the_result(engine):
    deltas, final = [], None
    async for item in engine.stream(EngineRequest(prompt="Name three fruits.", max_tokens=24, temperature=0.0)):
        if isinstance(item, EngineResult):
            final = item
        else:
            deltas.append(item)
    assert final is not None and len(deltas) >= 2
    assert "".join(deltas) == final.text


async def test_closing_the_stream_stops_decoding(engine):
    loaded = load_model()
    stream = engine.stream(EngineRequest(prompt="Write a long story.", max_tokens=2000, temperature=0.0))
    for _ in range(3):
        await stream.__anext__()
    await stream.aclose()
    await asyncio.sleep(0.2)
    stopped_at = loaded.tokens_decoded
    await asyncio.sleep(0.5)  # at ~100+ tok/s, a running decode would add dozens of tokens here
    assert loaded.tokens_decoded - stopped_at <= 1


async def test_generation_does_not_block_the_event_loop(engine):
    gaps, last = [], time.perf_counter()

    async def ticker():
        nonlocal last
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    result = await engine.generate(EngineRequest(prompt="Explain recursion.", max_tokens=60, temperature=0.0))
    task.cancel()
    assert result.tokens_generated > 10
    assert max(gaps) < 0.25, f"event loop stalled for {max(gaps) * 1000:.0f} ms"


def test_model_loads_once_per_process(engine):
    assert load_model() is load_model() is engine.loaded()
