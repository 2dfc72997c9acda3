"""No byte of a private file reaches an engine, whichever way it could travel: a document of any URI
scheme, a JSON document's `$schema`, a schema file named by `.ananke.toml`, a symlink to any of
them. Driven through the real `ananke-lsp` over stdio; the engine side is the real service app on
127.0.0.1 behind a front that records every request body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .fake_engines import CannedEngine
from .globs import PATHOLOGICAL
from .lsp_client import SERVER, RawLspClient, actions, end_position, inline, open_doc, session
from .recording_service import Recorder, recorded_service

SECRET = "hunter2-PRIVATE-5120"
PRIVATE_SCHEMA = {"type": "object", "properties": {"password": {"const": SECRET}}, "required": ["password"]}
# ends where the fake engines' answer, `value`, completes a line that parses
CODE = "import math\n\n\ndef area(r: float) -> float:\n    return math.pi * r * r\n\n\ntotal = area(1) + "


@pytest.fixture(scope="module")
def remote():
    with recorded_service(CannedEngine()) as remote:
        yield remote


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("private-repo")
    (root / ".ananke.toml").write_text('[privacy]\nexclude = ["customers/**"]\n')
    for schema in ("secrets/creds.json", "svc/secrets/prod.json"):
        (root / schema).parent.mkdir(parents=True, exist_ok=True)
        (root / schema).write_text(json.dumps(PRIVATE_SCHEMA))
    (root / "creds-link.json").symlink_to(root / "secrets" / "creds.json")
    (root / "svc" / ".ananke.toml").write_text(
        '[[constraints]]\nname = "prod"\nfiles = ["*.json"]\njson_schema_file = "secrets/prod.json"\n'
    )
    return root


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, project: Path, remote):
    _, url = remote
    async with session(lsp_client, project, {"endpoint": url}):  # the user's own service: everything may go there
        yield


async def _ask_everything(client: LanguageClient, uri: str, text: str) -> list[object]:
    """Every request that can send a document to an engine, each code action offered resolved
    (which generates); the answers that are not empty."""
    answers: list[object] = [await inline(client, uri, end_position(text))]
    completion = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=end_position(text))
    )
    answers += list(completion.items) if completion else []
    offered = await actions(client, uri, types.Position(line=0, character=0))
    answers += [offered, *[await client.code_action_resolve_async(action) for action in offered]]
    return [answer for answer in answers if answer]


async def _fill_json_offered(client: LanguageClient, uri: str) -> bool:
    return any("Fill JSON" in a.title for a in await actions(client, uri, types.Position(line=0, character=0)))


def _secret_reached(recorder: Recorder) -> bool:
    return any(SECRET.encode() in body for body in recorder.bodies)


async def test_the_recorder_sees_an_ordinary_document(client: LanguageClient, project: Path, remote):
    recorder, _ = remote
    before = len(recorder.bodies)
    uri = open_doc(client, project / "calc.py", CODE)
    assert await inline(client, uri, end_position(CODE)) is not None
    assert len(recorder.bodies) == before + 1 and b"area" in recorder.bodies[-1]


async def test_other_open_files_go_first_and_private_ones_never(client: LanguageClient, project: Path, remote):
    recorder, _ = remote
    helper = "def double(x: float) -> float:\n    return 2 * x\n"
    open_doc(client, project / "helpers.py", helper)
    open_doc(client, project / "secrets" / "keys.py", f"KEY = {SECRET!r}\n")
    open_doc(client, project / "notes.md", "# notes\n", language="markdown")  # another language: not shown
    uri = open_doc(client, project / "calc.py", CODE)
    assert await inline(client, uri, end_position(CODE)) is not None
    files = json.loads(recorder.bodies[-1])["files"]
    assert [f["path"] for f in files] == ["helpers.py"] and files[0]["text"] == helper
    assert not _secret_reached(recorder)


@pytest.mark.parametrize(
    "name",
    [
        *(".envrc", ".netrc", ".npmrc", ".pypirc", ".git-credentials", "gcp/credentials.json", "certs/client.p12"),
        *("certs/client.pfx", ".aws/credentials", ".aws/config", ".ssh/config", ".ENV", "Secrets/notes.py"),
    ],
)
async def test_files_private_by_default_send_nothing(client: LanguageClient, project: Path, remote, name: str):
    recorder, _ = remote
    before = len(recorder.bodies)
    text = f"token = '{SECRET}'\nx = "
    uri = open_doc(client, project / name, text)
    assert await _ask_everything(client, uri, text) == []
    assert len(recorder.bodies) == before and not _secret_reached(recorder)


@pytest.mark.parametrize(
    "uri",
    [
        'git:ROOT/.env?{"path":"ROOT/.env","ref":"HEAD"}',
        "fugitive://ROOT/.git//0/.env",
        "untitled:.env",
        "FILE://ROOT/.env",
        "vscode-remote://ssh-remote%2Bhost/srv/app/secrets/db.py",
        "git:ROOT/customers/list.py?%7B%7D",  # [privacy].exclude of the project the path lies in
        "fugitive://ROOT/.git//0/customers/list.py",
        "untitled:",  # names no file: cannot be judged, so nothing is sent
    ],
)
async def test_private_documents_under_any_uri_scheme_send_nothing(
    client: LanguageClient, project: Path, remote, uri: str
):
    recorder, _ = remote
    before = len(recorder.bodies)
    uri = uri.replace("ROOT", project.as_posix())
    text = f"token = '{SECRET}'\nx = "
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    assert await _ask_everything(client, uri, text) == []
    assert len(recorder.bodies) == before and not _secret_reached(recorder)


async def test_an_untitled_document_is_still_served(client: LanguageClient, remote):
    recorder, _ = remote
    before = len(recorder.bodies)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri="untitled:Untitled-1", language_id="python", version=1, text=CODE)
        )
    )
    assert await inline(client, "untitled:Untitled-1", end_position(CODE)) is not None
    assert len(recorder.bodies) == before + 1


@pytest.mark.parametrize("ref", ["../secrets/creds.json", "../creds-link.json"])
async def test_a_dollar_schema_naming_a_private_file_is_not_read(
    client: LanguageClient, project: Path, remote, ref: str
):
    recorder, _ = remote
    text = json.dumps({"$schema": ref}) + "\n"
    (project / "config").mkdir(exist_ok=True)
    uri = open_doc(client, project / "config" / "app.json", text, language="json")
    assert not await _fill_json_offered(client, uri)
    await _ask_everything(client, uri, text)
    assert not _secret_reached(recorder)


async def test_a_config_naming_a_private_schema_file_is_refused(client: LanguageClient, project: Path, remote):
    recorder, _ = remote
    text = "{}\n"
    uri = open_doc(client, project / "svc" / "app.json", text, language="json")
    assert not await _fill_json_offered(client, uri)
    await _ask_everything(client, uri, text)
    assert not _secret_reached(recorder)
    [diagnostic] = client.diagnostics[(project / "svc" / ".ananke.toml").as_uri()]
    assert diagnostic.range.start.line == 3 and "privacy rule" in diagnostic.message


async def test_the_pathological_exclude_glob_does_not_freeze_the_server(tmp_path: Path):
    (tmp_path / ".ananke.toml").write_text(f"[privacy]\nexclude = [{json.dumps(PATHOLOGICAL)}]\n")
    client = await RawLspClient.start(tmp_path, {"endpoint": "http://127.0.0.1:9"})  # never contacted here
    try:
        uri = client.open(tmp_path / ("a" * 40), "x = 1\n")
        point = {"line": 0, "character": 0}
        params = {"textDocument": {"uri": uri}, "range": {"start": point, "end": point}, "context": {"diagnostics": []}}
        answer = await client.request("textDocument/codeAction", params, timeout=30)
        assert "result" in answer
    finally:
        await client.close()
