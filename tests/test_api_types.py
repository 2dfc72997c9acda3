import pytest
from pydantic import ValidationError

from ananke_lsp import (
    PyConstraintIR,
    PyGenerationContext,
    PyGenerationMetadata,
    PyGenerationRequest,
    PyModalConfig,
    PyProvenance,
)


def test_request_defaults_match_the_seed():
    request = PyGenerationRequest(prompt="p")
    assert (request.max_tokens, request.temperature, request.constraints_ir, request.context) == (2048, 0.7, [], None)


def test_no_shared_mutable_defaults():
    a, b = PyGenerationRequest(prompt="a"), PyGenerationRequest(prompt="b")
    a.constraints_ir.append(PyConstraintIR(name="x", regex_patterns=["x"]))
    assert b.constraints_ir == []
    c, d = PyConstraintIR(name="c"), PyConstraintIR(name="d")
    c.regex_patterns.append("z")
    assert d.regex_patterns == []


@pytest.mark.parametrize("temperature", [-0.1, 1.01, 7])
def test_temperature_outside_zero_to_one_is_rejected(temperature):
    with pytest.raises(ValidationError, match="temperature"):
        PyGenerationRequest(prompt="p", temperature=temperature)


def test_positional_arguments_follow_the_seed_signatures():
    constraint = PyConstraintIR("email", None, None, [r"\w+@\w+"])
    assert constraint.name == "email" and constraint.regex_patterns == [r"\w+@\w+"]
    context = PyGenerationContext("a.py", "python", "/p")
    assert (context.current_file, context.language, context.project_root) == ("a.py", "python", "/p")
    with pytest.raises(TypeError, match="multiple values"):
        PyConstraintIR("a", name="b")


def test_response_parts_are_read_only():
    meta = PyGenerationMetadata(
        tokens_generated=1, generation_time_ms=2, avg_token_time_us=3, constraint_compile_time_ms=0
    )
    with pytest.raises(ValidationError):
        meta.tokens_generated = 5
    prov = PyProvenance(model="m", timestamp=1, original_intent="x")
    with pytest.raises(ValidationError):
        prov.model = "other"


def test_modal_config_from_env(monkeypatch):
    monkeypatch.setenv("MODAL_ENDPOINT", "https://team.modal.run")
    monkeypatch.setenv("MODAL_API_KEY", "sk-secret")
    monkeypatch.delenv("MODAL_MODEL", raising=False)
    config = PyModalConfig.from_env()
    assert (config.endpoint_url, config.api_key, config.max_retries) == ("https://team.modal.run", "sk-secret", 3)
    assert "sk-secret" not in repr(config)
    monkeypatch.delenv("MODAL_ENDPOINT")
    with pytest.raises(RuntimeError, match="MODAL_ENDPOINT"):
        PyModalConfig.from_env()
