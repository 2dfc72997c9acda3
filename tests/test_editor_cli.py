"""`ananke complete` and `ananke implement`: what an editor shows, through a real ananke-lsp."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SOURCE = '''def scale(values: list[float], factor: float) -> list[float]:
    """Each value times factor."""
    pass


def total(values: list[float]) -> float:
    result = 0.0
    for value in values:

    return result
'''


def _ananke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ananke_lsp", *args], capture_output=True, text=True, timeout=300)


def test_complete_prints_the_suggestion_for_a_location(tmp_path: Path):
    path = tmp_path / "values.py"
    path.write_text(SOURCE)
    run = _ananke("complete", f"{path}:9:9")  # the empty loop body: column 9 is the auto-indent
    assert run.returncode in (0, 1), run.stderr  # 1: the model had nothing to suggest
    assert "-- suggestion in" in run.stderr
    suggestion = run.stdout.removesuffix("\n")
    assert "\n" not in suggestion or all(line.startswith("        ") for line in suggestion.split("\n")[1:])
    assert path.read_text() == SOURCE  # shown, never written


def test_implement_prints_a_diff(tmp_path: Path):
    path = tmp_path / "values.py"
    path.write_text(SOURCE.replace("values:\n\n", "values:\n        result += value\n"))
    # the tiny chat model's body may be withheld by the parse check: this test is about the command
    (tmp_path / ".ananke.toml").write_text('[completion]\npython_syntax = "off"\n')
    run = _ananke("implement", f"{path}:1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"--- {path}") and "-    pass" in run.stdout
    assert "the file itself is unchanged" in run.stderr


def test_bad_locations_are_bad_input(tmp_path: Path):
    path = tmp_path / "values.py"
    path.write_text(SOURCE)
    for location in (f"{path}", f"{path}:99", f"{tmp_path}/missing.py:1"):
        run = _ananke("complete", location)
        assert run.returncode == 2 and ("FILE:LINE" in run.stderr or "outside" in run.stderr), run.stderr


def test_no_function_to_implement_names_what_is_offered(tmp_path: Path):
    path = tmp_path / "values.py"
    path.write_text("x = 1\n")
    run = _ananke("implement", f"{path}:1")
    assert run.returncode == 2 and "no code action 'Implement function'" in run.stderr
    assert ast.parse(path.read_text())
