"""*Implement function* on HumanEval (issue 11): each problem's signature and docstring with ``pass``
as the body, implemented by the real ``ananke-lsp`` as shipped (fill-in-the-middle at the body)
and by the chat template with the whole file on the same model, in one run. Prints a markdown
table and writes every problem's record and the summary as JSON.

    .venv/bin/python -m bench.implement --model qwen2.5-coder-0.5b --every 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ananke_lsp.engines.model_files import resolve_model_path
from bench.implement_forms import Attempt, through_chat, through_lsp
from bench.implement_tasks import ImplementTask, build_tasks
from bench.infill_scoring import TestRunner, _parses
from bench.quality import _pct, project_toml

FORMS = {
    "lsp": "ananke-lsp as shipped (FIM at the body)",
    "lsp_no_syntax": "ananke-lsp, python_syntax off",
    "chat": "chat template, whole file in a fence",
}
OUT = Path(__file__).resolve().parent / "out"


def score(task: ImplementTask, attempt: Attempt, runner: TestRunner) -> dict[str, Any]:
    """One problem's figures in one form; nothing applied counts as failing and not parsing."""
    program = attempt.program
    if program is None:
        return {**asdict(attempt), "body": None, "passed": False, "parses": False}
    return {
        **asdict(attempt),
        "body": task.body_of(program),
        "passed": runner.passes(task.scoring_task(), program),
        "parses": _parses(program),
    }


def summarize(scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures over one form's scored problems (see ``score``)."""
    n = len(scored)
    seconds = [r["seconds"] for r in scored]
    tokens = [r["tokens"] for r in scored if r["tokens"] is not None]
    return {
        "problems": n,
        "pass_at_1": sum(r["passed"] for r in scored) / n,
        "parses": sum(r["parses"] for r in scored) / n,
        "nothing_applied": sum(r["program"] is None for r in scored) / n,
        "hit_max_tokens": sum(r["finish_reason"] == "length" for r in scored) / n,
        "p50_seconds": float(np.percentile(seconds, 50)),
        "p90_seconds": float(np.percentile(seconds, 90)),
        "p50_tokens": float(np.percentile(tokens, 50)) if tokens else None,
        "mean_tokens": float(np.mean(tokens)) if tokens else None,
    }


async def _attempts(
    form: str, model: str, tasks: list[ImplementTask], args: argparse.Namespace, out: Path
) -> tuple[list[Attempt], dict[str, Any]]:
    if form == "chat":
        return await through_chat(model, tasks)
    settings = [f"generation.temperature={args.lsp_temperature}"] if args.lsp_temperature is not None else []
    if form == "lsp_no_syntax":
        settings.append('completion.python_syntax="off"')
    with tempfile.TemporaryDirectory(prefix="ananke-implement-project-") as root:
        log = out.with_name(f"{out.stem}.{form}.server.log")
        return await through_lsp(model, tasks, Path(root), log, project_toml(settings), args.action_timeout)


async def run_model(model: str, args: argparse.Namespace, report: dict[str, Any], out: Path) -> None:
    """Both forms on ``model``; ``report`` gains each form's information, summary and per-problem
    records, and is written to ``out`` after each form."""
    report["model_file"] = str(resolve_model_path(model))  # verified before either form loads it
    tasks = build_tasks()[:: args.every][: args.limit]
    records = [{"task_id": t.task_id, "entry_point": t.entry_point, "def_line": t.def_line} for t in tasks]
    report.update(forms={}, summary={}, problems=records)
    runner = TestRunner(args.test_timeout)
    try:
        for record, task in zip(records, tasks, strict=True):
            record["nothing"] = {"passed": runner.passes(task.scoring_task(), task.file)}
        report["summary"]["nothing"] = {"pass_at_1": sum(r["nothing"]["passed"] for r in records) / len(records)}
        for form in args.forms:  # the server has exited before the chat form loads the model here
            print(f"{model}: {FORMS[form]} on {len(tasks)} problems", file=sys.stderr)
            attempts, info = await _attempts(form, model, tasks, args, out)
            report["forms"][form] = info
            for record, task, attempt in zip(records, tasks, attempts, strict=True):
                record[form] = score(task, attempt, runner)
            report["summary"][form] = summarize([r[form] for r in records])
            out.write_text(json.dumps(report, indent=1))
    finally:
        runner.close()


def _row(name: str, f: dict[str, Any]) -> str:
    tokens = "" if f["mean_tokens"] is None else f"{f['p50_tokens']:.0f} / {f['mean_tokens']:.0f}"
    cells = [name, f["problems"], *(_pct(f[k]) for k in ("pass_at_1", "parses", "nothing_applied", "hit_max_tokens"))]
    return "| " + " | ".join(map(str, cells)) + f" | {f['p50_seconds']:.2f} / {f['p90_seconds']:.2f} | {tokens} |"


def markdown(report: dict[str, Any]) -> str:
    """One row per prompt form (model in the heading), then the floor with nothing implemented."""
    summary = report.get("summary", {})
    rows = [
        f"**{report['model']}**\n",
        "| prompt form | problems | pass@1 | parses | nothing applied | hit max_tokens | seconds p50 / p90 "
        "| tokens p50 / mean |",
        "|---|---|---|---|---|---|---|---|",
        *(_row(name, summary[form]) for form, name in FORMS.items() if form in summary),
    ]
    if nothing := summary.get("nothing"):
        rows.append(f"| (`pass` left in place) | | {_pct(nothing['pass_at_1'])} | | | | | |")
    return "\n".join(rows)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.implement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="a pinned model name or a GGUF path")
    parser.add_argument("--every", type=int, default=1, help="every Nth problem of the 164 (a quick sampled run)")
    parser.add_argument("--limit", type=int, default=None, help="at most N problems, after --every")
    parser.add_argument("--forms", default="lsp,chat", help=f"of {', '.join(FORMS)} (default lsp,chat)")
    parser.add_argument(
        "--lsp-temperature", type=float, default=None, help="[generation] temperature for the server (default: its own)"
    )
    parser.add_argument("--test-timeout", type=float, default=5.0, help="seconds for one problem's tests")
    parser.add_argument("--action-timeout", type=float, default=300.0, help="seconds for one code action")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/out/implement-MODEL.json)")
    args = parser.parse_args(argv)
    chosen = {f.strip() for f in args.forms.split(",") if f.strip()}
    if unknown := chosen - set(FORMS):
        parser.error(f"unknown forms {sorted(unknown)}: choose from {', '.join(FORMS)}")
    args.forms = [f for f in FORMS if f in chosen]
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    out: Path = args.out or OUT / f"implement-{Path(args.model).stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "model": args.model,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "model")},
    }
    asyncio.run(run_model(args.model, args, report, out))
    print(markdown(report))
    print(f"\nper-problem records: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
