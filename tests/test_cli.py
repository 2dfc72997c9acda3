"""The `ananke` command as a user runs it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ananke_lsp.constraints.compile import MAX_CONSTRAINT_BYTES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "demo-project"


def _ananke(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ananke_lsp", *args], capture_output=True, text=True, timeout=timeout)


def test_generate_with_regex_prints_text_and_validation():
    pattern = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    run = _ananke("generate", "Today's date?", "--regex", pattern, "--max-tokens", "20")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(pattern, run.stdout.rstrip("\n"))
    assert "all constraints hold" in run.stderr and "['regex']" in run.stderr


def test_generate_json_output_is_the_whole_response(tmp_path):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    (tmp_path / "ok.json").write_text(json.dumps(schema))
    run = _ananke("generate", "Is it ok?", "--json-schema", str(tmp_path / "ok.json"), "--json", "--max-tokens", "20")
    assert run.returncode == 0, run.stderr
    response = json.loads(run.stdout)
    assert json.loads(response["code"]) in ({"ok": True}, {"ok": False})
    assert response["validation"]["satisfied"] == ["ok"] and response["metadata"]["tokens_generated"] > 0


def test_generate_reports_violation_when_tokens_run_out():
    run = _ananke("generate", "Count", "--regex", r"[a-z]{50}", "--max-tokens", "3")
    assert run.returncode == 1
    assert "VIOLATED" in run.stderr and "incomplete" in run.stderr


@pytest.mark.parametrize(
    "conflicting",
    [["--regex", "a+", "--regex", "b+"], ["--regex", "a+", "--grammar", "B"]],
    ids=["two regexes (one matcher)", "a regex and a grammar (two matchers)"],
)
def test_generate_reports_conflicting_constraints_as_a_conflict(tmp_path: Path, conflicting: list[str]):
    (tmp_path / "b.lark").write_text('start: "b"+\n')
    args = [str(tmp_path / "b.lark") if a == "B" else a for a in conflicting]
    run = _ananke("generate", "Say hi", *args, "--max-tokens", "8")
    assert run.returncode == 1
    assert "CONFLICT: the constraints contradict each other" in run.stderr and "incomplete" not in run.stderr


@pytest.mark.parametrize(
    "conflicting",
    [["--regex", "a+", "--regex", "b+"], ["--regex", "a+", "--grammar", "B"]],
    ids=["two regexes (one matcher)", "a regex and a grammar (two matchers)"],
)
def test_the_engine_itself_reports_the_conflict(tmp_path: Path, conflicting: list[str]):
    # not inferred from an end of text with unmet constraints: the engine ends with the reason
    (tmp_path / "b.lark").write_text('start: "b"+\n')
    args = [str(tmp_path / "b.lark") if a == "B" else a for a in conflicting]
    run = _ananke("generate", "Say hi", *args, "--max-tokens", "8", "--json")
    assert run.returncode == 1
    response = json.loads(run.stdout)
    assert response["metadata"]["finish_reason"] == "constraint_conflict" and response["code"] == ""


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = {
    "missing": lambda tmp: tmp / "missing.lark",
    "a directory": lambda tmp: tmp,
    "endless (/dev/zero)": lambda tmp: Path("/dev/zero"),
    "a FIFO nobody writes": lambda tmp: _fifo(tmp / "pipe.lark"),
    "over the constraint limit": lambda tmp: _written(tmp / "big.lark", b"start: %s\n" % (b"x" * MAX_CONSTRAINT_BYTES)),
    "not UTF-8": lambda tmp: _written(tmp / "latin1.lark", 'start: "caf\xe9"\n'.encode("latin-1")),
}


@pytest.mark.parametrize("option", ["--grammar", "--json-schema"])
@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_constraint_file_that_cannot_be_read_is_bad_input(tmp_path: Path, make, option: str):
    path = make(tmp_path)
    run = _ananke("generate", "x", option, str(path), timeout=30)
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.splitlines()  # one line, no traceback
    assert line.startswith("ananke: cannot read") and str(path) in line


def test_generate_bad_constraint_names_it(tmp_path):
    (tmp_path / "calc.lark").write_text("start: expr\n")
    run = _ananke("generate", "x", "--grammar", str(tmp_path / "calc.lark"))
    assert run.returncode == 2
    assert "constraint 'calc' (grammar)" in run.stderr and "expr" in run.stderr


def test_check_ok_and_broken(tmp_path):
    ok = _ananke("check", str(EXAMPLES))
    assert ok.returncode == 0 and "OK" in ok.stdout
    config = tmp_path / ".ananke.toml"
    config.write_text('[[constraints]]\nname = "ids"\nregex = "[a-z"\n')
    broken = _ananke("check", str(tmp_path))
    assert broken.returncode == 2
    assert f"{config}:3:" in broken.stderr and "ids" in broken.stderr
