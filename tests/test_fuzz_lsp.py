"""Hostile LSP input against the real ``ananke-lsp`` process over stdio: malformed JSON-RPC,
unknown methods, params of the wrong shape, positions out of range, huge documents, text that is
not valid Unicode, stale versions. The process stays up, answers every request with a result or a
JSON-RPC error, and serves a normal request afterwards. Generation goes to the service on an
engine that answers at once (no model is loaded)."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from modal_service.server import create_app

from .servers import serve_in_thread, wait_healthy
from .test_fuzz_service import InstantEngine

ANSWER_S = 10.0  # per request; the instant engine answers in milliseconds
# An unanswered request costs ANSWER_S per attempt: report the first failing example as found
# instead of shrinking it for hours.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
FUZZ = settings(max_examples=150, deadline=None, phases=NO_SHRINK)
SOURCE = 'import os\n\n\ndef todo(x: int) -> int:\n    """Double x."""\n    pass\n\n# add two numbers\n'
CONFIG = '[completion]\ndebounce_ms = 0\n\n[[constraints]]\nname = "no-tabs"\nregex = "[^\\t]*"\n'


class RawClient:
    """Content-Length framed JSON-RPC over the process's pipes, byte for byte as sent."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.ids = itertools.count(1)
        self._answers: dict[object, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line or length is None:
                return
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:
                self._answer_server_request(message)
            elif "method" in message:
                self.notifications.put(message)
            else:
                with self._arrived:
                    self._answers[message.get("id")] = message
                    self._arrived.notify_all()

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        """What an editor answers: edits are not applied, settings are absent."""
        method, params = message["method"], message.get("params") or {}
        result: object = None
        if method == "workspace/applyEdit":
            result = {"applied": False}
        elif method == "workspace/configuration":
            result = [None] * len(params.get("items", []))
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def frame(self, body: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def send(self, message: object) -> None:
        self.frame(json.dumps(message).encode())

    def notify(self, method: str, params: object) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, msg_id: object, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + ANSWER_S
        with self._arrived:
            while msg_id not in self._answers:
                assert self.process.poll() is None, f"ananke-lsp exited ({self.process.returncode}) after {what}"
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no answer to request {msg_id} ({what}) in {ANSWER_S} s"
                self._arrived.wait(min(remaining, 0.5))
            return self._answers.pop(msg_id)

    def unmatched(self) -> list[dict[str, Any]]:
        """Answers that no request of ours asked for (a reply with a null id), taken."""
        with self._arrived:
            return [self._answers.pop(key) for key in list(self._answers) if not isinstance(key, int)]

    def request(self, method: str, params: object = None, **envelope: object) -> dict[str, Any]:
        msg_id = next(self.ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, **envelope}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.wait(msg_id, f"{method} {json.dumps(params)[:200]}")


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


@pytest.fixture(scope="module")
def lsp(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawClient]:
    log = (tmp_path_factory.mktemp("fuzz-lsp-log") / "stderr.log").open("wb")  # a file: never a full pipe
    with serve_in_thread(create_app(InstantEngine())) as url:
        wait_healthy(url)
        process = subprocess.Popen(
            [sys.executable, "-m", "ananke_lsp.server", "--log-level", "WARNING"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        client = RawClient(process)
        try:
            init = client.request(
                "initialize",
                {
                    "processId": None,
                    "rootUri": project.as_uri(),
                    "capabilities": {},
                    "initializationOptions": {"engine": "service", "endpoint": url},
                },
            )
            assert init["result"]["serverInfo"]["name"] == "ananke-lsp"
            client.notify("initialized", {})
            open_doc(client, project / "app.py", SOURCE)
            yield client
        finally:
            process.kill()
            process.wait(timeout=10)
            client.reader.join(timeout=10)  # it reads to the end of the pipe, then the pipes can close
            for stream in (process.stdin, process.stdout, log):
                stream.close()


def open_doc(client: RawClient, path: Path, text: str, version: int = 1, language: str = "python") -> str:
    uri = path.as_uri()
    item = {"uri": uri, "languageId": language, "version": version, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": item})
    return uri


def _still_serving(client: RawClient) -> None:
    stats = client.request("workspace/executeCommand", {"command": "ananke.cacheStats", "arguments": []})
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
def test_every_request_gets_a_result_or_an_error(lsp: RawClient, project: Path, data: st.DataObject):
    method, params = data.draw(requests(project))
    error = _result_or_error(lsp.request(method, params))
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
def test_notifications_of_any_shape_are_survived(lsp: RawClient, method: str, params: object):
    lsp.notify(method, params)
    _still_serving(lsp)
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
def test_malformed_messages_leave_the_server_serving(lsp: RawClient, body: bytes):
    lsp.frame(body)
    _still_serving(lsp)
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
def test_unusable_requests_get_the_error_that_says_why(lsp: RawClient, envelope: dict[str, object], code: int):
    msg_id = next(lsp.ids)
    lsp.send({**envelope, "id": msg_id})
    error = _result_or_error(lsp.wait(msg_id, json.dumps(envelope)))
    assert error is not None and error["code"] == code


@settings(max_examples=100, deadline=None, phases=NO_SHRINK)
@given(line=numbers, character=numbers)
def test_positions_out_of_range_get_a_result_or_an_error(
    lsp: RawClient, project: Path, line: object, character: object
):
    uri = (project / "app.py").as_uri()
    for method in ("textDocument/inlineCompletion", "textDocument/completion"):
        _result_or_error(lsp.request(method, _inline(uri, line, character)))
    span = {"start": {"line": line, "character": character}, "end": {"line": line, "character": character}}
    params = {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
    _result_or_error(lsp.request("textDocument/codeAction", params))


def test_a_negative_position_is_invalid_params_naming_the_field(lsp: RawClient, project: Path):
    error = _result_or_error(
        lsp.request("textDocument/inlineCompletion", _inline((project / "app.py").as_uri(), -1, 0))
    )
    assert error is not None and error["code"] == -32602 and "Position.line" in error["message"]


def test_an_unopened_document_is_refused_not_read_from_disk(lsp: RawClient):
    started = time.monotonic()
    error = _result_or_error(lsp.request("textDocument/inlineCompletion", _inline("file:///dev/zero", 0, 0)))
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
def test_huge_and_odd_documents_get_answers(lsp: RawClient, project: Path, text: str, language: str):
    uri = open_doc(lsp, project / "odd.py", text, language=language)
    end_line, end_character = _end(text)
    for line, character in ((0, 0), (0, 3), (end_line + 5, 0), (end_line, end_character + 9)):
        _result_or_error(lsp.request("textDocument/inlineCompletion", _inline(uri, line, character)))
    answer = lsp.request("textDocument/inlineCompletion", _inline(uri, end_line, end_character))
    assert answer.get("result") is not None, answer  # served, lone surrogates included
    [item] = answer["result"]["items"]
    assert item["insertText"] == "value"
    span = {"start": {"line": 0, "character": 0}, "end": {"line": end_line + 1, "character": 0}}
    _result_or_error(
        lsp.request(
            "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
        )
    )
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_a_line_longer_than_the_service_accepts_is_cut_to_fit(lsp: RawClient, project: Path):
    # A 4 MB line: the windows around the cursor are cut by characters too (to what the token
    # budgets could hold), so the request fits the service's body limit and gets an answer.
    text = "x = " + "1 + " * 1_000_000
    uri = open_doc(lsp, project / "long.py", text)
    error = _result_or_error(lsp.request("textDocument/inlineCompletion", _inline(uri, *_end(text))))
    assert error is None
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_invalid_utf8_in_a_message_is_survived(lsp: RawClient, project: Path):
    item = {"uri": (project / "bytes.py").as_uri(), "languageId": "python", "version": 1, "text": "TEXT"}
    body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}})
    lsp.frame(body.encode().replace(b"TEXT", b"a\xff\xfe\xc3("))
    error = _result_or_error(lsp.request("textDocument/completion", _inline(item["uri"], 0, 1)))
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
def test_changes_with_stale_versions_and_odd_ranges_are_survived(
    lsp: RawClient, project: Path, changes: list[tuple[object, dict[str, object]]]
):
    uri = open_doc(lsp, project / "changing.py", SOURCE, version=3)
    for version, change in changes:
        lsp.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        )
    _result_or_error(lsp.request("textDocument/inlineCompletion", _inline(uri, 0, 0)))
    # a whole-document change always brings the buffer back to a known text
    lsp.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 99}, "contentChanges": [{"text": "x = "}]}
    )
    answer = lsp.request("textDocument/inlineCompletion", _inline(uri, 0, 4))
    assert answer["result"]["items"][0]["insertText"] == "value"
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_after_the_barrage_normal_requests_still_work(lsp: RawClient, project: Path):
    uri = open_doc(lsp, project / "app.py", SOURCE, version=5)
    span = {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}}
    actions = lsp.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": []}}
    )["result"]
    [implement] = [a for a in actions if a["title"] == "Implement function 'todo'"]
    assert implement["command"]["arguments"] == ["implement", uri, 5, [3]]
    _still_serving(lsp)
    assert lsp.process.poll() is None
