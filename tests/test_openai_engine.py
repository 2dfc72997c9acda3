"""The OpenAI-compatible engine: its request body as data, then real HTTP against `ananke serve`
(which speaks /v1/completions with vLLM's structured_outputs), and a server that ignores them."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ananke_lsp import generation
from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import ConstraintCache, compile_constraints
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.engines.openai_compat import OpenAICompatibleEngine, completion_payload

from .servers import ananke_serve, serve_in_thread

MODEL = "SmolLM2-135M-Instruct.Q4_1"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_payload_uses_structured_outputs_never_guided_fields():
    json_part = C(name="j", json_schema=json.dumps(SCHEMA))
    for constraints, kind in (([json_part], "json"), ([C(name="r", regex_patterns=["a+"])], "regex"), ([], None)):
        compiled = compile_constraints(constraints) if constraints else None
        body = completion_payload(EngineRequest(prompt="p", chat=False, constraints=constraints), MODEL, compiled, True)
        assert not any(k.startswith("guided") for k in _keys(body))
        assert body["prompt"] == "p" and body["stream_options"] == {"include_usage": True}
        assert (list(body["structured_outputs"]) if "structured_outputs" in body else [None]) == [kind]
    chat = completion_payload(EngineRequest(prompt="hi", max_tokens=7, seed=3), MODEL, None, False)
    assert [m["role"] for m in chat["messages"]] == ["system", "user"] and chat["max_tokens"] == 7
    assert chat["seed"] == 3 and "prompt" not in chat


@pytest.fixture(scope="module")
def service() -> str:
    with ananke_serve() as url:
        yield url


async def test_regex_and_json_through_an_openai_compatible_server(service: str):
    engine, cache = OpenAICompatibleEngine(service, MODEL), ConstraintCache()
    assert (await engine.health()).ok
    date = r"20[0-9]{2}-[01][0-9]-[0-3][0-9]"
    outcome = await generation.run(
        engine,
        cache,
        EngineRequest(
            prompt="A date:",
            chat=False,
            constraints=[C(name="date", regex_patterns=[date])],
            max_tokens=16,
            temperature=0.0,
        ),
    )
    assert re.fullmatch(date, outcome.result.text) and outcome.validation.all_satisfied
    outcome = await generation.run(
        engine,
        cache,
        EngineRequest(
            prompt="A number as JSON",
            constraints=[C(name="j", json_schema=json.dumps(SCHEMA))],
            max_tokens=16,
            temperature=0.0,
        ),
    )
    jsonschema.validate(json.loads(outcome.result.text), SCHEMA)
    assert outcome.validation.enforced == ["j"] and outcome.result.tokens_generated > 0


async def test_health_fails_for_a_model_the_server_does_not_serve(service: str):
    health = await OpenAICompatibleEngine(service, "gpt-4").health()
    assert not health.ok and MODEL in health.detail


def _ignores_structured_outputs() -> Starlette:
    """Stands in for an old vLLM that silently ignores the constraint field (vLLM cannot run
    here): it answers with the real model's unconstrained text."""
    engine = EmbeddedEngine()

    async def completions(request):
        body = await request.json()
        result = await engine.generate(EngineRequest(prompt=body["prompt"], chat=False, max_tokens=body["max_tokens"]))
        chunk = {"choices": [{"index": 0, "text": result.text, "finish_reason": "length"}]}
        return JSONResponse(chunk) if not body.get("stream") else _sse(chunk)

    def _sse(chunk):
        from starlette.responses import Response

        return Response(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n", media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"])])


async def test_a_server_that_ignores_constraints_is_caught_by_validation():
    with serve_in_thread(_ignores_structured_outputs()) as url:
        engine = OpenAICompatibleEngine(url, MODEL)
        request = EngineRequest(
            prompt="The weather today is",
            chat=False,
            max_tokens=12,
            temperature=0.0,
            constraints=[C(name="digits", regex_patterns=["[0-9]{12}"])],
        )
        outcome = await generation.run(engine, ConstraintCache(), request)
    assert not re.fullmatch("[0-9]{12}", outcome.result.text)
    assert outcome.validation.violated == ["digits"] and not outcome.validation.all_satisfied
