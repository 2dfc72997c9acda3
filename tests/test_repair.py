"""Bounded repair: a chat answer that violates a constraint the engine could only validate is
asked again with the error named, at most ``max_repairs`` times, each answer recorded; the last
validation is reported as it is. Against a real local OpenAI-compatible server answering like an
instruct model, through the real engine, the pipeline, the Python API and the language server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pygls.workspace import TextDocument

from ananke_lsp import generation
from ananke_lsp.api import Ananke
from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.api_types import PyGenerationRequest
from ananke_lsp.config import ProjectConfig
from ananke_lsp.config.schema import GenerationSettings, ProjectSettings
from ananke_lsp.constraints import ConstraintCache
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.openai_compat import OpenAICompatibleEngine
from ananke_lsp.server.app import AnankeServer
from ananke_lsp.server.targets import Target

from .instruct_server import MODEL, InstructServer, last_user_message
from .schemas import TWO_SCHEMAS
from .servers import serve_in_thread

PROMPT = "Give a number as JSON"
WRONG = 'Here you go:\n```json\n{"n": 42}\n```'
RIGHT = 'Sorry about that! Corrected:\n```json\n{"n": 7}\n```\nHope this helps.'


def _mends_when_told(body: dict) -> str:
    """Wrong at first; right once the follow-up names the violated constraint."""
    return RIGHT if "'small'" in last_user_message(body) else WRONG


def _request(**fields: object) -> EngineRequest:
    return EngineRequest(prompt=PROMPT, constraints=TWO_SCHEMAS, max_tokens=64, **fields)


async def test_a_violating_answer_is_repaired_when_the_error_is_named():
    server = InstructServer(_mends_when_told)
    with serve_in_thread(server.app()) as url:
        engine = OpenAICompatibleEngine(url, MODEL)
        outcome = await generation.run(engine, ConstraintCache(), _request(), max_repairs=1)
    assert len(server.bodies) == 2
    assert outcome.result.text == '{"n": 7}' and outcome.validation.all_satisfied and outcome.extracted
    (repair,) = outcome.repairs
    assert repair.violated == ["small"] and repair.extracted and repair.tokens_generated > 0
    follow_up = last_user_message(server.bodies[1])
    # the request, the previous (extracted) answer, the constraint by name and its error
    assert follow_up.startswith(PROMPT) and '{"n": 42}' in follow_up
    assert "'small'" in follow_up and repair.errors["small"] in follow_up
    assert [m["role"] for m in server.bodies[1]["messages"]] == ["system", "user"]
    assert server.bodies[1]["messages"][0] == server.bodies[0]["messages"][0]  # the same system prompt
    assert outcome.provenance(PROMPT).repairs == [repair]


async def test_repair_is_bounded_and_the_violation_reported():
    server = InstructServer(lambda body: WRONG)
    with serve_in_thread(server.app()) as url:
        engine, cache = OpenAICompatibleEngine(url, MODEL), ConstraintCache()
        outcome = await generation.run(engine, cache, _request(), max_repairs=2)
        assert len(server.bodies) == 1 + 2
        assert outcome.result.text == '{"n": 42}' and not outcome.validation.all_satisfied
        assert outcome.validation.violated == ["small"] and "small" in outcome.validation.errors
        assert len(outcome.repairs) == 2 and all(r.violated == ["small"] for r in outcome.repairs)
        # every follow-up is rendered from the request itself: it never nests
        last = last_user_message(server.bodies[-1])
        assert last.count(PROMPT) == 1 and last.count("Your previous answer") == 1

        server.bodies.clear()
        outcome = await generation.run(engine, cache, _request(), max_repairs=0)
        assert len(server.bodies) == 1 and outcome.repairs == () and outcome.validation.violated == ["small"]
    with pytest.raises(ValueError, match="max_repairs"):
        await generation.run(engine, cache, _request(), max_repairs=generation.MAX_REPAIRS + 1)


async def test_a_raw_completion_is_not_asked_again():
    """No instruction to follow up on: words added to the prompt would be read as the document."""
    server = InstructServer(lambda body: '{"n": 42}')
    with serve_in_thread(server.app()) as url:
        request = _request(chat=False)
        outcome = await generation.run(OpenAICompatibleEngine(url, MODEL), ConstraintCache(), request, max_repairs=3)
    assert len(server.bodies) == 1 and outcome.repairs == () and outcome.validation.violated == ["small"]


async def test_the_python_api_repairs_and_says_so():
    server = InstructServer(_mends_when_told)
    with serve_in_thread(server.app()) as url:
        ananke = Ananke.with_engine(OpenAICompatibleEngine(url, MODEL))
        response = await ananke.generate(PyGenerationRequest(prompt=PROMPT, constraints_ir=TWO_SCHEMAS))
        assert len(server.bodies) == 1 + generation.DEFAULT_MAX_REPAIRS
        assert response.code == '{"n": 7}' and response.validation.all_satisfied
        assert response.provenance.extracted and [r.violated for r in response.provenance.repairs] == [["small"]]

        server.bodies.clear()
        response = await ananke.generate(PyGenerationRequest(prompt=PROMPT, constraints_ir=TWO_SCHEMAS), max_repairs=0)
        assert len(server.bodies) == 1 and response.validation.violated == ["small"]
        with pytest.raises(ValueError, match="max_repairs"):
            await ananke.generate(PyGenerationRequest(prompt=PROMPT), max_repairs=-1)


async def test_the_language_server_repairs_up_to_the_projects_max_repairs(tmp_path: Path):
    server = InstructServer(lambda body: WRONG)
    settings = ProjectSettings(generation=GenerationSettings(max_repairs=2))
    path = tmp_path / "data.json"
    document = TextDocument(path.as_uri(), "{}", language_id="json")
    target = Target(path.as_uri(), document, path, ProjectConfig(settings, tmp_path))
    with serve_in_thread(server.app()) as url:
        ls = AnankeServer()
        engine = OpenAICompatibleEngine(url, MODEL)
        ls.engine_for = lambda project: engine  # type: ignore[method-assign]
        outcome = await ls.generate(target, _request(context=target.context))
    # still violating after two repairs: reported (the server then cuts it to its longest valid prefix)
    assert len(server.bodies) == 3 and "small" in outcome.validation.violated
    provenance = ls.last_provenance
    assert provenance is not None and provenance.extracted is True
    assert [r.violated for r in provenance.repairs] == [["small"], ["small"]]


def test_max_repairs_setting_is_small_and_bounded():
    assert GenerationSettings().max_repairs == generation.DEFAULT_MAX_REPAIRS
    assert GenerationSettings(max_repairs=generation.MAX_REPAIRS).max_repairs == generation.MAX_REPAIRS
    for bad in (-1, generation.MAX_REPAIRS + 1, "2"):
        with pytest.raises(ValidationError):
            ProjectSettings.model_validate({"generation": {"max_repairs": bad}})


async def test_the_embedded_engine_is_never_repaired_nor_extracted(engine, monkeypatch):
    """It enforces every constraint token by token: even a text it could not finish (a fence the
    budget cut short) is reported as it is, from one request."""
    calls: list[EngineRequest] = []
    generate = engine.generate

    async def counting(request, compiled=None):
        calls.append(request)
        return await generate(request, compiled)

    monkeypatch.setattr(engine, "generate", counting)
    fenced = C(name="fenced", regex_patterns=["```json\n[a-z]{60}\n```"])
    request = EngineRequest(prompt="Write letters.", constraints=[fenced], max_tokens=8, temperature=0.0)
    outcome = await generation.run(engine, ConstraintCache(), request, max_repairs=3)
    assert len(calls) == 1 and outcome.repairs == () and not outcome.extracted
    assert outcome.result.text.startswith("```json\n") and outcome.validation.enforced == ["fenced"]
    assert outcome.validation.violated == ["fenced"]  # cut by the budget, and said so
