"""End to end in a real, headless Neovim 0.11: the user config in editors/nvim/ananke.lua starts
ananke-lsp on a copy of examples/demo-project; editors/nvim/e2e.lua types a line, presses the
config's inline-completion key (the suggestion is inserted), runs "Implement function
'polygon_area'" through vim.lsp.buf.code_action, and writes the file. The assertions are on the
file on disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .lsp_client import server_command

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-project"
SESSION = ROOT / "editors" / "nvim" / "e2e.lua"
TIMEOUT_S = 120
ORIGINAL = (DEMO / "src" / "geometry.py").read_text("utf-8")
HEAD = ORIGINAL.split("    pass\n")[0]  # up to and including polygon_area's docstring
TAIL = ORIGINAL[ORIGINAL.index("\ndef circle_area(") :]
LAST_LINE = "def circle_area(radius: float) -> float: ...\n"
TYPED = "def perimeter(points):\n    total = "  # what the session types before asking for a suggestion
ALARMING = re.compile(r"Traceback|Exception|\bERROR\b|\bCRITICAL\b")


def _nvim() -> str:
    found = shutil.which("nvim") or shutil.which("nvim", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("nvim not found on PATH or next to the Python interpreter: pip install -e '.[dev]' installs it")
    return found


def _run_session(tmp_path: Path, mode: str) -> tuple[dict, Path, subprocess.CompletedProcess[str]]:
    project = tmp_path / "demo-project"
    shutil.copytree(DEMO, project)
    # The tiny chat model these tests run writes Python the parse check often withholds; this test
    # is about Neovim, the Python syntax has its own (tests/test_python_syntax.py and the LSP's).
    config = project / ".ananke.toml"
    config.write_text(config.read_text().replace("[completion]\n", '[completion]\npython_syntax = "off"\n', 1))
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NVIM_LOG_FILE": str(tmp_path / "nvim.log"),
        "ANANKE_E2E_PROJECT": str(project),
        "ANANKE_E2E_OUT": str(out),
        "ANANKE_E2E_MODE": mode,
        "ANANKE_E2E_CMD": json.dumps(server_command()),
    }
    for name in ("NVIM", "NVIM_LISTEN_ADDRESS", "VIMINIT", "MYVIMRC", "MODAL_ENDPOINT", "MODAL_API_KEY"):
        env.pop(name, None)
    command = [_nvim(), "--headless", "--clean", "-u", "NONE", "-l", str(SESSION)]
    # its own process group, so a hung session takes the language server down with it
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            result = out.read_text("utf-8") if out.exists() else "(no result file)"
            pytest.fail(
                f"the Neovim session ran past {TIMEOUT_S} s\n--- output ---\n{output}\n--- result ---\n{result}"
            )
    completed = subprocess.CompletedProcess(command, proc.returncode, output, "")
    assert out.exists(), f"the session wrote no result (exit {proc.returncode}):\n{output}"
    result = json.loads(out.read_text("utf-8"))
    if "error" in result or proc.returncode != 0:
        log = Path(result.get("lsp_log") or tmp_path / "state" / "nvim" / "lsp.log")
        pytest.fail(
            f"the session failed (exit {proc.returncode}): {result.get('error')}\n"
            f"--- output ---\n{output}\n--- result ---\n{json.dumps(result, indent=2)}\n"
            f"--- {log} ---\n{log.read_text('utf-8', errors='replace')[-6000:] if log.exists() else '(none)'}"
        )
    return result, project, completed


@pytest.fixture(scope="module", params=["resolve", "command"])
def session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One Neovim session per way of applying a code action: `resolve` is Neovim's default (the
    action is resolved through codeAction/resolve); `command` is a client that does not resolve
    edits (the server runs ananke.applyAction and sends workspace/applyEdit)."""
    tmp_path = tmp_path_factory.mktemp(f"nvim-{request.param}")
    return _run_session(tmp_path, request.param)


def test_neovim_attached_with_the_user_config(session):
    result, project, _ = session
    assert result["filetype"] == "python"
    assert Path(result["root_dir"]) == project  # root_markers found .ananke.toml
    assert result["steps"] == ["attached", "inline completion inserted", "code action applied", "written", "stopped"]


def test_inline_suggestion_was_inserted_at_the_cursor(session):
    result, project, _ = session
    suggestion = result["suggestion"]
    assert isinstance(suggestion, str) and suggestion.strip(), result["inline_item"]
    assert "\n" not in suggestion, "mid-line suggestions stay on one line"
    text = (project / "src" / "geometry.py").read_text("utf-8")
    assert f"\n{TYPED}{suggestion}\n" in text
    assert result["request_position"]["character"] == len("    total = "), "asked at the cursor, after `= `"
    _, col = result["cursor_after_insert"]
    assert result["line_after_insert"] == f"    total = {suggestion}"
    end = len(result["line_after_insert"].encode("utf-8"))
    assert end - 1 <= col <= end, "the cursor ends on the inserted text's end (normal mode stops on its last byte)"


def test_polygon_area_got_an_indented_body(session):
    result, project, _ = session
    assert result["action"]["title"] == "Implement function 'polygon_area'"
    if result["mode"] == "resolve":
        assert result["action"]["has_edit"] is False and not result["action"].get("command")  # resolved lazily
    else:
        assert result["action"]["command"]["command"] == "ananke.applyAction"
    text = (project / "src" / "geometry.py").read_text("utf-8")
    assert text.startswith(HEAD), "the module header, distance and polygon_area's signature and docstring stay"
    body = text[len(HEAD) : text.index(f"\n{TYPED}")].strip("\n")
    lines = body.split("\n")
    assert body.strip() and body.strip() != "pass", body
    assert all(line.startswith("    ") for line in lines if line.strip()), body
    assert lines[0].strip(), "the body starts right under the docstring"


def test_file_on_disk_keeps_the_project_style_and_the_rest_of_the_file(session):
    result, project, _ = session
    text = (project / "src" / "geometry.py").read_text("utf-8")
    assert result["modified"] is False and text.split("\n")[:-1] == result["lines"]  # :write wrote it
    # the python_style constraint of .ananke.toml, checked independently
    assert "\t" not in text
    assert not [line for line in text.split("\n") if re.search(r"[ \t]$", line)]
    assert text.endswith(f"\n{TYPED}{result['suggestion']}\n\n{TAIL}") and text.endswith(LAST_LINE)
    assert re.findall(r"^def (\w+)", text, re.MULTILINE) == ["distance", "polygon_area", "perimeter", "circle_area"]


def _lsp_log_problems(log: Path) -> list[str]:
    """Entries of Neovim's lsp.log (level WARN and up) that are not benign: anything Neovim itself
    logged, and whatever the server wrote to stderr at WARNING or worse (Neovim logs every stderr
    chunk as an ERROR, so the chunk's text decides)."""
    if not log.exists():
        return []
    entries = re.split(r"\n(?=\[[A-Z]+\]\[)", log.read_text("utf-8", errors="replace"))
    problems = []
    for entry in entries:
        if entry.startswith("[START]") or not entry.strip():
            continue
        if '"stderr"' in entry and not re.search(r"Traceback|Exception|\b(WARNING|ERROR|CRITICAL) ananke", entry):
            continue
        problems.append(entry)
    return problems


# Neovim resolves every code action that lacks an edit when the server has resolveProvider, including
# the command-carrying actions the server offers to clients without resolveSupport for "edit".
KNOWN_RESOLVE_BUG = "this code action carries no target"


def test_nothing_alarming_was_reported(session):
    result, _, completed = session
    shown = [m for m in result["messages"] if m["method"] == "window/showMessage" and m["type"] <= 2]
    assert not shown, shown
    logged = [m for m in result["messages"] if m["type"] == 1 or ALARMING.search(m["message"] or "")]
    assert not logged, logged
    warned = [n for n in result["notifications"] if (n["level"] or 0) >= 3]  # vim.log.levels.WARN
    assert not warned, warned
    assert not ALARMING.search(result["messages_output"]), result["messages_output"]
    assert not ALARMING.search(completed.stdout), completed.stdout
    problems = _lsp_log_problems(Path(result["lsp_log"]))
    assert not problems, "\n".join(problems)[-6000:]


def test_server_advertises_inline_completion(session):
    result, _, _ = session
    assert result["server_capabilities"]["inlineCompletion"]
