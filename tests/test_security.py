"""Secrets stay secret: the API key set in the editor reaches the service as a bearer token and
nowhere else — not the answers, notifications, logs (at DEBUG) or provenance, neither when the
service accepts it nor when it refuses it. The service compares tokens in constant time."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import modal_service.server
from ananke_lsp import Ananke, PyGenerationRequest, PyModalConfig

from .lsp_client import RawLspClient
from .servers import ananke_serve

TOKEN = "svc-token-4d1f7a9c-RIGHT"
WRONG = "svc-token-0b2e-WRONG-do-not-echo"
CODE = "def double(x):\n    return x * "


@pytest.fixture(scope="module")
def locked() -> str:
    with ananke_serve({"ANANKE_SERVICE_TOKEN": TOKEN}) as url:
        yield url


async def _session(tmp_path: Path, url: str, key: str) -> tuple[RawLspClient, dict, Path]:
    root = tmp_path / key[-5:]
    root.mkdir()
    (root / ".ananke.toml").write_text(f'[service]\nendpoint = "{url}"\n\n[completion]\nmax_tokens = 4\n')
    log = root.parent / f"{key[-5:]}.log"
    options = {"trustedEndpoints": [url], "apiKeys": {url: key}}  # the project's endpoint, with its own key
    client = await RawLspClient.start(root, options, stderr=log, log_level="DEBUG")
    uri = client.open(root / "m.py", CODE)
    params = {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 15}, "context": {"triggerKind": 1}}
    answer = await client.request("textDocument/inlineCompletion", params)
    await client.request("workspace/executeCommand", {"command": "ananke.healthCheck", "arguments": []})
    await client.request("workspace/executeCommand", {"command": "ananke.showProvenance", "arguments": []})
    return client, answer, log


async def test_a_refused_key_is_reported_without_being_shown(tmp_path: Path, locked: str):
    client, answer, log = await _session(tmp_path, locked, WRONG)
    try:
        said = client.everything_sent()
        assert "error" in answer and "401" in answer["error"]["message"]
        assert "api key" in answer["error"]["message"].lower()  # says what to fix
        assert WRONG not in said
    finally:
        await client.close()
    assert WRONG not in log.read_text()
    assert log.read_text()  # the log was written (DEBUG), and still holds no key


async def test_an_accepted_key_never_appears_in_answers_logs_or_provenance(tmp_path: Path, locked: str):
    client, answer, log = await _session(tmp_path, locked, TOKEN)
    try:
        assert "result" in answer
        provenance = await client.request(
            "workspace/executeCommand", {"command": "ananke.showProvenance", "arguments": []}
        )
        assert provenance["result"]["engine"] == "service:embedded"
        assert TOKEN not in client.everything_sent()
    finally:
        await client.close()
    assert TOKEN not in log.read_text()


async def test_the_api_keeps_the_key_out_of_errors_and_reprs(locked: str):
    config = PyModalConfig(endpoint_url=locked, api_key=WRONG, max_retries=0)
    ananke = Ananke(modal_endpoint=locked, modal_api_key=WRONG)
    with pytest.raises(RuntimeError) as refused:
        await ananke.generate(PyGenerationRequest(prompt="x", max_tokens=2))
    assert "401" in str(refused.value) and WRONG not in str(refused.value)
    assert WRONG not in repr(config) and WRONG not in repr(ananke)


def test_the_service_compares_tokens_in_constant_time():
    assert "compare_digest" in inspect.getsource(modal_service.server)
