"""The Ananke facade on the embedded engine (no service), and its failure modes."""

import asyncio
import json

import jsonschema
import pytest

from ananke_lsp import Ananke, PyConstraintIR, PyGenerationContext, PyGenerationRequest

SCHEMA = {
    "type": "object",
    "properties": {"result": {"type": "string", "maxLength": 30}, "status": {"type": "integer"}},
    "required": ["result", "status"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def ananke() -> Ananke:
    return Ananke.local(cache_size=10)


async def test_local_generate_returns_a_complete_truthful_response(ananke: Ananke):
    request = PyGenerationRequest(
        prompt="Return a JSON object with result and status",
        constraints_ir=[PyConstraintIR(name="json_format", json_schema=json.dumps(SCHEMA))],
        max_tokens=80,
        temperature=0.5,
        context=PyGenerationContext(current_file="api.py", language="python", project_root="/p"),
    )
    response = await ananke.generate(request)
    jsonschema.validate(json.loads(response.code), SCHEMA)
    assert response.validation.all_satisfied and response.validation.satisfied == ["json_format"]
    assert response.validation.enforced == ["json_format"]
    assert response.provenance.constraints_applied == ["json_format"]
    assert response.provenance.original_intent == request.prompt
    assert response.provenance.model.startswith("SmolLM2")
    meta = response.metadata
    assert 0 < meta.tokens_generated <= 80 and meta.generation_time_ms > 0
    assert meta.avg_token_time_us > 0 and meta.finish_reason == "stop"
    assert (await ananke.cache_stats())["size"] == 1


async def test_compile_constraints_is_cached_and_clearable(ananke: Ananke):
    await ananke.clear_cache()
    constraints = [PyConstraintIR(name="n", regex_patterns=[r"[0-9]{3}"])]
    first = await ananke.compile_constraints(constraints)
    again = await ananke.compile_constraints(constraints)
    assert first == again and set(first) == {"hash", "compiled_at", "schema"}
    assert json.loads(first["schema"])["all_of"][0]["kind"] == "regex"
    assert await ananke.cache_stats() == {"size": 1, "limit": 10}
    await ananke.clear_cache()
    assert (await ananke.cache_stats())["size"] == 0


async def test_bad_constraint_is_a_runtime_error_naming_it(ananke: Ananke):
    request = PyGenerationRequest(prompt="x", constraints_ir=[PyConstraintIR(name="broken", grammar="start: nope")])
    with pytest.raises(RuntimeError, match="constraint 'broken' \\(grammar\\)"):
        await ananke.generate(request)


async def test_local_health_check(ananke: Ananke):
    assert await ananke.health_check() is True


def test_invalid_endpoint_and_missing_env_are_runtime_errors(monkeypatch):
    for url in ("invalid://url", "not a url", "https://"):
        with pytest.raises(RuntimeError, match="endpoint"):
            Ananke(modal_endpoint=url)
    monkeypatch.delenv("MODAL_ENDPOINT", raising=False)
    with pytest.raises(RuntimeError, match="MODAL_ENDPOINT"):
        Ananke.from_env()
    monkeypatch.setenv("MODAL_ENDPOINT", "https://x.modal.run")
    monkeypatch.setenv("ANANKE_CACHE_SIZE", "lots")
    with pytest.raises(RuntimeError, match="ANANKE_CACHE_SIZE"):
        Ananke.from_env()


async def test_remote_engine_fails_fast_and_never_leaks_the_key(monkeypatch):
    monkeypatch.setenv("MODAL_ENDPOINT", "https://x.modal.run")
    monkeypatch.setenv("MODAL_API_KEY", "sk-very-secret")
    monkeypatch.setenv("ANANKE_CACHE_SIZE", "7")
    ananke = Ananke.from_env(cache_size=3)
    assert await ananke.cache_stats() == {"size": 0, "limit": 3}
    assert "sk-very-secret" not in repr(ananke) + repr(ananke.config)
    with pytest.raises(RuntimeError, match="cannot reach") as err:  # no network here: DNS fails at once
        await asyncio.wait_for(ananke.generate(PyGenerationRequest(prompt="x")), timeout=10)
    assert "sk-very-secret" not in str(err.value)
    assert await ananke.health_check() is False
