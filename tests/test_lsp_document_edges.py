"""Completions at the edges of a document, through the real ``ananke-lsp``: an empty new file,
the very start of a file, a minified line of hundreds of kilobytes. Each gets a suggestion or a
clean empty answer, never an internal error, and the server keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_client import SERVER, command, inline, open_doc, session

CONFIG = """
[completion]
max_tokens = 8
prefix_tokens = 256
suffix_tokens = 64

[generation]
temperature = 0.0
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edges")
    (root / ".ananke.toml").write_text(CONFIG)
    return root


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, project: Path):
    async with session(lsp_client, project):
        yield


def _suggestions(result: types.InlineCompletionList | None) -> list[str]:
    return [item.insert_text for item in result.items] if result is not None else []  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "def main():\n    pass\n"], ids=["empty-file", "start-of-file"])
async def test_completing_at_the_very_start_of_a_document(client: LanguageClient, project: Path, text: str):
    uri = open_doc(client, project / f"start{len(text)}.py", text)
    suggestions = _suggestions(await inline(client, uri, types.Position(line=0, character=0)))
    assert all("\ufffd" not in s for s in suggestions)


async def test_a_minified_line_gets_a_suggestion_and_the_server_keeps_answering(client: LanguageClient, project: Path):
    warm = open_doc(client, project / "warm.js", "var x = ", language="javascript")
    await inline(
        client, warm, types.Position(line=0, character=8)
    )  # what is timed below is the line, not the model load
    line = "var a=function(b){return b*2};" * 20_000  # 600 KB on one line
    uri = open_doc(client, project / "bundle.min.js", line, language="javascript")
    completion = asyncio.create_task(inline(client, uri, types.Position(line=0, character=len(line) // 2)))
    waits = []
    while not completion.done():
        started = time.monotonic()
        await command(client, "ananke.cacheStats")
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    assert all("\n" not in s for s in _suggestions(completion.result()))  # an answer, not an error
    assert max(waits) < 1.0, f"the event loop stalled {max(waits):.2f} s"
