"""Suggestion quality on HumanEval infilling (Bavarian et al. 2022): ``ananke-lsp`` driven as an
editor drives it, against the unconstrained llama.cpp FIM baseline on the same model file, in one
run. Prints a markdown table and writes every task's record and the summary as JSON.

    .venv/bin/python -m bench.quality --model qwen2.5-coder-0.5b --set single --every 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ananke_lsp.engines.model_files import resolve_model_path
from bench.fim_baseline import FimBaseline
from bench.humaneval_infill import SETS, InfillSet, InfillTask, build_tasks, sample
from bench.infill_scoring import Suggestion, TestRunner, empty_floor, score, summarize
from bench.lsp_suggestions import lsp_suggester
from bench.results_file import write_sections

PIPELINES = {
    "lsp": "ananke-lsp",
    "lsp_no_syntax": "ananke-lsp, python_syntax off",
    "baseline": "llama.cpp FIM, peers' trimming",
}
# What each ananke-lsp pipeline sets in the project's .ananke.toml, before the run's --setting.
_LSP_SETTINGS = {"lsp": [], "lsp_no_syntax": ['completion.python_syntax="off"']}
OUT = Path(__file__).resolve().parent / "out"

Suggest = Callable[[InfillTask], Awaitable[Suggestion]]


async def _collect(name: str, tasks: list[InfillTask], suggest: Suggest) -> list[Suggestion]:
    """One suggestion per task, in order, with a progress line every 10 tasks."""
    out: list[Suggestion] = []
    started = time.perf_counter()
    for task in tasks:
        out.append(await suggest(task))
        if len(out) % 10 == 0 or len(out) == len(tasks):
            mean = sum(s.seconds for s in out) / len(out)
            print(
                f"  {name}: {len(out)}/{len(tasks)} tasks, {mean:.2f} s per suggestion, "
                f"{time.perf_counter() - started:.0f} s so far",
                file=sys.stderr,
            )
    return out


def project_toml(settings: list[str]) -> str:
    """``.ananke.toml`` from ``SECTION.KEY=VALUE`` pairs (VALUE in TOML: ``64``, ``"psm"``)."""
    sections: dict[str, list[str]] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        section, _, key = name.partition(".")
        if not (section and key and value):
            raise ValueError(f"--setting {setting!r}: expected SECTION.KEY=VALUE, e.g. completion.suffix_tokens=64")
        sections.setdefault(section, []).append(f"{key} = {value}")
    return "".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items())


async def _through_lsp(
    model: str, tasks: list[InfillTask], log: Path, settings: list[str]
) -> tuple[list[Suggestion], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="ananke-quality-project-") as root:
        if settings:
            (Path(root) / ".ananke.toml").write_text(project_toml(settings))
        async with lsp_suggester(model, Path(root), log) as lsp:
            suggestions = await _collect("ananke-lsp", tasks, lsp.suggest)
            info = {"warm_up_seconds": lsp.warm_up_seconds, "server_messages": lsp.messages, "server_log": str(log)}
    return suggestions, info


async def _through_baseline(model_path: Path, tasks: list[InfillTask]) -> tuple[list[Suggestion], dict[str, Any]]:
    baseline = FimBaseline(model_path)

    async def suggest(task: InfillTask) -> Suggestion:
        return baseline.suggest(task)

    try:
        suggestions = await _collect("FIM baseline", tasks, suggest)
    finally:
        baseline.close()
    return suggestions, {"load_seconds": baseline.load_seconds, "max_tokens": baseline.max_tokens}


def _summaries(sets: list[InfillSet], records: list[dict[str, Any]], pipelines: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for which in sets:
        mine = [r for r in records if r["set"] == which]
        nothing = [r["nothing"] for r in mine]
        out[which] = {
            "tasks": len(mine),
            "nothing_inserted": {
                "pass_at_1": sum(n["passed"] for n in nothing) / len(nothing),
                "parses": sum(n["parses"] for n in nothing) / len(nothing),
            },
            **{p: summarize([r[p] for r in mine]) for p in pipelines if all(p in r for r in mine)},
        }
    return out


async def run_model(
    model: str, sets: list[InfillSet], args: argparse.Namespace, report: dict[str, Any], out: Path
) -> None:
    model_path = resolve_model_path(model)  # verified before either pipeline loads it
    picked = [(which, t) for which in sets for t in sample(build_tasks(which), args.every, args.limit)]
    tasks = [t for _, t in picked]
    records: list[dict[str, Any]] = [
        {"task_id": t.task_id, "set": which, "expected_first_line": t.first_line} for which, t in picked
    ]
    entry: dict[str, Any] = {"model": model, "model_file": str(model_path), "pipelines": {}, "tasks": records}
    report["runs"].append(entry)
    runner = TestRunner(args.test_timeout)
    try:
        for record, task in zip(records, tasks, strict=True):
            record["nothing"] = empty_floor(task, runner)
        for pipeline in args.pipelines:
            print(f"{model}: {PIPELINES[pipeline]} on {len(tasks)} tasks", file=sys.stderr)
            if pipeline in _LSP_SETTINGS:  # each server exits before the next pipeline loads its model
                log = out.with_name(f"{out.stem}.{model}.{pipeline}.server.log")
                suggestions, info = await _through_lsp(model, tasks, log, [*_LSP_SETTINGS[pipeline], *args.setting])
            else:
                suggestions, info = await _through_baseline(model_path, tasks)
            entry["pipelines"][pipeline] = info
            for record, task, suggestion in zip(records, tasks, suggestions, strict=True):
                record[pipeline] = score(task, suggestion, runner)
            entry["summary"] = _summaries(sets, records, args.pipelines)
            out.write_text(json.dumps(report, indent=1))
    finally:
        runner.close()


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.0f}"


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| model | set | pipeline | tasks | pass@1 as shown | pass@1 first line only | parses "
        "| parses, where inserted | first line exact | no suggestion | time to suggestion p50 / p90 "
        "| decode tokens/s | mask µs/token |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        for which, figures in run.get("summary", {}).items():
            head = f"| {run['model']} | {which} "
            for pipeline, name in PIPELINES.items():
                if (f := figures.get(pipeline)) is not None:
                    rows.append(
                        f"{head}| {name} | {f['tasks']} | {_pct(f['pass_at_1'])} | {_pct(f['pass_at_1_first_line'])} "
                        f"| {_pct(f['parses'])} | {_pct(f['parses_shown'])} | {_pct(f['first_line_exact'])} "
                        f"| {_pct(f['no_suggestion'])} | {f['p50_seconds']:.2f} s / {f['p90_seconds']:.2f} s "
                        f"| {_num(f.get('decode_tokens_per_s'))} | {_num(f.get('mask_us_per_token'))} |"
                    )
            nothing = figures["nothing_inserted"]
            rows.append(
                f"{head}| (nothing inserted) | {figures['tasks']} | {_pct(nothing['pass_at_1'])} | | "
                f"{_pct(nothing['parses'])} | | | | | | |"
            )
    return "\n".join(rows)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="a pinned model name (repeatable); default the 0.5B")
    parser.add_argument("--set", action="append", choices=SETS, help="single (1033 tasks) or multi (5815); both")
    parser.add_argument("--every", type=int, default=1, help="every Nth task of each set (a quick sampled run)")
    parser.add_argument("--limit", type=int, default=None, help="at most N tasks of each set, after --every")
    parser.add_argument(
        "--pipelines", default="lsp,baseline", help=f"comma-separated, of {', '.join(PIPELINES)} (default lsp,baseline)"
    )
    parser.add_argument("--test-timeout", type=float, default=5.0, help="seconds for one task's tests")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/out/quality-MODELS-SETS.json)")
    parser.add_argument(
        "--setting", action="append", default=[], help="SECTION.KEY=VALUE for the project's .ananke.toml (repeatable)"
    )
    parser.add_argument("--results", action="store_true", help="also write this run's section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    args.model = args.model or ["qwen2.5-coder-0.5b"]
    args.set = list(dict.fromkeys(args.set or ["single"]))
    args.pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    if unknown := set(args.pipelines) - set(PIPELINES):
        parser.error(f"unknown pipelines {sorted(unknown)}: choose from {', '.join(PIPELINES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    out: Path = args.out or OUT / f"quality-{'+'.join(args.model)}-{'+'.join(args.set)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    report: dict[str, Any] = {"settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": []}
    for model in args.model:
        asyncio.run(run_model(model, args.set, args, report, out))
    print(markdown(report))
    print(f"\nper-task records: {out}", file=sys.stderr)
    if args.results:
        write_sections([results_section(report, argv if argv is not None else sys.argv[1:])])
    return 0


def results_section(report: dict[str, Any], argv: list[str]) -> str:
    """This run's section of bench/RESULTS.md, named by its models, sets and sampling, so that
    other runs' sections stay."""
    settings = report["settings"]
    sampled = f", every {settings['every']}th task" if settings["every"] > 1 else ", every task"
    sampled += f", at most {settings['limit']}" if settings["limit"] else ""
    heading = f"## Suggestion quality: HumanEval {'+'.join(settings['set'])}-line infilling, "
    heading += f"{', '.join(settings['model'])}{sampled}"
    command = "python -m bench.quality " + " ".join(a for a in argv if a != "--results")
    return f"{heading}\n\nRun {report['started']}: `{command}`.\n\n{markdown(report)}\n"


if __name__ == "__main__":
    sys.exit(main())
