"""Hostile LSP input against the real ``ananke-lsp`` process over stdio: malformed JSON-RPC,
unknown methods, params of the wrong shape, positions out of range, huge documents, text that is
not valid Unicode, stale versions. The process stays up, answers every request with a result or a
JSON-RPC error, and serves a normal request afterwards. Generation goes to the service on an
engine that answers at once (no model is loaded)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from modal_service.server import create_app

from .fake_engines import CannedEngine
from .lsp_client import RawLspClient
from .servers import serve_in_thread, wait_healthy

ANSWER_S = 10.0  # per request; the canned engine answers in milliseconds
# An unanswered request costs ANSWER_S per attempt: report the first failing example as found
# instead of shrinking it for hours.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
FUZZ = settings(max_examples=150, deadline=None, phases=NO_SHRINK)
SOURCE = 'import os\n\n\ndef todo(x: int) -> int:\n    """Double x."""\n    pass\n\n# add two numbers\n'
CONFIG = '[completion]\ndebounce_ms = 0\n\n[[constraints]]\nname = "no-tabs"\nregex = "[^\\t]*"\n'


def _result_or_error(answer: dict[str, Any]) -> dict[str, Any] | None:
    """Exactly one of ``result`` and ``error``; an error has a numeric code and a message."""
    assert ("result" in answer) != ("error" in answer), answer
    error = answer.get("error")
    if error is not None:
        assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"]
    return error


SERVED = {  # what ananke-lsp answers; any other method is MethodNotFound
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "textDocument/codeAction",
    "codeAction/resolve",
    "workspace/executeCommand",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-lsp")
    (root / ".ananke.toml").write_text(CONFIG)
    (root / "app.py").write_text(SOURCE)
    return root


# One server for the whole module, so one event loop for its fixtures and tests.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lsp(project: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RawLspClient]:
    log = tmp_path_factory.mktemp("fuzz-lsp-log") / "stderr.log"  # a file: never a full pipe
    with serve_in_thread(create_app(CannedEngine())) as url:
        wait_healthy(url)
        options = {"engine": "service", "endpoint": url}
        client = await RawLspClient.start(project, options, stderr=log, answer_s=ANSWER_S)
        try:
            assert client.initialize_answer["result"]["serverInfo"]["name"] == "ananke-lsp"
            client.open(project / "app.py", SOURCE)
            yield client
        finally:
            await client.close()


async def _still_serving(client: RawLspClient) -> None:
    stats = await client.request("workspace/executeCommand", {"command": "ananke.cacheStats", "arguments": []})
    assert isinstance(stats["result"]["hits"], int)


def _inline(uri: str, line: object, character: object) -> dict[str, object]:
    """Params of an explicitly invoked completion (an automatic one waits out the typing debounce)."""
    position = {"line": line, "character": character}
    return {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}}


# -- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10,
)
numbers = st.one_of(
    st.integers(min_value=-3, max_value=12),
    st.sampled_from([-(2**31), 2**31 - 1, 2**31, 2**40, 10**30]),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.none(),
)
# Lone surrogates reach the server as JSON escapes, which json.dumps writes for them.
texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=40)


def uris(root: Path) -> st.SearchStrategy[object]:
    """Mostly the open document, so that most requests get past their params to the features."""
    app = (root / "app.py").as_uri()
    odd = [
        (root / "missing.py").as_uri(),
        (root / ".ananke.toml").as_uri(),
        root.as_uri(),
        "file:///dev/zero",
        "file:///dev/stdin",
        "untitled:Untitled-1",
        "file:///a%00b.py",
        "not a uri",
        "",
    ]
    return st.one_of(st.just(app), st.just(app), st.just(app), st.sampled_from(odd), json_values)


def _position() -> st.SearchStrategy[object]:
    inside = st.fixed_dictionaries({"line": st.integers(0, 9), "character": st.integers(0, 12)})
    return st.one_of(inside, inside, st.fixed_dictionaries({"line": numbers, "character": numbers}), json_values)


@st.composite
def requests(draw: st.DrawFn, root: Path) -> tuple[str, object]:
    """A method the server knows (or not), with params of the right shape, nearly, or not at all."""
    uri = uris(root)
    position = _position()
    text_document = st.one_of(*[st.fixed_dictionaries({"uri": uri})] * 3, json_values)
    data = st.one_of(
        st.tuples(
            st.sampled_from(["implement", "docstring", "from_comment", "fill_json", "regenerate", "nope"]),
            uri,
            st.one_of(st.just(1), numbers),
            st.one_of(st.lists(st.integers(-2, 9), max_size=2), st.just(["comment", 7]), json_values),
        ).map(list),
        json_values,
    )
    shaped = {
        "textDocument/inlineCompletion": st.fixed_dictionaries(
            {"textDocument": text_document, "position": position},
            optional={"context": st.fixed_dictionaries({"triggerKind": st.one_of(st.just(1), numbers)})},
        ),
        "textDocument/completion": st.fixed_dictionaries(
            {"textDocument": text_document, "position": position},
            optional={"context": st.fixed_dictionaries({"triggerKind": numbers})},
        ),
        "textDocument/codeAction": st.fixed_dictionaries(
            {
                "textDocument": text_document,
                "range": st.fixed_dictionaries({"start": position, "end": position}),
                "context": st.fixed_dictionaries({"diagnostics": st.just([])}),
            }
        ),
        "codeAction/resolve": st.fixed_dictionaries({"title": st.text(max_size=5)}, optional={"data": data}),
        "workspace/executeCommand": st.fixed_dictionaries(
            {
                "command": st.sampled_from(
                    [
                        "ananke.cacheStats",
                        "ananke.healthCheck",
                        "ananke.clearCache",
                        "ananke.showProvenance",
                        "ananke.applyAction",
                        "ananke.nothing",
                    ]
                ),
            },
            optional={"arguments": st.one_of(st.lists(st.one_of(uri, json_values), max_size=4), data)},
        ),
        "textDocument/hover": st.just({"textDocument": {"uri": "file:///x"}, "position": {"line": 0, "character": 0}}),
    }
    method = draw(st.sampled_from([*sorted(shaped) * 4, "$/unknown", "shutdown/not"]))
    if method.endswith("/not"):
        method = draw(st.text(max_size=20))
    params = draw(st.one_of(shaped[method], shaped[method], json_values) if method in shaped else json_values)
    return method, params


# -- properties ---------------------------------------------------------------------------------


@settings(FUZZ, max_examples=250)
@given(data=st.data())
async def test_every_request_gets_a_result_or_an_error(lsp: RawLspClient, project: Path, data: st.DataObject):
    method, params = data.draw(requests(project))
    error = _result_or_error(await lsp.request(method, params))
    if method not in SERVED:
        assert error is not None and error["code"] == -32601, error


@FUZZ
@given(
    method=st.one_of(
        st.sampled_from(
            [
                "textDocument/didOpen",
                "textDocument/didChange",
                "textDocument/didSave",
                "textDocument/didClose",
                "workspace/didChangeWatchedFiles",
                "$/cancelRequest",
                "$/setTrace",
                "unknown/notification",
            ]
        ),
        st.text(max_size=10),
    ),
    params=json_values,
)
async def test_notifications_of_any_shape_are_survived(lsp: RawLspClient, method: str, params: object):
    lsp.notify(method, params)
    await _still_serving(lsp)
    assert lsp.unmatched() == [], "a notification is never answered"


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=120),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda envelope: json.dumps(envelope).encode(),
            st.fixed_dictionaries(
                {},
                optional={
                    "jsonrpc": st.one_of(st.just("2.0"), json_values),
                    "id": st.one_of(st.sampled_from([[1], {"a": 1}, 1.5, True, None]), st.text(max_size=3)),
                    "method": st.one_of(st.sampled_from(["textDocument/completion", "foo"]), json_values),
                    "params": json_values,
                    "result": json_values,
                    "error": json_values,
                },
            ),
        ),
        st.sampled_from([b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"jsonrpc": "2.0"}', b'{"id": 1}']),
    )
)
async def test_malformed_messages_leave_the_server_serving(lsp: RawLspClient, body: bytes):
    lsp.write(body)
    await _still_serving(lsp)
    for answer in lsp.unmatched():  # a string id is answered as is, an unusable one with a null id
        assert answer["id"] is None or isinstance(answer["id"], str)
        _result_or_error(answer)


@pytest.mark.parametrize(
    ("envelope", "code"),
    [
        ({"jsonrpc": "2.0", "method": "textDocument/completion", "params": {"textDocument": 5}}, -32602),
        ({"jsonrpc": "2.0", "method": "textDocument/completion"}, -32602),
        ({"jsonrpc": "2.0", "method": "no/such/method"}, -32601),
        ({"jsonrpc": "2.0", "method": "no/such/method", "params": {}}, -32601),
        ({"jsonrpc": "1.0", "method": "workspace/executeCommand", "params": {"command": "ananke.cacheStats"}}, -32600),
        ({"method": "workspace/executeCommand", "params": {"command": "ananke.cacheStats"}}, -32600),
        ({"jsonrpc": "2.0", "method": 7, "params": {}}, -32600),
    ],
)
async def test_unusable_requests_get_the_error_that_says_why(lsp: RawLspClient, envelope: dict[str, object], code: int):
    error = _result_or_error(await lsp.answer(lsp.send_envelope(envelope)))
    assert error is not None and error["code"] == code


@settings(max_examples=100, deadline=None, phases=NO_SHRINK)
@given(line=numbers, character=numbers)
async def test_positions_out_of_range_get_a_result_or_an_error(
    lsp: RawLspClient, project: Path, line: object, character: object
):
    uri = (project / "app.py").as_uri()
    for method in ("textDocument/inlineCompletion", "textDocument/completion"):
        _result_or_error(await lsp.request(method, _inline(uri, line, character)))
    span = {"start": {"line": line, "character": character}, "end": {"line": line, "character": character}}
    params = {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
    _result_or_error(await lsp.request("textDocument/codeAction", params))


async def test_a_negative_position_is_invalid_params_naming_the_field(lsp: RawLspClient, project: Path):
    error = _result_or_error(
        await lsp.request("textDocument/inlineCompletion", _inline((project / "app.py").as_uri(), -1, 0))
    )
    assert error is not None and error["code"] == -32602 and "Position.line" in error["message"]


async def test_an_unopened_document_is_refused_not_read_from_disk(lsp: RawLspClient):
    started = time.monotonic()
    error = _result_or_error(await lsp.request("textDocument/inlineCompletion", _inline("file:///dev/zero", 0, 0)))
    assert error is not None and "is not open" in error["message"]
    assert time.monotonic() - started < 5


def _end(text: str) -> tuple[int, int]:
    """The position after the last character, in UTF-16 units, with \r, \n and \r\n as line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return len(lines) - 1, len(lines[-1].encode("utf-16-le", "surrogatepass")) // 2


# (text, language): Python can parse neither a NUL nor an emoji name, so as Python files these two
# would rightly get no suggestion (the parse check withholds it); as plain text they get one.
DOCUMENTS = {
    "several MB": ("value = 1\n" * 600_000 + "total = ", "python"),
    "lone surrogates": ("name = '\ud800\udfff\udc00'\nnext = ", "python"),
    "NUL and control characters": ("a\x00b\x01\x1b[31m\r\rc = ", "plaintext"),
    "CRLF and CR line ends": ("a = 1\r\nb = 2\rc = ", "python"),
    "astral characters": ("\U0001f600" * 1000 + " = ", "plaintext"),
}


@pytest.mark.parametrize(("text", "language"), DOCUMENTS.values(), ids=DOCUMENTS.keys())
async def test_huge_and_odd_documents_get_answers(lsp: RawLspClient, project: Path, text: str, language: str):
    uri = lsp.open(project / "odd.py", text, language=language)
    end_line, end_character = _end(text)
    for line, character in ((0, 0), (0, 3), (end_line + 5, 0), (end_line, end_character + 9)):
        _result_or_error(await lsp.request("textDocument/inlineCompletion", _inline(uri, line, character)))
    answer = await lsp.request("textDocument/inlineCompletion", _inline(uri, end_line, end_character))
    assert answer.get("result") is not None, answer  # served, lone surrogates included
    [item] = answer["result"]["items"]
    assert item["insertText"] == "value"
    span = {"start": {"line": 0, "character": 0}, "end": {"line": end_line + 1, "character": 0}}
    _result_or_error(
        await lsp.request(
            "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
        )
    )
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


async def test_a_line_longer_than_the_service_accepts_is_cut_to_fit(lsp: RawLspClient, project: Path):
    # A 4 MB line: the windows around the cursor are cut by characters too (to what the token
    # budgets could hold), so the request fits the service's body limit and gets an answer.
    text = "x = " + "1 + " * 1_000_000
    uri = lsp.open(project / "long.py", text)
    error = _result_or_error(await lsp.request("textDocument/inlineCompletion", _inline(uri, *_end(text))))
    assert error is None
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


async def test_invalid_utf8_in_a_message_is_survived(lsp: RawLspClient, project: Path):
    item = {"uri": (project / "bytes.py").as_uri(), "languageId": "python", "version": 1, "text": "TEXT"}
    body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}})
    lsp.write(body.encode().replace(b"TEXT", b"a\xff\xfe\xc3("))
    error = _result_or_error(await lsp.request("textDocument/completion", _inline(item["uri"], 0, 1)))
    assert error is not None and "is not open" in error["message"]  # the message was unreadable: no document


@settings(max_examples=80, deadline=None, phases=NO_SHRINK)
@given(
    changes=st.lists(
        st.tuples(
            st.one_of(st.integers(min_value=-3, max_value=5), st.sampled_from([2**31 - 1, 10**12]), st.none()),
            st.one_of(
                st.fixed_dictionaries({"text": texts}),
                st.fixed_dictionaries(
                    {
                        "range": st.fixed_dictionaries(
                            {"start": _position(), "end": _position()},
                        ),
                        "text": texts,
                    }
                ),
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
async def test_changes_with_stale_versions_and_odd_ranges_are_survived(
    lsp: RawLspClient, project: Path, changes: list[tuple[object, dict[str, object]]]
):
    uri = lsp.open(project / "changing.py", SOURCE, version=3)
    for version, change in changes:
        lsp.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        )
    _result_or_error(await lsp.request("textDocument/inlineCompletion", _inline(uri, 0, 0)))
    # a whole-document change always brings the buffer back to a known text
    lsp.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 99}, "contentChanges": [{"text": "x = "}]}
    )
    answer = await lsp.request("textDocument/inlineCompletion", _inline(uri, 0, 4))
    assert answer["result"]["items"][0]["insertText"] == "value"
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


async def test_after_the_barrage_normal_requests_still_work(lsp: RawLspClient, project: Path):
    uri = lsp.open(project / "app.py", SOURCE, version=5)
    span = {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}}
    actions = (
        await lsp.request(
            "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
        )
    )["result"]
    [implement] = [a for a in actions if a["title"] == "Implement function 'todo'"]
    assert implement["command"]["arguments"] == ["implement", uri, 5, [3]]
    await _still_serving(lsp)
    assert lsp.process.returncode is None
