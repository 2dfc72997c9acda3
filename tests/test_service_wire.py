"""The service's HTTP contract converts explicitly: ``GenerateRequest`` lists the public fields of an
``EngineRequest`` with the same types, defaults and bounds, and a field added to the engine's
request stays internal until the contract names it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.line_stops import LineStops
from ananke_lsp.engines.service_wire import GenerateRequest

SERVICE_ONLY = {"stream", "model"}


def test_public_fields_match_the_engine_request_exactly() -> None:
    # as JSON schemas: types, bounds and defaults, down to the models they refer to
    wire, engine = GenerateRequest.model_json_schema(), EngineRequest.model_json_schema()
    public = wire["properties"].keys() - SERVICE_ONLY
    assert public <= engine["properties"].keys()
    for name in public:
        assert wire["properties"][name] == engine["properties"][name], name
    assert wire.get("$defs") == engine.get("$defs")


def test_a_request_crosses_the_wire_and_back_unchanged() -> None:
    request = EngineRequest(
        prompt="def f(",
        chat=False,
        constraints=[PyConstraintIR(name="r", regex_patterns=["[a-z]+"])],
        max_tokens=12,
        temperature=0.0,
        stop=["\n\n"],
        seed=3,
        suffix=")\n",
        line_stops=LineStops(repeats=("return x",), dedent_below=4),
        max_predict_ms=500,
    )
    body = GenerateRequest.from_engine_request(request, stream=True)
    assert body.stream is True and body.model is None
    assert GenerateRequest.model_validate_json(body.model_dump_json()).to_engine_request() == request


def test_an_internal_field_is_not_public_api() -> None:
    with pytest.raises(ValidationError, match="extra"):
        GenerateRequest.model_validate({"prompt": "x", "internal_knob": 1})
