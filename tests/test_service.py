"""The generation service over real HTTP on 127.0.0.1: `ananke serve` in its own process."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jsonschema
import pytest

from ananke_lsp import Ananke, PyConstraintIR, PyGenerationRequest

from .servers import ENDLESS, ananke_serve

TOKEN = "test-token-7f3a"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def service() -> str:
    with ananke_serve() as url:
        yield url


@pytest.fixture(scope="module")
def locked() -> str:
    env = {
        "ANANKE_SERVICE_TOKEN": TOKEN,
        "ANANKE_MAX_BODY_BYTES": "4096",
        "ANANKE_MAX_TOKENS": "64",
        "ANANKE_MAX_CONSTRAINT_BYTES": "512",
    }
    with ananke_serve(env) as url:
        yield url


def _post(url: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/generate", json=body, **{"timeout": 60, **kw})


def test_json_schema_request_returns_json_the_schema_accepts(service: str):
    body = {
        "prompt": "A person as JSON",
        "constraints": [{"name": "person", "json_schema": json.dumps(SCHEMA)}],
        "max_tokens": 60,
        "temperature": 0.7,
        "seed": 3,
    }
    response = _post(service, body)
    assert response.status_code == 200, response.text
    result = response.json()
    jsonschema.validate(json.loads(result["code"]), SCHEMA)
    assert result["enforced"] == ["person"] and result["validated"] == []
    assert result["validation"]["all_satisfied"] and result["model"].startswith("SmolLM2")
    assert result["tokens_generated"] > 0 and result["timings"]["per_token_us"] > 0


def test_invalid_constraint_is_a_400_naming_it(service: str):
    response = _post(service, {"prompt": "x", "constraints": [{"name": "sql", "grammar": "start: query"}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "constraint_error" and error["constraint"] == "sql" and "query" in error["message"]


def test_stream_sends_deltas_then_a_summary(service: str):
    body = {
        "prompt": "Name a color.",
        "max_tokens": 16,
        "temperature": 0.0,
        "stream": True,
        "constraints": [{"name": "word", "regex_patterns": ["[A-Za-z ]{1,40}"]}],
    }
    events: list[tuple[str, str]] = []
    with httpx.stream("POST", f"{service}/v1/generate", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, line[5:].strip()))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and kinds.count("delta") >= 1
    done = json.loads(events[-1][1])
    assert "".join(json.loads(d)["text"] for k, d in events if k == "delta") == done["code"]
    assert done["validation"]["all_satisfied"]


def _tokens(url: str, headers: dict[str, str] | None = None) -> int:
    return httpx.get(f"{url}/v1/stats", headers=headers, timeout=10).json()["engine_tokens_decoded"]


def _settle(url: str, closed_at: float) -> tuple[float, int]:
    """Poll the engine's token counter until it stops moving; (seconds after close, count)."""
    last, stable_since = _tokens(url), time.monotonic()
    while time.monotonic() - stable_since < 0.5:
        time.sleep(0.02)
        now = _tokens(url)
        if now != last:
            last, stable_since = now, time.monotonic()
    return stable_since - closed_at, last


# The constraint admits no early end: without the disconnect this decodes 3000 tokens (~20 s).
def test_disconnecting_a_stream_stops_generation(service: str):
    with httpx.stream("POST", f"{service}/v1/generate", json={**ENDLESS, "stream": True}, timeout=60) as response:
        deltas = 0
        for line in response.iter_lines():
            deltas += line.startswith("event: delta")
            if deltas == 5:
                break
    closed_at = time.monotonic()
    stopped_after, count = _settle(service, closed_at)
    time.sleep(0.5)
    assert _tokens(service) == count, "the engine kept decoding after the client left"
    assert stopped_after < 1.0, f"decoding went on {stopped_after:.2f} s after the disconnect"
    assert httpx.get(f"{service}/v1/stats").json()["cancelled"] >= 1


def test_disconnecting_a_plain_request_stops_generation(service: str):
    with pytest.raises(httpx.ReadTimeout):
        _post(service, ENDLESS, timeout=httpx.Timeout(60, read=0.5))
    stopped_after, count = _settle(service, time.monotonic())
    assert stopped_after < 1.0
    time.sleep(0.3)
    assert _tokens(service) == count


def test_auth_is_required_when_a_token_is_set(locked: str):
    body = {"prompt": "hi", "max_tokens": 4}
    missing = _post(locked, body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["type"] == "auth"
    assert _post(locked, body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{locked}/v1/health").status_code == 401
    ok = _post(locked, body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["tokens_generated"] <= 4


@pytest.mark.parametrize(
    ("body", "status", "kind", "words"),
    [
        ({"prompt": "x" * 5000}, 413, "too_large", "4096 bytes"),
        ({"prompt": "x", "max_tokens": 65}, 400, "limit", "limit of 64"),
        (
            {"prompt": "x", "max_tokens": 8, "constraints": [{"name": "big", "regex_patterns": ["a" * 600]}]},
            413,
            "too_large",
            "'big'",
        ),
        ({"prompt": 3, "temperature": 5}, 422, "invalid", "temperature"),
        ({"prompt": "x", "unknown": 1}, 422, "invalid", "unknown"),
        ({"prompt": "x", "max_tokens": 8, "model": "gpt-4"}, 400, "bad_request", "serves model"),
    ],
)
def test_limits_and_bad_input_are_clear_4xx(locked: str, body, status, kind, words):
    response = _post(locked, body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind and words in error["message"]


def test_garbage_body_and_unknown_path(locked: str):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad = httpx.post(f"{locked}/v1/generate", content=b"{not json", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "bad_request"
    missing = httpx.get(f"{locked}/v2/anything", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


def test_health_reports_model_engine_and_a_passing_self_test(service: str):
    health = httpx.get(f"{service}/v1/health").json()
    assert health["status"] == "ok" and health["engine"] == "embedded"
    assert health["self_test"]["ok"] and health["self_test"]["output"].startswith("ananke-self-test-")


def _greedy(url: str, prompt: str, **kw: object) -> httpx.Response:
    body = {"prompt": prompt, "chat": False, "max_tokens": 8, "temperature": 0.0, **kw}
    return _post(url, body, timeout=300)


def test_an_empty_prompt_gets_the_same_answer_whoever_asked_before(service: str):
    answers = []
    for previous in ("The capital of France is", "import numpy as np\n"):
        assert _greedy(service, previous).status_code == 200
        answer = _greedy(service, "")
        assert answer.status_code == 200, answer.text
        answers.append(answer.json()["code"])
    assert answers[0] == answers[1], "an empty prompt was answered from the previous request's logits"


@pytest.mark.parametrize("route", ["/v1/generate", "/v1/completions"])
def test_a_prompt_longer_than_the_context_is_a_400_naming_the_limit(service: str, route: str):
    body = {"prompt": "word " * 6000, "max_tokens": 4, **({"chat": False} if route == "/v1/generate" else {})}
    response = httpx.post(f"{service}{route}", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "limit" and "context holds 4096" in error["message"]


@pytest.mark.parametrize("route", ["/v1/generate", "/v1/completions"])
@pytest.mark.parametrize(("stop", "words"), [(["\n"] * 17, "at most 16"), (["x" * 1025], "at most 1024")])
def test_stop_strings_are_bounded(service: str, route: str, stop: list[str], words: str):
    response = httpx.post(f"{service}{route}", json={"prompt": "x", "max_tokens": 4, "stop": stop}, timeout=60)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid" and "stop" in error["message"] and words in error["message"]


def test_clients_that_leave_during_their_prompt_free_the_engine(service: str):
    """Three clients send a long prompt and leave: the next request waits for a chunk of each
    prompt at most, not for their whole evaluation."""
    lines = "def twice(x):\n    return 2 * x\n\n" * 110  # ~1500 tokens
    full = _greedy(service, lines, max_tokens=1)
    assert full.status_code == 200
    prefill_s = full.json()["timings"]["prefill_ms"] / 1000
    for i in range(3):  # a different first line each: no prefix to reuse
        with pytest.raises(httpx.ReadTimeout):
            _post(
                service,
                {"prompt": f"# client {i}\n{lines}", "chat": False, "max_tokens": 1},
                timeout=httpx.Timeout(60, read=0.5),
            )
    started = time.monotonic()
    assert _greedy(service, "x", max_tokens=1).status_code == 200
    waited = time.monotonic() - started
    assert waited < 0.75 * prefill_s, f"waited {waited:.1f} s; one whole prompt takes {prefill_s:.1f} s"


async def test_ananke_api_against_the_service(service: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MODAL_ENDPOINT", service)
    ananke = Ananke.from_env()
    assert await ananke.health_check() is True
    constraint = PyConstraintIR(name="person", json_schema=json.dumps(SCHEMA))
    requests = [
        PyGenerationRequest(prompt=f"Person {i} as JSON", constraints_ir=[constraint], max_tokens=60) for i in range(3)
    ]
    responses = await asyncio.gather(*(ananke.generate(r) for r in requests))
    for response in responses:
        jsonschema.validate(json.loads(response.code), SCHEMA)
        assert response.validation.all_satisfied and response.validation.enforced == ["person"]
        assert response.metadata.engine == "service:embedded"


async def test_unreachable_service_is_a_clear_error_not_a_hang():
    ananke = Ananke(modal_endpoint="http://127.0.0.1:9", timeout_secs=5)
    assert await ananke.health_check() is False
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot reach"):
        await ananke.generate(PyGenerationRequest(prompt="x", max_tokens=4))
    assert time.monotonic() - started < 5  # 3 jittered linear retries: well under a second each
