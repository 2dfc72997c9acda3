"""Does the file still parse after every suggestion, on real code no one here wrote? Functions of
the Python standard library (bench/stdlib_functions.py's seeded choice, one per module), each
emptied one way at a time — one body line (single), and the whole body after the docstring
(multi) — with the cursor at the auto-indent, and ``ananke-lsp`` asked for an inline completion
as an editor asks, with the Python syntax grammar and without it, in one run. Prints a markdown
table and writes every task's record as JSON.

    .venv/bin/python -m bench.stdlib_syntax --functions 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lsprotocol import types

from bench.infill_scoring import _parses
from bench.lsp_suggestions import lsp_suggester
from bench.quality import project_toml
from bench.results_file import write_sections
from bench.stdlib_functions import StdlibFunction, pick

OUT = Path(__file__).resolve().parent / "out"
PIPELINES = {"lsp": [], "lsp_no_syntax": ['completion.python_syntax="off"']}
SEED = 20261202


@dataclass(frozen=True)
class Hole:
    """A span of a module emptied to its first line's auto-indent."""

    task_id: str
    source: str  # the module with the span emptied
    offset: int  # the cursor: after the auto-indent

    @property
    def position(self) -> types.Position:
        before = self.source[: self.offset]
        return types.Position(line=before.count("\n"), character=self.offset - before.rfind("\n") - 1)


def holes(fn: StdlibFunction) -> list[Hole]:
    """The function's middle body line, and its whole typed body, each emptied."""
    lines = fn.body.split("\n")
    middle = len(lines) // 2
    starts = [fn.body_start + sum(len(ln) + 1 for ln in lines[:i]) for i in range(len(lines))]
    spans = {
        "single": (starts[middle], starts[middle] + len(lines[middle])),
        "multi": (fn.body_start, fn.body_end),
    }
    out = []
    for kind, (start, end) in spans.items():
        first = fn.source[start:end].split("\n", 1)[0]
        indent = first[: len(first) - len(first.lstrip())]
        source = fn.source[:start] + indent + fn.source[end:]
        out.append(Hole(f"{fn.module}:{fn.qualname}/{kind}", source, start + len(indent)))
    return out


async def _run(pipeline: str, tasks: list[Hole], model: str, log: Path) -> list[dict[str, Any]]:
    records = []
    with tempfile.TemporaryDirectory(prefix="ananke-stdlib-syntax-") as root:
        if PIPELINES[pipeline]:
            (Path(root) / ".ananke.toml").write_text(project_toml(PIPELINES[pipeline]))
        async with lsp_suggester(model, Path(root), log) as lsp:
            started = time.perf_counter()
            for i, task in enumerate(tasks, start=1):
                suggestion = await lsp.suggest_at(task.source, task.position)
                text = suggestion.text or ""
                inserted = task.source[: task.offset] + text + task.source[task.offset :]
                records.append({**asdict(suggestion), "task_id": task.task_id, "parses": _parses(inserted)})
                if i % 10 == 0 or i == len(tasks):
                    print(f"  {pipeline}: {i}/{len(tasks)}, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return records


def summary(records: list[dict[str, Any]]) -> dict[str, float]:
    shown = [r for r in records if r["text"]]
    seconds = [r["seconds"] for r in records]
    return {
        "tasks": len(records),
        "shown": len(shown),
        "parses_where_inserted": sum(r["parses"] for r in shown) / len(shown) if shown else 1.0,
        "no_suggestion": 1 - len(shown) / len(records),
        "p50_seconds": float(np.percentile(seconds, 50)),
        "p90_seconds": float(np.percentile(seconds, 90)),
    }


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| set | pipeline | tasks | parses, where inserted | no suggestion | time to suggestion p50 / p90 |",
        "|---|---|---|---|---|---|",
    ]
    for kind, by_pipeline in report["summary"].items():
        for pipeline, f in by_pipeline.items():
            rows.append(
                f"| {kind} | {pipeline} | {f['tasks']} | {100 * f['parses_where_inserted']:.1f} % "
                f"| {100 * f['no_suggestion']:.1f} % | {f['p50_seconds']:.2f} s / {f['p90_seconds']:.2f} s |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stdlib_syntax", description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=40, help="functions, one per stdlib module")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help=f"of {', '.join(PIPELINES)}")
    parser.add_argument("--results", action="store_true", help="also write this run's section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    tasks = [hole for fn in pick(args.functions, SEED) for hole in holes(fn)]
    out = OUT / f"stdlib-syntax-{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"settings": vars(args), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "records": {}}
    for pipeline in [p.strip() for p in args.pipelines.split(",") if p.strip()]:
        log = out.with_name(f"{out.stem}.{pipeline}.server.log")
        report["records"][pipeline] = asyncio.run(_run(pipeline, tasks, args.model, log))
    kinds = sorted({t.task_id.rsplit("/", 1)[1] for t in tasks})
    report["summary"] = {
        kind: {p: summary([r for r in rs if r["task_id"].endswith("/" + kind)]) for p, rs in report["records"].items()}
        for kind in kinds
    }
    out.write_text(json.dumps(report, indent=1))
    table = markdown(report)
    print(table)
    if args.results:
        command = "python -m bench.stdlib_syntax " + " ".join(a for a in (argv or sys.argv[1:]) if a != "--results")
        heading = f"## Python syntax on the standard library: {args.functions} functions, {args.model}"
        write_sections([f"{heading}\n\nRun {report['started']}: `{command}`.\n\n{table}\n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
