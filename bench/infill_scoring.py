"""Scoring an infilling suggestion the same way whichever pipeline made it: the suggestion typed
after the auto-indent, the task's tests run in a child process with a timeout, the file parsed,
the first line compared; then the figures over a set of tasks."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.humaneval_infill import InfillTask


@dataclass(frozen=True)
class Suggestion:
    """What a pipeline offered at the cursor (``None``: nothing) and how long it took."""

    text: str | None
    seconds: float
    error: str | None = None
    raw: str | None = None  # the model's text before a pipeline's own trimming, where it has one
    # the engine's figures for it, where the pipeline reports them (ananke-lsp's provenance)
    stats: dict[str, Any] | None = None


class TestRunner:
    """Runs ``program + test + check(entry_point)`` in a fresh interpreter (its own process group,
    killed whole at the timeout); the same program is run once."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._passed: dict[tuple[str, str], bool] = {}
        self._scratch = tempfile.TemporaryDirectory(prefix="ananke-quality-tests-")

    def passes(self, task: InfillTask, program: str) -> bool:
        key = (task.problem_id, program)
        if key not in self._passed:
            self._passed[key] = self._run(program + "\n" + task.test + f"\ncheck({task.entry_point})\n")
        return self._passed[key]

    def _run(self, source: str) -> bool:
        process = subprocess.Popen(
            [sys.executable, "-I", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self._scratch.name,
            start_new_session=True,
        )
        try:
            process.communicate(source.encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return False
        return process.returncode == 0

    def close(self) -> None:
        self._scratch.cleanup()


def _parses(program: str) -> bool:
    try:
        ast.parse(program)
    except (SyntaxError, ValueError):
        return False
    return True


def score(task: InfillTask, suggestion: Suggestion, runner: TestRunner) -> dict[str, Any]:
    """One task's figures for one pipeline: inserted as shown, and with only its first line kept."""
    shown = suggestion.text or ""
    first = shown.split("\n", 1)[0]
    program = task.program(shown)
    return {
        **asdict(suggestion),
        "passed": runner.passes(task, program),
        "passed_first_line": runner.passes(task, task.program(first)),
        "parses": _parses(program),
        "first_line_exact": first.strip() == task.first_line.strip(),
    }


def empty_floor(task: InfillTask, runner: TestRunner) -> dict[str, bool]:
    """The emptied span left as it is: what a pipeline that suggests nothing scores."""
    program = task.program("")
    return {"passed": runner.passes(task, program), "parses": _parses(program)}


def _rate(records: list[dict[str, Any]], key: str) -> float:
    return sum(bool(r[key]) for r in records) / len(records)


def summarize(records: list[dict[str, Any]]) -> dict[str, float | int]:
    """Figures over one pipeline's scored tasks (see ``score``)."""
    seconds = [r["seconds"] for r in records]
    shown = [r for r in records if r["text"]]
    return {
        "tasks": len(records),
        "pass_at_1": _rate(records, "passed"),
        "pass_at_1_first_line": _rate(records, "passed_first_line"),
        "parses": _rate(records, "parses"),
        "parses_shown": _rate(shown, "parses") if shown else 1.0,  # of the files a suggestion was inserted in
        "suggestions": len(shown),
        **_decoding(records),
        "first_line_exact": _rate(records, "first_line_exact"),
        "no_suggestion": sum(not r["text"] for r in records) / len(records),
        "errors": sum(r["error"] is not None for r in records),
        "p50_seconds": float(np.percentile(seconds, 50)),
        "p90_seconds": float(np.percentile(seconds, 90)),
        "mean_seconds": float(np.mean(seconds)),
    }


def _decoding(records: list[dict[str, Any]]) -> dict[str, float]:
    """Decode speed and constraint cost over the suggestions whose engine reported them."""
    stats = [r["stats"] for r in records if r.get("stats") and r["stats"].get("tokens")]
    if not stats:
        return {}
    tokens = sum(s["tokens"] for s in stats)
    decode_s = sum(s["decode_ms"] for s in stats) / 1000
    return {
        "decode_tokens_per_s": tokens / decode_s if decode_s else 0.0,
        "mask_us_per_token": sum(s["mask_us"] for s in stats) / tokens,
        "syntax_cut": sum(bool((s.get("python_syntax") or {}).get("cut_chars")) for s in stats) / len(stats),
        "syntax_enforced": sum(bool((s.get("python_syntax") or {}).get("grammar")) for s in stats) / len(stats),
    }
