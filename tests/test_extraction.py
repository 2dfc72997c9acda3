"""Extraction: what a request asked for, taken out of an instruct model's fences and prose — the
pure functions, then answers of a real local OpenAI-compatible server through the real engine and
the generation pipeline, and never from text whose constraints were all enforced token by token."""

from __future__ import annotations

import json
import string

from hypothesis import given
from hypothesis import strategies as st

from ananke_lsp import generation
from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.api_types import PyGenerationContext
from ananke_lsp.constraints import ConstraintCache, compile_constraints
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.openai_compat import OpenAICompatibleEngine
from ananke_lsp.extraction import extract, fenced, fences, first_json

from .instruct_server import MODEL, InstructServer
from .schemas import TWO_SCHEMAS
from .servers import serve_in_thread

INSTRUCT_JSON = 'Sure! Here is the JSON:\n```json\n{"n": 5}\n```\nLet me know if you need anything else.'


def test_fenced_prefers_the_requested_language_then_the_first_block():
    text = "Install it:\n```bash\npip install x\n```\nThen:\n```py\ndef f():\n    return 1\n```\nDone."
    assert fenced(text, "python") == "def f():\n    return 1"
    assert fenced(text, "rust") == "pip install x"  # no rust block: the first one
    assert fenced(text) == "pip install x"
    assert fenced("no fence at all") is None


def test_fence_forms_models_write():
    assert fenced("~~~python\nx = 1\n~~~") == "x = 1"
    assert fenced("1. Do this:\n   ```python\n   if x:\n       y()\n   ```\n") == "if x:\n    y()"
    # a longer fence holds a shorter one
    assert fenced("````md\n```python\ninner\n```\n````") == "```python\ninner\n```"
    assert fenced("Here:\n```python\ndef f():\n    ret") == "def f():\n    ret"  # ran out of tokens in the block
    assert fenced("Here:\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n") == "x = 1\r\ny = 2"
    assert fenced("inline ```python x = 1``` is not a block") is None
    assert [f.info for f in fences("```JSON\n{}\n```\n```{.python}\npass\n```")] == ["json", "python"]


def test_first_json_skips_prose_braces_and_keeps_braces_in_strings():
    assert first_json('I used {braces} here. Result: {"a": "}{", "b": [1, {"c": "]"}]} done') == (
        '{"a": "}{", "b": [1, {"c": "]"}]}'
    )
    assert first_json("A list: [1, 2, 3].") == "[1, 2, 3]"
    assert first_json('escaped: {"q": "say \\"}\\" now"} tail') == '{"q": "say \\"}\\" now"}'
    assert first_json("no json {here} [either") is None
    assert first_json("[" * 5000) is None  # too deep for the parser: nothing found, nothing raised


def test_extract_json_prefers_the_whole_text_then_a_json_block_then_the_first_value():
    assert extract('  {"n": 1}\n', json_value=True) == '{"n": 1}'
    # JSON that is the whole answer keeps a fence inside one of its strings
    code = '{"code": "```py\\nx = 1\\n```"}'
    assert extract(code, json_value=True) == code
    assert extract('E.g. {"n": 0}.\n```json\n{"n": 5}\n```', json_value=True) == '{"n": 5}'
    assert extract(INSTRUCT_JSON, json_value=True) == '{"n": 5}'
    assert extract('The answer is {"n": 5} as asked.', json_value=True) == '{"n": 5}'
    assert extract("nothing here", json_value=True) is None


_PROSE = st.text(alphabet=string.ascii_letters + " .,!:\n", max_size=80)
_CODE_LINE = st.text(alphabet=string.ascii_letters + string.digits + " =()[]{}:.,+-*/\"'#", max_size=40)


@given(_PROSE, _PROSE, st.lists(_CODE_LINE, min_size=1, max_size=8), st.sampled_from(["python", "py", ""]))
def test_a_fenced_block_comes_back_whole(before, after, lines, info):
    code = "\n".join(lines)
    text = f"{before}\n```{info}\n{code}\n```\n{after}"
    assert fenced(text, "python") == code
    assert extract(text, language="python") == code


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(_PROSE, _PROSE, st.dictionaries(st.text(max_size=6), _JSON, max_size=4), st.booleans())
def test_a_json_value_in_prose_comes_back_equal(before, after, value, fenced_too):
    dumped = json.dumps(value, indent=2 if fenced_too else None)
    text = f"{before}\n```json\n{dumped}\n```\n{after}" if fenced_too else f"{before} {dumped} {after}"
    found = extract(text, json_value=True)
    assert found is not None and json.loads(found) == value


@given(st.text(max_size=300), st.sampled_from([None, "python", "json"]), st.booleans())
def test_extraction_of_any_text_is_a_part_of_it_and_never_raises(text, language, json_value):
    found = extract(text, language=language, json_value=json_value)
    if found is not None and json_value:
        json.loads(found)
        assert found in text
    elif found is not None:  # a block's lines, less the fence's indentation
        assert all(line.strip() in text for line in found.split("\n"))


async def test_an_instruct_answer_is_extracted_before_validation():
    server = InstructServer(lambda body: INSTRUCT_JSON)
    with serve_in_thread(server.app()) as url:
        engine = OpenAICompatibleEngine(url, MODEL)
        request = EngineRequest(prompt="A small number as JSON", constraints=TWO_SCHEMAS, max_tokens=64)
        outcome = await generation.run(engine, ConstraintCache(), request)
    enforced = json.loads(compile_constraints(TWO_SCHEMAS).parts[0].source)
    assert server.bodies[0]["structured_outputs"] == {"json": enforced}  # sent, and ignored
    assert outcome.result.text == '{"n": 5}' and outcome.extracted
    assert outcome.validation.all_satisfied and outcome.validation.enforced == ["shape"]
    provenance = outcome.provenance("A small number as JSON")
    assert provenance.extracted and provenance.repairs == []


async def test_code_is_taken_from_the_block_in_the_files_language():
    answer = (
        "You will need nothing extra:\n```bash\n# no install\n```\n"
        "Here is the function:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds two numbers."
    )
    grammar = 'start: "def " NAME "(" /[a-z, ]*/ "):\\n    return " /[^\\n]+/\nNAME: /[a-z_]+/'
    constraints = [C(name="one_function", grammar=grammar), C(name="returns", regex_patterns=[r"(?s).*return.*"])]
    server = InstructServer(lambda body: answer)
    with serve_in_thread(server.app()) as url:
        request = EngineRequest(
            prompt="Write add(a, b).", constraints=constraints, context=PyGenerationContext(language="python")
        )
        outcome = await generation.run(OpenAICompatibleEngine(url, MODEL), ConstraintCache(), request)
    assert outcome.result.text == "def add(a, b):\n    return a + b"
    assert outcome.extracted and outcome.validation.all_satisfied and outcome.validation.enforced == ["one_function"]


async def test_an_answer_that_needs_no_extraction_is_left_whole():
    server = InstructServer(lambda body: '{"n": 3}')
    with serve_in_thread(server.app()) as url:
        request = EngineRequest(prompt="JSON", constraints=TWO_SCHEMAS)
        outcome = await generation.run(OpenAICompatibleEngine(url, MODEL), ConstraintCache(), request)
    assert outcome.result.text == '{"n": 3}' and not outcome.extracted and outcome.validation.all_satisfied


async def test_no_extraction_where_the_server_claims_to_enforce_every_constraint():
    """One schema: the server is sent it as its structured output, so the text should be JSON
    already. A server that ignored it is a fault to report, not prose to strip."""
    server = InstructServer(lambda body: INSTRUCT_JSON)
    with serve_in_thread(server.app()) as url:
        request = EngineRequest(prompt="JSON", constraints=TWO_SCHEMAS[:1])
        outcome = await generation.run(OpenAICompatibleEngine(url, MODEL), ConstraintCache(), request, max_repairs=2)
    assert outcome.result.text == INSTRUCT_JSON and not outcome.extracted
    assert outcome.validation.violated == ["shape"] and outcome.validation.enforced == ["shape"]
    assert len(server.bodies) == 1 and outcome.repairs == ()  # an enforced constraint is not asked again


def test_text_held_to_every_constraint_is_never_extracted():
    compiled = compile_constraints([C(name="fenced", regex_patterns=["```json\n[a-z]{60}\n```"])])
    text = "```json\nabcdefgh"  # cut by the budget, the regex enforced: a fence to keep, not strip
    result = EngineResult(
        text=text,
        finish_reason="length",
        tokens_generated=8,
        prompt_tokens=5,
        prefill_ms=1,
        decode_ms=1,
        compile_ms=0,
        model="m",
        engine="embedded",
        enforced=["fenced"],
    )
    outcome = generation.finish(result, compiled, 0.0, request=EngineRequest(prompt="p", constraints=[]))
    assert outcome.result.text == text and not outcome.extracted and outcome.validation.violated == ["fenced"]
    # the same text from an engine that enforced nothing is taken out of its (unclosed) fence
    unenforced = result.model_copy(update={"enforced": []})
    loose = generation.finish(unenforced, compiled, 0.0, request=EngineRequest(prompt="p"))
    assert loose.result.text == "abcdefgh" and loose.extracted


async def test_a_raw_completion_is_never_extracted():
    """A continuation has no prose around it; a fence in it may be the document's own (markdown)."""
    answer = "```python\nx = 1\n```\n"
    server = InstructServer(lambda body: answer)
    with serve_in_thread(server.app()) as url:
        request = EngineRequest(prompt="# Notes\n", chat=False, constraints=TWO_SCHEMAS)
        outcome = await generation.run(OpenAICompatibleEngine(url, MODEL), ConstraintCache(), request, max_repairs=1)
    assert outcome.result.text == answer and not outcome.extracted
    assert len(server.bodies) == 1 and "prompt" in server.bodies[0]
