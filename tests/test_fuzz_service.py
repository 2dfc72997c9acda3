"""Hostile requests to the generation service (a real uvicorn server on 127.0.0.1, on an engine
that answers at once): every refusal is a 4xx with a structured ``ErrorBody``, never a 500, and
the service keeps answering ``/v1/health``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modal_service.server import create_app
from modal_service.settings import ServerSettings

from .fake_engines import BUG, REFUSED, CannedEngine
from .servers import serve_in_thread, wait_healthy
from .strategies import grammars, regexes, schema_texts

TOKEN = "fuzz-token-3c1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMITS = ServerSettings(token=TOKEN, max_body_bytes=16 << 10, max_tokens=300, max_constraint_bytes=4 << 10)
ROUTES = ["/v1/generate", "/v1/completions", "/v1/chat/completions"]
FUZZ = settings(max_examples=200, deadline=None)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(CannedEngine(), LIMITS)) as url:
        wait_healthy(url, AUTH)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield http


def _answered(response: httpx.Response) -> dict[str, object] | None:
    """No 5xx; a refusal carries ``{"error": {"type", "message"}}``. The error, or None for a 2xx."""
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return None
    error = response.json()["error"]
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"].strip()
    return error


def _still_healthy(client: httpx.Client) -> None:
    health = client.get("/v1/health", headers=AUTH)
    assert health.status_code == 200 and health.json()["status"] == "ok"


# -- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)
_wrong = st.one_of(
    json_values,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 10**30, 1e308, -0.0, "", "x" * 5000, [], {}]),
)
constraints = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=6), _wrong)},
    optional={
        "json_schema": st.one_of(st.sampled_from(['{"type": "integer"}', "{", "NaN", '{"a": 1e999}', "false"]), _wrong),
        "grammar": st.one_of(st.sampled_from(['start: "x"', "start: nope", "%%%", " "]), _wrong),
        "regex_patterns": st.one_of(st.lists(st.sampled_from(["[a-z]+", "(", "", "(?=a)", "a{99999}"])), _wrong),
        "extra": _wrong,
    },
)
# Stop strings around their bounds (16 strings, 1024 characters): every one is checked per token.
stops = st.one_of(
    st.lists(st.text(max_size=3), max_size=20),
    st.lists(st.text("ab\n", min_size=1000, max_size=1100), max_size=2),
    st.text(max_size=3),  # the OpenAI shapes also take one string
)
_FIELDS = {
    "prompt": st.one_of(st.text(max_size=20), _wrong),
    "constraints": st.one_of(st.lists(constraints, max_size=3), _wrong),
    "max_tokens": st.one_of(st.integers(min_value=-5, max_value=200), _wrong),
    "temperature": st.one_of(st.floats(), _wrong),
    "top_p": st.one_of(st.floats(), _wrong),
    "stop": st.one_of(stops, _wrong),
    "seed": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), _wrong),
    "chat": _wrong,
    "suffix": _wrong,
    "context": st.one_of(st.fixed_dictionaries({}, optional={"language": _wrong, "current_file": _wrong}), _wrong),
    "model": st.one_of(st.just(CannedEngine.model), _wrong),
    "stream": st.booleans(),
    "messages": st.one_of(
        st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "tool"]), "content": _wrong})),
        _wrong,
    ),
    "structured_outputs": st.one_of(
        st.fixed_dictionaries(
            {}, optional={"json": _wrong, "regex": st.sampled_from(["[0-9]+", "("]), "grammar": _wrong}
        ),
        _wrong,
    ),
}
requests = st.fixed_dictionaries({}, optional=_FIELDS)
# Well-formed but for the constraints, which are the constraint fuzzer's: these reach the compiler.
_names = st.text(min_size=1, max_size=6).filter(str.strip)
plausible_constraints = st.fixed_dictionaries(
    {"name": _names},
    optional={"json_schema": schema_texts, "grammar": grammars, "regex_patterns": st.lists(regexes, max_size=2)},
)
_common = {
    "seed": st.integers(min_value=-3, max_value=2**64),
    "temperature": st.floats(min_value=0, max_value=2),
    "stop": stops,
    "stream": st.booleans(),
}
_plausible = {
    "/v1/generate": st.fixed_dictionaries(
        {"prompt": st.text(max_size=20), "max_tokens": st.integers(min_value=1, max_value=8)},
        optional={"constraints": st.lists(plausible_constraints, max_size=2, unique_by=lambda c: c["name"]), **_common},
    ),
    "/v1/completions": st.fixed_dictionaries(
        {"prompt": st.text(max_size=20), "max_tokens": st.integers(min_value=1, max_value=8)},
        optional={
            "structured_outputs": st.fixed_dictionaries(
                {}, optional={"json": schema_texts, "regex": regexes, "grammar": grammars}
            ),
            **_common,
        },
    ),
}
_plausible["/v1/chat/completions"] = _plausible["/v1/completions"].map(
    lambda body: {**body, "messages": [{"role": "user", "content": body.pop("prompt")}]}
)


def _body(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def bodies(route: str) -> st.SearchStrategy[bytes]:
    plausible = _plausible[route].map(_body)
    odd = [b"", b"{", b"null", b'{"prompt": "x", "max_tokens": NaN}', b'{"prompt": "\\ud800"}', b"\xff\xfe"]
    kinds = [plausible] * 4 + [
        requests.map(_body),
        json_values.map(_body),
        st.binary(max_size=300),
        st.sampled_from(odd),
    ]
    return st.sampled_from(kinds).flatmap(lambda kind: kind)  # one_of would favour the simplest kinds


# -- properties ---------------------------------------------------------------------------------


@FUZZ
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_random_bodies_get_an_answer_or_a_structured_4xx(client: httpx.Client, route: str, data: st.DataObject):
    body = data.draw(bodies(route))
    response = client.post(route, content=body, headers={**AUTH, "Content-Type": "application/json"})
    _answered(response)


@settings(max_examples=60, deadline=None)
@given(
    route=st.sampled_from([*ROUTES, "/v1/health", "/v1/stats", "/v1/models"]),
    header=st.one_of(
        st.none(),
        st.just(f"Bearer {TOKEN}x"),
        st.just(TOKEN),
        st.just(f"Basic {TOKEN}"),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
    ),
)
def test_missing_or_wrong_token_is_a_structured_401(client: httpx.Client, route: str, header: str | None):
    headers = {"Authorization": header} if header is not None else {}
    if route in ROUTES:
        response = client.post(route, headers=headers, json={"prompt": "x", "max_tokens": 4})
    else:
        response = client.get(route, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert _answered(response)["type"] == "auth"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_are_a_structured_413(client: httpx.Client, route: str, chunked: bool):
    body = json.dumps({"prompt": "x" * (LIMITS.max_body_bytes + 1)}).encode()
    content: bytes | Iterator[bytes] = iter([body[:1000], body[1000:]]) if chunked else body
    response = client.post(route, content=content, headers=AUTH)
    assert response.status_code == 413 and _answered(response)["type"] == "too_large"
    _still_healthy(client)


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"prompt": "x", "max_tokens": 10**30}, 400, "limit"),
        ({"prompt": "x", "max_tokens": LIMITS.max_tokens + 1}, 400, "limit"),
        ({"prompt": "x", "seed": -1}, 422, "invalid"),
        ({"prompt": "x", "model": "another"}, 400, "bad_request"),
        ({"prompt": "x", "constraints": [{"name": "big", "grammar": "start: " + '"x" ' * 2000}]}, 413, "too_large"),
        ({"prompt": "x", "constraints": [{"name": "sql", "grammar": "start: query"}]}, 400, "constraint_error"),
        ({"prompt": "x", "constraints": [{"name": "nan", "json_schema": '{"minimum": NaN}'}]}, 400, "constraint_error"),
        (
            {"prompt": "x", "constraints": [{"name": "deep", "json_schema": '{"items":' * 200 + "{}" + "}" * 200}]},
            400,
            "constraint_error",
        ),
        ({"prompt": "x", "constraints": [{"name": "no", "json_schema": "false"}]}, 400, "constraint_error"),
        ({"prompt": 5}, 422, "invalid"),
        ({"prompt": "x", "unknown": 1}, 422, "invalid"),
    ],
)
def test_each_limit_and_bad_field_is_named(client: httpx.Client, body: dict[str, object], status: int, kind: str):
    for stream in (False, True):
        response = client.post("/v1/generate", json={**body, "stream": stream}, headers=AUTH)
        error = _answered(response)
        assert response.status_code == status and error is not None and error["type"] == kind
        if kind == "constraint_error":
            assert error["constraint"] == body["constraints"][0]["name"]  # type: ignore[index]


@pytest.mark.parametrize(
    "structured",
    [{"json": {"minimum": float("nan")}}, {"json": "false"}, {"regex": "("}, {"grammar": "%%%"}, {"json": "{"}],
)
def test_openai_structured_outputs_that_do_not_compile_are_a_400(client: httpx.Client, structured: dict[str, object]):
    body = json.dumps({"prompt": "x", "structured_outputs": structured}, allow_nan=True)
    response = client.post("/v1/completions", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and _answered(response)["type"] == "constraint_error"


def test_unknown_routes_and_methods_are_structured(client: httpx.Client):
    assert _answered(client.get("/v1/nothing", headers=AUTH))["type"] == "not_found"
    assert _answered(client.get("/v1/generate", headers=AUTH))["type"] == "bad_request"


def test_the_service_still_answers_after_the_barrage(client: httpx.Client):
    _still_healthy(client)
    response = client.post("/v1/generate", json={"prompt": "x", "max_tokens": 4}, headers=AUTH)
    assert response.status_code == 200 and response.json()["code"] == "value"


def test_an_unexpected_failure_is_a_structured_500_and_the_service_stays_up(client: httpx.Client):
    response = client.post("/v1/generate", json={"prompt": BUG, "max_tokens": 4}, headers=AUTH)
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "internal", "message": "internal error: ValueError: an engine bug"}
    _still_healthy(client)


def test_a_constraint_the_engine_refuses_is_a_400_naming_it(client: httpx.Client):
    response = client.post("/v1/generate", json={"prompt": REFUSED, "max_tokens": 4}, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "constraint_error" and error["constraint"] == "deep" and "64 levels" in error["message"]
    _still_healthy(client)
