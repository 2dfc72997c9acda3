"""The fault matrix: what a user gets when the generation service fails, for each way it fails.

Real parts only: a scripted faulty service on 127.0.0.1 (`tests/faulty_service.py`), the real
`ananke-lsp` process over stdio, the real `ServiceEngine`, `OpenAICompatibleEngine` and `Ananke`.
For each fault: the message says what failed and what to do, the server keeps serving, attempts
are counted where they arrive (at most ``max_retries + 1``), retry delays are jittered, every
request answers within attempts x timeout + the retry delays + a margin, and a failed generation
never becomes an edit. Timeouts and retries are the project's own settings, set small."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from ananke_lsp import Ananke, PyGenerationRequest
from ananke_lsp.api_types import PyModalConfig
from ananke_lsp.engines.base import EngineRequest, EngineResult
from ananke_lsp.engines.openai_compat import OpenAICompatibleEngine
from ananke_lsp.engines.service import ServiceEngine
from ananke_lsp.errors import EngineError
from ananke_lsp.transport.retry import RetryPolicy

from .faulty_service import (
    COMPLETIONS,
    CUT,
    GENERATE,
    HEALTH,
    LOADING,
    RESET,
    FaultyService,
    Step,
    slow,
    status,
    trickle,
)
from .lsp_client import SERVER, actions, command, end_position, inline, open_doc, session
from .servers import free_port

TIMEOUT_S = 1  # [service] timeout_secs: the smallest a project may set
RETRIES = 2  # [service] max_retries
MARGIN_S = 1.0  # process start-up of a request, scheduling, the event loops of two processes
CODE = "(1 + 2))"  # what the healthy service answers: closes the call, and no half of it is valid
TEXT = "def area(r: float) -> float:\n    return 3.14 * r * r\n\n\nvalue = area("
STUB = "def add(a: int, b: int) -> int:\n    ...\n"
POLICY = RetryPolicy(max_retries=RETRIES)


def worst_case_s(steps: list[Step], attempts: int, timeout_s: float = TIMEOUT_S) -> float:
    """How long ``attempts`` attempts may take: each up to the timeout, plus the longest delay the
    policy may draw before each retry (the server's Retry-After, else the backoff, plus jitter)."""
    delays = 0.0
    for attempt in range(1, attempts):
        step = steps[attempt - 1] if attempt <= len(steps) else RESET  # unscripted: a connection failure
        linear = POLICY.linear_step_s * attempt
        if step.retry_after:
            delays += float(step.retry_after) + linear
        elif step.status == 429:
            delays += min(POLICY.cap_429_s, POLICY.backoff_429_s * 2 ** (attempt - 1))
        else:
            delays += linear
    return attempts * timeout_s + delays + MARGIN_S


async def within(bound_s: float, request: Awaitable[Any]) -> Any:
    """The request's answer (an error response as its exception), which must come within
    ``bound_s``: a request that hangs fails the test instead of hanging it."""
    try:
        async with asyncio.timeout(bound_s):
            return await request
    except JsonRpcException as exc:
        return exc
    except TimeoutError:
        pytest.fail(f"no answer within {bound_s:.1f} s")


# What each fault does to a request, the words its message must have (what failed, what to do),
# and how many attempts reach the service: every retryable fault exhausts max_retries + 1.
FAULTS: dict[str, tuple[list[Step], str, int]] = {
    "reset before any byte": (
        [RESET] * 3,
        r"lost the connection to .*gave up after 2 retries.*dropped it.*try again",
        3,
    ),
    "cut mid-answer": ([CUT], r"broke off.*try again", 1),
    "429 with Retry-After": ([status(429, "1")] * 3, r"answered 429.*gave up after 2 retries.*rate limiting", 3),
    "429 without Retry-After": ([status(429)] * 3, r"answered 429.*gave up after 2 retries.*rate limiting", 3),
    "500": ([status(500)], r"error 500.*try again, or see its logs", 1),
    "502": ([status(502)] * 3, r"answered 502.*gave up after 2 retries.*try again shortly", 3),
    "503": ([status(503)] * 3, r"answered 503.*gave up after 2 retries.*try again shortly", 3),
    "slower than the timeout": ([slow(4)], r"no answer from .* within 1 s.*raise timeout_secs", 1),
    "trickling slower than the timeout": ([trickle(0.2)], r"no answer from .* within 1 s.*raise timeout_secs", 1),
    "restarting for longer than the retries": ([LOADING] * 3, r"answered 503 \(the model is loading.*try again", 3),
}


@pytest.fixture(scope="module")
def service() -> Iterator[FaultyService]:
    with FaultyService(CODE).running() as faulty:
        yield faulty


@pytest.fixture(scope="module")
def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


# -- the Python API and the client engines ---------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
async def test_api_each_fault_is_a_clear_runtime_error(service: FaultyService, fault: str):
    steps, words, attempts = FAULTS[fault]
    service.script(GENERATE, *steps)
    ananke = Ananke(modal_endpoint=service.url, timeout_secs=TIMEOUT_S, max_retries=RETRIES)
    with pytest.raises(RuntimeError, match=words):
        await within(worst_case_s(steps, attempts), ananke.generate(PyGenerationRequest(prompt="x", max_tokens=8)))
    assert len(service.attempts()) == attempts


async def test_api_unreachable_service(dead_url: str):
    ananke = Ananke(modal_endpoint=dead_url, timeout_secs=TIMEOUT_S, max_retries=RETRIES)
    with pytest.raises(RuntimeError, match=r"cannot reach .*gave up after 2 retries.*service is running"):
        await within(worst_case_s([], RETRIES + 1), ananke.generate(PyGenerationRequest(prompt="x", max_tokens=8)))
    assert ananke.engine.http.retries == RETRIES  # type: ignore[attr-defined]  # nothing listens to count them
    assert await ananke.health_check() is False


HEALTH_FAULTS: dict[str, tuple[Step, str]] = {
    "reset": (RESET, "lost the connection"),
    "500": (status(500), "answering 500"),
    "loading": (LOADING, "still loading its model; try again shortly"),
    "slow": (slow(4), "no answer .* within 1 s"),
    "trickle": (trickle(0.2), "no answer .* within 1 s"),
}


@pytest.mark.parametrize("fault", HEALTH_FAULTS)
async def test_health_check_is_false_and_says_why(service: FaultyService, fault: str):
    step, words = HEALTH_FAULTS[fault]
    service.script(HEALTH, step)
    ananke = Ananke(modal_endpoint=service.url, timeout_secs=TIMEOUT_S)
    health = await within(worst_case_s([], 1), ananke.engine.health())  # health_check()'s answer, with the reason
    assert not health.ok and re.search(words, health.detail), health.detail
    assert len(service.attempts(HEALTH)) == 1  # a health check is never retried


@pytest.mark.parametrize(
    ("engine", "path"),
    [
        (lambda url: ServiceEngine(PyModalConfig(endpoint_url=url, timeout_secs=TIMEOUT_S)), GENERATE),
        (lambda url: OpenAICompatibleEngine(url, "faulty-model", timeout_secs=TIMEOUT_S), COMPLETIONS),
    ],
    ids=["service", "openai"],
)
async def test_a_stream_cut_mid_way_ends_in_an_error_never_a_result(service: FaultyService, engine, path: str):
    service.script(path, CUT)
    seen: list[str | EngineResult] = []
    with pytest.raises(EngineError, match=r"broke off.*try again"):
        async for item in engine(service.url).stream(EngineRequest(prompt="x", chat=False, max_tokens=8)):
            seen.append(item)
    assert seen == list(CODE[:2])  # the deltas before the cut, and no result made of them
    assert len(service.attempts(path)) == 1  # text was already delivered: the stream is not replayed


def test_retry_delays_differ_across_runs():
    """Full jitter: a seed draws the same delays again, other seeds (runs, clients) draw others;
    `test_retry.py` checks their bounds."""
    for status_code, retry_after in [(None, None), (503, None), (429, None), (429, 2.0)]:
        runs = {
            tuple(POLICY.delay(k, status_code, retry_after, random.Random(seed)) for k in (1, 2, 3))
            for seed in (0, 0, 1, 2)
        }
        assert len(runs) == 3, (status_code, retry_after)


async def test_retries_against_the_service_are_jittered(service: FaultyService):
    """Two clients retrying the same failures do not retry in lockstep."""
    gaps = []
    for _ in range(2):
        service.script(GENERATE, *[status(503)] * 3)
        with pytest.raises(EngineError, match="gave up after 2 retries"):
            await ServiceEngine(PyModalConfig(endpoint_url=service.url, max_retries=RETRIES)).generate(
                EngineRequest(prompt="x", max_tokens=8)
            )
        gaps.append(service.gaps())
    for run in gaps:
        assert len(run) == RETRIES and all(gap <= POLICY.linear_step_s * k + 0.1 for k, gap in enumerate(run, 1))
    assert max(abs(a - b) for a, b in zip(*gaps, strict=True)) > 0.001, gaps


# -- the language server ---------------------------------------------------------------------------


PATIENT_S = 3  # the timeout in patient/: long enough to ask other things while a request waits


def _service_section(url: str, timeout_s: int = TIMEOUT_S) -> str:
    return f'[service]\nendpoint = "{url}"\ntimeout_secs = {timeout_s}\nmax_retries = {RETRIES}\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, service: FaultyService, dead_url: str) -> Path:
    root = tmp_path_factory.mktemp("faults")
    (root / ".ananke.toml").write_text(_service_section(service.url))
    (root / "down").mkdir()
    (root / "down" / ".ananke.toml").write_text(_service_section(dead_url))
    (root / "patient").mkdir()
    (root / "patient" / ".ananke.toml").write_text(_service_section(service.url, PATIENT_S))
    return root


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, project: Path, service: FaultyService, dead_url: str):
    async with session(lsp_client, project, {"trustedEndpoints": [service.url, dead_url]}):
        yield


_documents = itertools.count()


async def _suggest(client: LanguageClient, folder: Path, bound_s: float) -> Any:
    """An inline completion at the end of ``TEXT`` in a new document (no earlier suggestion to reuse)."""
    uri = open_doc(client, folder / f"doc{next(_documents)}.py", TEXT)
    return await within(bound_s, inline(client, uri, end_position(TEXT)))


async def _still_serving(client: LanguageClient, project: Path) -> None:
    """A command and another document's completion answer at once (the service is healthy for them)."""
    assert isinstance(await within(MARGIN_S, command(client, "ananke.cacheStats")), dict)
    assert (await _suggest(client, project, MARGIN_S)).items[0].insert_text == CODE


def _failed(answer: Any, words: str) -> str:
    """The error response's message, checked: it says what failed and what to do, with no traceback."""
    assert isinstance(answer, JsonRpcException), answer  # never a suggestion made of a broken answer
    assert answer.message.startswith("generation failed: ") and re.search(words, answer.message), answer.message
    assert answer.data is None
    return answer.message


@pytest.mark.parametrize("fault", FAULTS)
async def test_lsp_each_fault_is_told_bounded_and_survived(client: LanguageClient, project: Path, service, fault):
    steps, words, attempts = FAULTS[fault]
    service.script(GENERATE, *steps)
    shown = len(client.messages)
    message = _failed(await _suggest(client, project, worst_case_s(steps, attempts)), words)
    assert len(service.attempts()) == attempts
    [told] = client.messages[shown:]
    assert told.type == types.MessageType.Error and told.message == f"ananke: {message}"
    assert any(message in m.message for m in client.log_messages)
    await _still_serving(client, project)


async def test_lsp_unreachable_engine_is_told_once_per_outage(client: LanguageClient, project: Path):
    shown = len(client.messages)
    for _ in range(2):  # e.g. two keystrokes during the outage: two error responses, one notice
        answer = await _suggest(client, project / "down", worst_case_s([], RETRIES + 1))
        _failed(
            answer, r"cannot reach http://127\.0\.0\.1:\d+/v1/generate .*gave up after 2 retries.*service is running"
        )
    [told] = client.messages[shown:]
    assert "cannot reach" in told.message
    await _still_serving(client, project)


async def test_lsp_serves_other_requests_while_one_waits_on_a_hung_service(
    client: LanguageClient, project: Path, service: FaultyService
):
    service.script(GENERATE, slow(PATIENT_S + 2))
    hung = asyncio.ensure_future(_suggest(client, project / "patient", worst_case_s([], 1, PATIENT_S)))
    await asyncio.sleep(0.2)  # the slow request is with the service now
    await _still_serving(client, project)  # bounded by 2 x MARGIN_S < PATIENT_S - 0.2
    assert not hung.done()
    _failed(await hung, f"within {PATIENT_S} s")


async def test_lsp_code_action_cut_mid_answer_applies_nothing(
    client: LanguageClient, project: Path, service: FaultyService
):
    uri = open_doc(client, project / "stub.py", STUB)
    [implement] = [a for a in await actions(client, uri, types.Position(line=0, character=0)) if "Implement" in a.title]
    service.script(GENERATE, CUT)
    _failed(await within(worst_case_s([], 1), client.code_action_resolve_async(implement)), "broke off")
    service.script(GENERATE, CUT)  # the same action through a command, for clients that do not resolve
    _failed(await within(worst_case_s([], 1), command(client, "ananke.applyAction", *implement.data)), "broke off")
    assert client.applied_edits == []
    assert len(service.attempts()) == 1


async def test_lsp_rides_out_a_restarting_service(client: LanguageClient, project: Path, service: FaultyService):
    service.script(HEALTH, LOADING)
    health = await command(client, "ananke.healthCheck")
    assert not health["ok"] and "loading" in health["detail"]
    assert "UNHEALTHY: the service is still loading its model; try again shortly" in client.messages[-1].message
    steps = [LOADING, LOADING]  # then healthy: within max_retries, waiting as Retry-After says
    service.script(GENERATE, *steps)
    assert (await _suggest(client, project, worst_case_s(steps, 3))).items[0].insert_text == CODE
    assert len(service.attempts()) == 3
    assert all(gap >= 1.0 for gap in service.gaps())  # never earlier than Retry-After asks
