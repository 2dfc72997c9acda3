"""What an editor user gets from ananke-lsp beyond the basics: buffer-derived constraints,
debounce and reuse, real cancellation, every code action, commands, settings, logs."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import time
from pathlib import Path

import jsonschema
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_client import SERVER, actions, apply_edit, change_doc, command, end_position, inline, open_doc, session

API_KEY = "sk-test-4e1f9c2b7d"
CONFIG = r"""
[completion]
max_tokens = 24

[generation]
max_tokens = 120
temperature = 0.0

[privacy]
exclude = ["private/**"]

[[constraints]]
name = "app_config"
files = ["config/*.json"]
json_schema_file = "schemas/app.schema.json"
"""
# Where the tests of other features run the tiny chat model on Python: the syntax check would
# withhold most of what it writes (tested on its own, in the root project).
PLAIN_CONFIG = r"""
[completion]
max_tokens = 24
python_syntax = "off"

[generation]
max_tokens = 120
temperature = 0.0
"""
SLOW_CONFIG = r"""
[completion]
max_tokens = 1000

[[constraints]]
name = "endless"
actions = ["inline_completion"]
regex = '[a-z ]{4000}'
"""
APP_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "debug": {"type": "boolean"},
    },
    "required": ["name", "port", "debug"],
    "additionalProperties": False,
}
FUNCS = """import math


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def hypotenuse(a: float, b: float) -> float:
    return math.sqrt(a * a + b * b)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("features")
    (root / ".ananke.toml").write_text(CONFIG)
    (root / "schemas").mkdir()
    (root / "schemas" / "app.schema.json").write_text(json.dumps(APP_SCHEMA))
    (root / "config").mkdir()
    (root / "slow").mkdir()
    (root / "plain").mkdir()
    (root / "plain" / ".ananke.toml").write_text(PLAIN_CONFIG)
    (root / "slow" / ".ananke.toml").write_text(SLOW_CONFIG)
    return root


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, project: Path):
    async with session(lsp_client, project, {"apiKey": API_KEY, "logLevel": "debug"}):
        yield


async def _stats(client: LanguageClient) -> dict:
    return await command(client, "ananke.cacheStats")


def _brackets_ok(text: str, outer: list[str]) -> bool:
    """Independent check: what the text opens it closes; it may close ``outer`` (innermost last).
    Brackets and quotes inside a Python comment do not count."""
    pairs, stack, outer = {"(": ")", "[": "]", "{": "}"}, [], list(outer)
    text = re.sub(r"\"([^\"\\\n]|\\.)*\"|'([^'\\\n]|\\.)*'|#[^\n]*", "", text)  # strings, comments
    if '"' in text or "'" in text:
        return False
    for ch in text:
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in pairs.values():
            if stack:
                if stack.pop() != ch:
                    return False
            elif outer and pairs[outer[-1]] == ch:
                outer.pop()
            else:
                return False
    return not stack


async def test_inline_completion_closes_what_it_opens(client: LanguageClient, project: Path):
    for i, line in enumerate(["total = max(mean(values), ", "pairs = [(a, b) for a in ", "point = {'x': hypotenuse("]):
        text = FUNCS + "\n" + line
        uri = open_doc(client, project / "plain" / f"brackets{i}.py", text)
        result = await inline(client, uri, end_position(text))
        assert result is not None, line
        suggestion = result.items[0].insert_text
        assert "\n" not in suggestion
        opened = [c for c in re.sub(r"'[^']*'", "", line) if c in "([{"]
        closed_in_line = sum(1 for c in re.sub(r"'[^']*'", "", line) if c in ")]}")
        assert _brackets_ok(suggestion, opened[: len(opened) - closed_in_line]), (line, suggestion)


async def test_inline_completion_does_not_retype_what_follows(client: LanguageClient, project: Path):
    text = FUNCS + "\nlargest = max(values)\n"
    uri = open_doc(client, project / "repeat.py", text)
    cursor = types.Position(line=text.count("\n") - 1, character=len("largest = max("))
    result = await inline(client, uri, cursor)
    if result is not None:  # nothing at all is a valid answer; retyping ")" is not
        assert not result.items[0].insert_text.rstrip().endswith(")")


async def test_a_burst_of_keystrokes_starts_at_most_one_generation(client: LanguageClient, project: Path):
    word = "hypotenuse(3.0, 4.0) + mean([1.0, 2.0])"
    base = FUNCS + "\nvalue = "
    uri = open_doc(client, project / "burst.py", base)
    before = (await _stats(client))["engine_requests"]
    pending = []
    for i in range(1, 21):
        text = base + word[:i]
        change_doc(client, uri, text, version=1 + i)
        pending.append(asyncio.ensure_future(inline(client, uri, end_position(text), invoked=False)))
        await asyncio.sleep(0.05)
    results = await asyncio.gather(*pending, return_exceptions=True)
    started = (await _stats(client))["engine_requests"] - before
    assert 1 <= started <= 2, f"{started} generations for one burst"
    # the final keystroke is answered (with nothing, when the model ends the complete line there)
    assert not isinstance(results[-1], BaseException)


async def test_typing_the_suggestion_reuses_it_without_generating(client: LanguageClient, project: Path):
    text = FUNCS + "\nradius = hypotenuse("
    uri = open_doc(client, project / "reuse.py", text)
    first = await inline(client, uri, end_position(text))
    assert first is not None
    suggestion = first.items[0].insert_text
    if len(suggestion) < 2:
        pytest.skip(f"the model suggested {suggestion!r}: too short to type a part of")
    before = await _stats(client)
    typed = text + suggestion[:2]
    change_doc(client, uri, typed, version=2)
    again = await inline(client, uri, end_position(typed))
    after = await _stats(client)
    assert again is not None and again.items[0].insert_text == suggestion[2:]
    assert after["engine_requests"] == before["engine_requests"]
    assert after["suggestion_reuses"] == before["suggestion_reuses"] + 1


async def test_cancel_request_stops_the_generation(client: LanguageClient, project: Path):
    text = "story = "
    uri = open_doc(client, project / "slow" / "story.py", text)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=end_position(text),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    )
    pending = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
    [msg_id] = [i for i, f in client.protocol._request_futures.items() if f is pending]
    started = (await _stats(client))["engine_tokens_decoded"] or 0
    deadline = time.monotonic() + 20
    while (await _stats(client))["engine_tokens_decoded"] - started < 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # until well into a generation that would run for seconds
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))  # as an editor does
    cancelled_at = time.monotonic()
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wrap_future(pending)
    last, stable_since = (await _stats(client))["engine_tokens_decoded"], time.monotonic()
    while time.monotonic() - stable_since < 0.5:
        await asyncio.sleep(0.02)
        now = (await _stats(client))["engine_tokens_decoded"]
        if now != last:
            last, stable_since = now, time.monotonic()
    assert stable_since - cancelled_at < 1.0
    assert last - started >= 30, "the generation had started"


async def test_add_docstring(client: LanguageClient, project: Path):
    uri = open_doc(client, project / "doc.py", FUNCS)
    found = await actions(client, uri, types.Position(line=3, character=4))
    [docstring] = [a for a in found if a.title == "Add docstring to 'mean'"]
    resolved = await client.code_action_resolve_async(docstring)
    [edit] = resolved.edit.document_changes[0].edits
    assert re.fullmatch(r'    """[^"\\\n]+(\n(    [^"\\\n]*)?)*"""\n', edit.new_text), edit.new_text
    new = apply_edit(FUNCS, edit)
    compile(new, "doc.py", "exec")  # still Python
    assert new.replace(edit.new_text, "") == FUNCS


async def test_generate_from_comment(client: LanguageClient, project: Path):
    text = FUNCS + "\n\ndef median(values: list[float]) -> float:\n    # sort the values and take the middle one\n"
    uri = open_doc(client, project / "comment.py", text)
    comment_line = text.count("\n") - 1
    found = await actions(client, uri, types.Position(line=comment_line, character=6))
    [action] = [a for a in found if a.title == "Generate code from this comment"]
    resolved = await client.code_action_resolve_async(action)
    [edit] = resolved.edit.document_changes[0].edits
    assert edit.range.start == types.Position(line=comment_line + 1, character=0)
    assert edit.new_text.strip() and all(ln.startswith("    ") for ln in edit.new_text.split("\n") if ln.strip())
    assert _brackets_ok(edit.new_text.replace("\n", " "), [])


async def test_fill_json_from_the_schema_named_in_the_config(client: LanguageClient, project: Path):
    uri = open_doc(client, project / "config" / "app.json", "{}\n", language="json")
    found = await actions(client, uri, types.Position(line=0, character=0))
    [fill] = [a for a in found if a.title.startswith("Fill JSON from schema")]
    resolved = await client.code_action_resolve_async(fill)
    [edit] = resolved.edit.document_changes[0].edits
    jsonschema.validate(json.loads(edit.new_text), APP_SCHEMA)


async def test_fill_json_from_a_local_dollar_schema(client: LanguageClient, project: Path):
    text = '{"$schema": "../schemas/app.schema.json"}\n'
    (project / "other").mkdir(exist_ok=True)
    uri = open_doc(client, project / "other" / "service.json", text, language="json")
    [fill] = [a for a in await actions(client, uri, types.Position(line=0, character=0)) if "Fill JSON" in a.title]
    resolved = await client.code_action_resolve_async(fill)
    [edit] = resolved.edit.document_changes[0].edits
    document = json.loads(edit.new_text)
    assert document.pop("$schema") == "../schemas/app.schema.json"
    jsonschema.validate(document, APP_SCHEMA)


async def test_regenerate_replaces_the_last_generated_text(client: LanguageClient, project: Path):
    source = "def add(a: int, b: int) -> int:\n    ...\n"
    uri = open_doc(client, project / "plain" / "regen.py", source)
    [implement] = [a for a in await actions(client, uri, types.Position(line=0, character=0)) if "Implement" in a.title]
    first = (await client.code_action_resolve_async(implement)).edit.document_changes[0].edits[0]
    balanced = await command(client, "ananke.showProvenance")  # [generation] temperature = 0.0 still wins
    assert [balanced[k] for k in ("profile", "temperature", "top_p", "seed")] == ["balanced", 0.0, 0.95, 0]
    applied = apply_edit(source, first)
    change_doc(client, uri, applied, version=2)
    [regen] = [a for a in await actions(client, uri, types.Position(line=0, character=0)) if "Regenerate" in a.title]
    second = (await client.code_action_resolve_async(regen)).edit.document_changes[0]
    assert second.text_document.version == 2
    [edit] = second.edits
    assert apply_edit(applied, edit).startswith("def add(a: int, b: int) -> int:\n    ")
    assert edit.range.start == types.Position(line=1, character=0)  # exactly where the body was put
    creative = await command(client, "ananke.showProvenance")  # sampled again: a fresh seed, hotter
    assert [creative[k] for k in ("profile", "temperature", "top_p")] == ["creative", 0.8, 0.95]
    assert creative["seed"] != balanced["seed"]


async def test_commands_health_cache_and_provenance(client: LanguageClient, project: Path):
    text = FUNCS + "\nz = mean("
    await inline(client, open_doc(client, project / "provenance.py", text), end_position(text))
    health = await command(client, "ananke.healthCheck")
    assert health["ok"] and health["engine"] == "embedded" and health["self_test"]["ok"]
    stats = await command(client, "ananke.cacheStats")
    assert stats["limit"] == 1000 and stats["size"] >= 1
    cleared = await command(client, "ananke.clearCache")
    assert cleared["size"] == 0
    provenance = await command(client, "ananke.showProvenance")
    assert provenance["model"].startswith("SmolLM2") and provenance["file"].endswith("provenance.py")
    assert "buffer:balanced-brackets" in provenance["enforced"]  # `mean(` is open: the suggestion may close it
    assert [provenance[k] for k in ("profile", "temperature", "top_p", "seed")] == ["deterministic", 0.0, 1.0, 0]


async def test_the_editor_profile_setting_applies_to_every_action(client: LanguageClient, project: Path):
    text = FUNCS + "\n\ndef half(x: float) -> float:\n    ...\n\n\nw = mean("
    uri = open_doc(client, project / "plain" / "profile.py", text)
    client.set_configuration({"ananke": {"profile": "creative", "apiKey": API_KEY, "logLevel": "debug"}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    seeds = []
    for _ in range(2):
        await command(client, "ananke.clearCache")  # else the second answer is the first, from the cache
        await inline(client, uri, end_position(text))
        provenance = await command(client, "ananke.showProvenance")
        assert [provenance[k] for k in ("profile", "temperature", "top_p")] == ["creative", 0.8, 0.95]
        seeds.append(provenance["seed"])
    assert seeds[0] != seeds[1]
    def_line = text.split("\n").index("def half(x: float) -> float:")
    found = await actions(client, uri, types.Position(line=def_line, character=0))
    [implement] = [a for a in found if a.title == "Implement function 'half'"]
    await client.code_action_resolve_async(implement)
    provenance = await command(client, "ananke.showProvenance")  # the project's temperature = 0.0 still wins
    assert [provenance[k] for k in ("profile", "temperature", "top_p")] == ["creative", 0.0, 0.95]


async def test_settings_from_workspace_configuration(client: LanguageClient, project: Path):
    text = FUNCS + "\nx = mean("
    uri = open_doc(client, project / "settings.py", text)
    client.set_configuration({"ananke": {"inlineCompletion": False}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    assert await inline(client, uri, end_position(text)) is None
    client.set_configuration({"ananke": {"inlineCompletion": True, "apiKey": API_KEY, "logLevel": "debug"}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    assert await inline(client, uri, end_position(text)) is not None


async def test_private_files_get_nothing(client: LanguageClient, project: Path):
    before = await _stats(client)
    for name, text in (("private/notes.py", "password = "), (".env", "TOKEN="), ("keys/server.pem", "-----")):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        uri = open_doc(client, project / name, text, language="python")
        assert await inline(client, uri, end_position(text)) is None
        assert await actions(client, uri, types.Position(line=0, character=0)) == []
    assert (await _stats(client))["engine_requests"] == before["engine_requests"]


async def test_logs_reach_the_editor_and_never_show_the_api_key(client: LanguageClient, project: Path):
    text = FUNCS + "\ny = hypotenuse("
    uri = open_doc(client, project / "logs.py", text)
    await inline(client, uri, end_position(text))
    await command(client, "ananke.healthCheck")
    logged = [m.message for m in client.log_messages] + [m.message for m in client.messages]
    assert any("ananke" in m for m in logged)
    assert not any(API_KEY in m for m in logged)


async def test_python_suggestions_and_actions_keep_the_file_parsing(client: LanguageClient, project: Path):
    text = FUNCS + "\n\ndef scaled(values: list[float], k: float) -> list[float]:\n    result = [v * k for v in "
    uri = open_doc(client, project / "syntax.py", text)
    result = await inline(client, uri, end_position(text))
    provenance = await command(client, "ananke.showProvenance")
    assert "buffer:python-syntax" in provenance["enforced"]
    assert provenance["python_syntax"]["grammar"] is True
    def_line = text.split("\n").index("def scaled(values: list[float], k: float) -> list[float]:")
    assert provenance["python_syntax"]["detail"].startswith(f"read from line {def_line + 1} ")
    if result is not None:  # the tiny chat model may find nothing; what it shows parses
        ast.parse(text + result.items[0].insert_text)
    source = "def add(a: int, b: int) -> int:\n    ...\n\n\nprint(add(1, 2))\n"
    uri = open_doc(client, project / "syntax_action.py", source)
    [implement] = [a for a in await actions(client, uri, types.Position(line=0, character=0)) if "Implement" in a.title]
    try:
        resolved = await client.code_action_resolve_async(implement)
    except Exception as exc:  # withheld, and said so, rather than applied broken
        assert "would not parse" in str(exc) or "constraints not met" in str(exc)
    else:
        ast.parse(apply_edit(source, resolved.edit.document_changes[0].edits[0]))
