"""The two prompt forms *Implement function* is measured in.

- **shipped**: the real ``ananke-lsp`` (``editor_session``) asked for the code action at the def
  line, resolved, its edit applied: fill-in-the-middle at the body (``python_actions.py``).
- **chat**: the same model through the engine directly, its chat template with the whole file in
  a python code fence and an instruction asking for the body; the shipped action's constraints
  (the block starts at the body's indentation, brackets balance), stopped at a dedent, greedy."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types

from ananke_lsp.config.discovery import CONFIG_NAME
from ananke_lsp.config.schema import GenerationSettings
from ananke_lsp.constraints import ConstraintCache
from ananke_lsp.context.brackets import comment_marker
from ananke_lsp.context.buffer_constraints import balanced_brackets, block_start
from ananke_lsp.editor_session import EditorSession, editor_session
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.engines.line_stops import LineStops
from ananke_lsp.errors import EngineError
from ananke_lsp.generation import run
from ananke_lsp.server.commands import PROVENANCE
from bench.implement_tasks import ImplementTask, task_of
from bench.lsp_suggestions import _copy

ACTION = "Implement function"
MAX_TOKENS: int = GenerationSettings.model_fields["max_tokens"].default  # the shipped action's budget
# An untimed first request of each form: the model's load and the constraints' first compile.
WARM_UP = task_of(
    {
        "task_id": "warm-up",
        "entry_point": "add",
        "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
        "test": "",
        "canonical_solution": "    return a + b\n",
    }
)
# Tried on the 0.5B with these constraints: naming `pass` ("which is only `pass` now") made it answer
# `pass`; a worked example was copied verbatim; most wordings get the whole function restated one
# level deeper (a nested `def`), since the body-first constraint leaves it no room for the fence
# and signature it writes unconstrained.
CHAT_PROMPT = """```python
{file}```

Complete the function `{name}` above: write its body, indented as in the file, without its signature \
and docstring."""


@dataclass(frozen=True)
class Attempt:
    """One problem's result in one form: the program after the edit (None: nothing applied)."""

    program: str | None
    seconds: float
    error: str | None = None
    tokens: int | None = None  # generated, as the engine counted them
    finish_reason: str | None = None


def chat_request(task: ImplementTask, max_tokens: int = MAX_TOKENS) -> EngineRequest:
    indent = task.body_indent
    return EngineRequest(
        chat=True,
        prompt=CHAT_PROMPT.format(file=task.file, name=task.entry_point),
        constraints=[block_start(indent), balanced_brackets([], comment_marker("python"))],
        line_stops=LineStops(dedent_below=len(indent)),
        max_tokens=max_tokens,
        temperature=0.0,
    )


async def through_chat(model: str, tasks: list[ImplementTask]) -> tuple[list[Attempt], dict[str, Any]]:
    """Every task through the embedded engine (no LSP), one after the other."""
    engine, cache = EmbeddedEngine(model), ConstraintCache()
    started = time.perf_counter()
    await run(engine, cache, chat_request(WARM_UP))
    info: dict[str, Any] = {
        "warm_up_seconds": time.perf_counter() - started,
        "max_tokens": MAX_TOKENS,
        "prompt": CHAT_PROMPT,
    }
    out: list[Attempt] = []
    for task in tasks:
        started = time.perf_counter()
        try:
            outcome = (await run(engine, cache, chat_request(task))).cut_to_valid()  # as the server does
        except EngineError as exc:  # a prompt too long for the context, say: nothing applied
            out.append(Attempt(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"))
            continue
        seconds, result = time.perf_counter() - started, outcome.result
        error = None
        if not outcome.validation.all_satisfied:
            error = f"constraints not met: {outcome.validation.errors}"
        elif not result.text.strip():
            error = "only whitespace"
        program = None if error else task.with_body(result.text)
        out.append(Attempt(program, seconds, error, result.tokens_generated, result.finish_reason))
        _progress("chat", out, len(tasks))
    return out, info


async def through_lsp(
    model: str, tasks: list[ImplementTask], root: Path, log: Path, config: str, timeout: float
) -> tuple[list[Attempt], dict[str, Any]]:
    """Every task's file written into ``root`` and implemented by one ``ananke-lsp``; ``config``,
    when not empty, is the .ananke.toml in ``root``."""
    if config:
        (root / CONFIG_NAME).write_text(config)
    out: list[Attempt] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with editor_session(root, {"engine": "embedded", "model": model}) as session:
            server = session.client._server
            assert server is not None and server.stderr is not None
            drain = asyncio.create_task(_copy(server.stderr, log))  # an unread stderr pipe would block it
            warm = await _implement(session, root / "warm_up.py", WARM_UP, timeout)
            if warm.error:
                raise RuntimeError(f"ananke-lsp did not implement the warm-up function: {warm.error} (log: {log})")
            for i, task in enumerate(tasks):
                out.append(await _implement(session, root / f"humaneval_{i:03d}.py", task, timeout))
                _progress("ananke-lsp", out, len(tasks))
            messages = [m for m in session.messages if not m.startswith("ananke: {")]  # not the provenance
    finally:
        if drain is not None:
            await drain
    return out, {"warm_up_seconds": warm.seconds, "server_messages": messages, "server_log": str(log)}


async def _implement(session: EditorSession, path: Path, task: ImplementTask, timeout: float) -> Attempt:
    path.write_text(task.file)
    started = time.perf_counter()
    try:
        shown = await asyncio.wait_for(session.code_action(path, task.def_line, ACTION), timeout)
    except Exception as exc:  # not offered, an error answer, a timeout: nothing applied
        return Attempt(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    finally:
        session.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=path.resolve().as_uri()))
        )
    if shown.text == task.file:
        return Attempt(None, shown.seconds, f"no edit (server said: {session.messages[-1:]})")
    last = await session.client.workspace_execute_command_async(types.ExecuteCommandParams(command=PROVENANCE))
    mine = isinstance(last, dict) and Path(str(last.get("file"))).resolve() == path.resolve()
    tokens, reason = (last.get("tokens"), last.get("finish_reason")) if mine else (None, None)
    return Attempt(shown.text, shown.seconds, None, tokens, reason)


def _progress(name: str, done: list[Attempt], total: int) -> None:
    if len(done) % 10 == 0 or len(done) == total:
        mean = sum(a.seconds for a in done) / len(done)
        print(f"  {name}: {len(done)}/{total} problems, {mean:.2f} s each", file=sys.stderr)
