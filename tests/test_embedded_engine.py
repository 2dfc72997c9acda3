"""The embedded engine on the real SmolLM2-135M model: every constrained output is checked
independently (json.loads + jsonschema, re.fullmatch, a Lark parser), not only by our validator."""

import asyncio
import json
import re
import time

import jsonschema
import lark
import pytest

from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.embedded import load_model

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


async def _greedy(engine, prompt: str, **kw) -> EngineResult:
    return await engine.generate(EngineRequest(prompt=prompt, chat=False, temperature=0.0, **{"max_tokens": 8, **kw}))


async def test_an_empty_prompt_is_answered_from_its_own_logits(engine):
    """An empty document: the model starts from its document-start token, never from the logits
    the previous request left behind (that was a NULL pointer, or another client's text)."""
    answers = []
    for previous in ("The capital of France is", "import numpy as np\n"):
        await _greedy(engine, previous)
        answers.append(await _greedy(engine, ""))
    assert answers[0].text == answers[1].text
    assert answers[0].prompt_tokens == 1


async def _cancel_after_first_chunk(engine, prompt: str) -> None:
    llm = engine.loaded().llm
    work = asyncio.create_task(_greedy(engine, prompt))
    while llm.n_tokens == 0:  # the first chunk is in
        await asyncio.sleep(0.01)
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work


async def test_a_cancelled_prefill_reads_on_while_nothing_waits_and_stops_for_the_next_request(engine):
    loaded = engine.loaded()
    llm = loaded.llm
    prompt = "def twice(x):\n    return 2 * x\n\n" * 120
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    await asyncio.wrap_future(loaded.executor.submit(llm.reset))
    await _cancel_after_first_chunk(engine, prompt)
    await asyncio.wrap_future(loaded.executor.submit(lambda: None))  # the decode thread is free
    # nobody waited: the prompt was read on for the next keystroke's request, and decoding never began
    assert llm.n_tokens == len(tokens) and list(llm.input_ids[: len(tokens)]) == tokens
    await asyncio.wrap_future(loaded.executor.submit(llm.reset))
    await _cancel_after_first_chunk(engine, prompt)
    again = await _greedy(engine, prompt, max_tokens=1)  # waits: the cancelled read stops within a chunk
    assert again.prompt_tokens == len(tokens) and again.tokens_generated == 1
    assert again.prefilled_tokens is not None and 0 < again.prefilled_tokens < len(tokens)


async def test_a_suggestion_cut_mid_character_drops_the_incomplete_bytes(engine):
    # "😀" is three tokens of SmolLM2's byte-level vocabulary: one token is a third of it
    loaded = engine.loaded()
    assert len(loaded.llm.tokenize("😀".encode(), add_bos=False, special=False)) > 1
    constraint = [C(name="emoji", regex_patterns=["😀+"])]
    cut, _ = await _generate(engine, "Smile", constraint, max_tokens=1)
    assert cut.finish_reason == "length" and cut.tokens_generated == 1
    assert "\ufffd" not in cut.text


async def test_a_request_sharing_a_prompt_prefix_prefills_only_the_rest(engine):
    head = "def area(width: float, height: float) -> float:\n    " * 8
    first = await engine.generate(EngineRequest(prompt=head + "return", chat=False, max_tokens=2, temperature=0.0))
    second = await engine.generate(EngineRequest(prompt=head + "pass", chat=False, max_tokens=2, temperature=0.0))
    assert first.prefilled_tokens is not None and second.prefilled_tokens is not None
    assert second.prompt_tokens > 40 and second.prefilled_tokens <= 3  # the head came from the KV cache


async def test_past_max_predict_ms_a_suggestion_ends_at_its_first_line_end(engine):
    counting = "".join(f"{n}\n" for n in range(1, 30))  # the model goes on counting, a line a number
    request = EngineRequest(prompt=counting, chat=False, max_tokens=200, temperature=0.0, max_predict_ms=1)
    result = await engine.generate(request)
    assert result.finish_reason == "time" and result.tokens_generated < 200
    assert result.text.endswith("\n") and result.text.count("\n") == 1  # one whole line, not half of one


async def test_without_max_predict_ms_the_same_request_runs_on(engine):
    counting = "".join(f"{n}\n" for n in range(1, 30))
    result = await engine.generate(EngineRequest(prompt=counting, chat=False, max_tokens=12, temperature=0.0))
    assert result.finish_reason == "length" and result.text.count("\n") > 1


async def test_going_back_to_a_file_starts_from_its_saved_kv_state_and_answers_as_if_cold(engine, monkeypatch):
    first = "def area(width: float, height: float) -> float:\n    " * 12
    other = "class Stack:\n    def push(self, item):\n        self.items.append(item)\n" * 12

    async def ask(prompt: str) -> EngineResult:
        return await engine.generate(EngineRequest(prompt=prompt, chat=False, max_tokens=8, temperature=0.0))

    await ask(first + "return")
    await ask(other + "def pop(self):")
    back = await ask(first + "pass")
    assert back.prompt_tokens > 100 and back.prefilled_tokens is not None and back.prefilled_tokens <= 3
    monkeypatch.setenv("ANANKE_KV_REUSE", "0")  # the same prompt read from nothing
    cold = await ask(first + "pass")
    assert cold.prefilled_tokens == cold.prompt_tokens and cold.text == back.text
