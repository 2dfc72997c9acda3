"""Where code may go: an endpoint named only by a project file is never contacted until the user
trusts it, and no byte of a private file reaches any engine, local or remote. The remote side is
the real service app on 127.0.0.1 behind a front that records every request body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from ananke_lsp.engines.embedded import EmbeddedEngine
from modal_service.server import create_app

from .lsp_client import SERVER, actions, command, end_position, inline, open_doc, start
from .servers import serve_in_thread, wait_healthy

SECRET = "hunter2-DO-NOT-SEND-7731"
CODE = "import math\n\n\ndef area(r: float) -> float:\n    return math.pi * r * r\n\n\nvalue = area("


class Recorder:
    """Passes every request to the real app, keeping what reached it."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(("/generate", "/completions")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(b"".join(chunks))
        replayed = iter([{"type": "http.request", "body": self.bodies[-1], "more_body": False}])

        async def replay():
            return next(replayed, None) or await receive()

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def remote():
    recorder = Recorder(create_app(EmbeddedEngine()))
    with serve_in_thread(recorder) as url:
        wait_healthy(url)
        yield recorder, url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, remote) -> Path:
    _, url = remote
    root = tmp_path_factory.mktemp("untrusted-repo")
    (root / ".ananke.toml").write_text(f'[service]\nendpoint = "{url}"\n\n[privacy]\nexclude = ["private/**"]\n')
    return root


@pytest_lsp.fixture(config=SERVER)
async def untrusting(lsp_client: LanguageClient, project: Path):
    await start(lsp_client, project)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def trusting(lsp_client: LanguageClient, project: Path, remote):
    _, url = remote
    await start(lsp_client, project, {"trustedEndpoints": [url]})
    yield
    await lsp_client.shutdown_session()


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
