"""Where code may go: an endpoint named only by a project file is never contacted until the user
trusts it, no byte of a private file reaches any engine, local or remote, and a key reaches only
the endpoint the user gave it for. The remote side is the real service app on 127.0.0.1 behind a
front that records every request body and its Authorization header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from ananke_lsp.config import ProjectConfig, ProjectSettings, ServiceSettings
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.server.settings import EditorSettings, choose_engine

from .fake_engines import CannedEngine
from .lsp_client import SERVER, RawLspClient, actions, command, end_position, inline, open_doc, session
from .recording_service import recorded_service

SECRET = "hunter2-DO-NOT-SEND-7731"
# ends where the fake engines' answer, `value`, completes a line that parses
CODE = "import math\n\n\ndef area(r: float) -> float:\n    return math.pi * r * r\n\n\ntotal = area(1) + "


@pytest.fixture(scope="module")
def remote():
    with recorded_service(EmbeddedEngine()) as remote:
        yield remote


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, remote) -> Path:
    _, url = remote
    root = tmp_path_factory.mktemp("untrusted-repo")
    (root / ".ananke.toml").write_text(f'[service]\nendpoint = "{url}"\n\n[privacy]\nexclude = ["private/**"]\n')
    return root


@pytest_lsp.fixture(config=SERVER)
async def untrusting(lsp_client: LanguageClient, project: Path):
    async with session(lsp_client, project):
        yield


@pytest_lsp.fixture(config=SERVER)
async def trusting(lsp_client: LanguageClient, project: Path, remote):
    _, url = remote
    async with session(lsp_client, project, {"trustedEndpoints": [url]}):
        yield


async def test_an_endpoint_named_only_by_the_project_is_not_contacted(untrusting: LanguageClient, project, remote):
    recorder, url = remote
    before = len(recorder.bodies)
    uri = open_doc(untrusting, project / "calc.py", CODE)
    result = await inline(untrusting, uri, end_position(CODE))
    assert result is not None  # served, by the local engine
    assert len(recorder.bodies) == before
    warnings = [m.message for m in untrusting.messages if m.type == types.MessageType.Warning]
    assert any(url in m and "trust" in m for m in warnings)
    provenance = await command(untrusting, "ananke.showProvenance")
    assert provenance["engine"] == "embedded"


async def test_a_trusted_endpoint_is_used_and_private_files_never_reach_it(trusting: LanguageClient, project, remote):
    recorder, _ = remote
    before = len(recorder.bodies)
    uri = open_doc(trusting, project / "calc.py", CODE)
    assert await inline(trusting, uri, end_position(CODE)) is not None
    assert len(recorder.bodies) == before + 1 and b"area" in recorder.bodies[-1]
    assert (await command(trusting, "ananke.showProvenance"))["engine"] == "service:embedded"
    private = {
        ".env": f"PASSWORD={SECRET}\nTOKEN=",
        "private/notes.py": f"# {SECRET}\ndef f():\n    pass\n",
        "secrets/deploy/key.py": f"KEY = '{SECRET}'\nx = ",
        "certs/server.pem": f"{SECRET}\n",
    }
    for name, text in private.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        uri = open_doc(trusting, path, text, language="python")
        assert await inline(trusting, uri, end_position(text)) is None
        assert await actions(trusting, uri, types.Position(line=1, character=0)) == []
        completion = await trusting.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=end_position(text))
        )
        assert list(completion.items) == []
    assert len(recorder.bodies) == before + 1
    assert not any(SECRET.encode() in body for body in recorder.bodies)
    assert all(json.loads(body) for body in recorder.bodies)


GLOBAL_KEY = "global-key-for-my-own-endpoint-5521"
PROJECT_KEY = "key-for-the-project-endpoint-9034"


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        ({"trustedEndpoints": ["URL"], "apiKey": GLOBAL_KEY}, None),
        ({"trustedEndpoints": ["URL/"], "apiKey": GLOBAL_KEY, "apiKeys": {"URL/": PROJECT_KEY}}, PROJECT_KEY),
        ({"endpoint": "URL", "apiKey": GLOBAL_KEY, "apiKeys": {"http://elsewhere": PROJECT_KEY}}, GLOBAL_KEY),
    ],
    ids=["trusted project endpoint, global key", "trusted project endpoint, its own key", "the user's endpoint"],
)
async def test_a_key_reaches_only_the_endpoint_it_was_set_for(tmp_path: Path, options: dict, sent: str | None):
    with recorded_service(CannedEngine()) as (recorder, url):
        (tmp_path / ".ananke.toml").write_text(f'[service]\nendpoint = "{url}"\n')
        options = json.loads(json.dumps(options).replace("URL", url))
        client = await RawLspClient.start(tmp_path, options)
        try:
            end = end_position(CODE)
            params = {
                "textDocument": {"uri": client.open(tmp_path / "calc.py", CODE)},
                "position": {"line": end.line, "character": end.character},
                "context": {"triggerKind": 1},
            }
            answer = await client.request("textDocument/inlineCompletion", params)
        finally:
            await client.close()
    assert answer["result"]["items"][0]["insertText"] == "value"
    assert recorder.authorizations == [f"Bearer {sent}" if sent else None]


def test_the_environment_key_goes_only_to_the_environment_endpoint(tmp_path: Path):
    project_endpoint = "http://project.example:8088"
    project = ProjectConfig(ProjectSettings(service=ServiceSettings(endpoint=project_endpoint)), tmp_path)
    editor = EditorSettings(trusted_endpoints=[project_endpoint])
    trusted = choose_engine(project, editor, {"MODAL_API_KEY": GLOBAL_KEY})
    assert trusted.connection is not None
    assert (trusted.connection.endpoint_url, trusted.connection.api_key) == (project_endpoint, None)
    mine = choose_engine(project, editor, {"MODAL_API_KEY": GLOBAL_KEY, "MODAL_ENDPOINT": "http://mine.example"})
    assert mine.connection is not None
    assert (mine.connection.endpoint_url, mine.connection.api_key) == ("http://mine.example", GLOBAL_KEY)
