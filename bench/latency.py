"""Time to suggestion while typing: real functions of the Python standard library typed back key
by key into ``ananke-lsp`` (as VS Code sends inline-completion requests), with KV reuse and
without it, and the same trace through llama.cpp's own completion loop (the peer's path), one
after the other on the same verified GGUF. Prints a markdown table; writes every request as JSON.

    .venv/bin/python -m bench.latency --model qwen2.5-coder-0.5b --files 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ananke_lsp.engines.model_files import resolve_model_path
from bench import latency_lsp, latency_peer
from bench.results_file import write_sections
from bench.stdlib_functions import pick, stdlib_dir
from bench.typing_trace import Trace, build

OUT = Path(__file__).resolve().parent / "out"
PIPELINES = {
    "reuse": "ananke-lsp",
    "no-reuse": "ananke-lsp, KV reuse off",
    "peer": "llama.cpp create_completion (peer)",
}
NO_REUSE_ENV = "ANANKE_KV_REUSE=0"  # read by PromptCache.prefill (see bench/README.md)


def _percentile(values: list[float], q: int) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _read_whole(r: dict[str, Any]) -> bool:
    """Whether the engine read the request's whole prompt: a request stopped by the time budget
    before its first token may have stopped part-way, its ``prefilled_tokens`` counting only
    what it read by then."""
    return r.get("prefilled_tokens") is not None and (
        r["tokens"] > 0 or r["finish_reason"] not in ("time", "cancelled")
    )


def _prefilled_share(requests: list[dict[str, Any]]) -> list[float]:
    """Prefilled / prompt tokens of each engine request after the first of its file that read its
    whole prompt."""
    return [r["prefilled_tokens"] / r["prompt_tokens"] for r in requests[1:] if _read_whole(r) and r["prompt_tokens"]]


def summarize_lsp(files: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sum(f["keys"] for f in files)
    requests = [r for f in files for r in f["requests"]]
    shown = [r for r in requests if r["outcome"] == "shown"]
    engine_by_file = [[r["provenance"] for r in f["requests"] if r["provenance"]] for f in files]
    engine = [p for ps in engine_by_file for p in ps]
    shares = [s for ps in engine_by_file for s in _prefilled_share(ps)]
    return {
        "keys": keys,
        "outcomes": dict(Counter(r["outcome"] for r in requests)),
        "shown": len(shown),
        "p50_ms": _percentile([r["ms"] for r in shown], 50),
        "p90_ms": _percentile([r["ms"] for r in shown], 90),
        "p50_ms_engine": _percentile([r["ms"] for r in shown if r["source"] == "engine"], 50),
        "p50_ms_cache": _percentile([r["ms"] for r in shown if r["source"] == "cache"], 50),
        "engine_requests": sum(f["engine_requests"] for f in files),
        "engine_requests_per_key": sum(f["engine_requests"] for f in files) / keys if keys else None,
        "shown_without_engine": sum(r["source"] == "cache" for r in shown) / len(shown) if shown else None,
        "prefilled_share_p50": _percentile(shares, 50),
        "prefilled_share_n": len(shares),
        "prompt_cut_short": sum(p.get("prefilled_tokens") is not None and not _read_whole(p) for p in engine),
        "generation_ms_p50": _percentile([p["generation_ms"] for p in engine], 50),
        "tokens_p50": _percentile([p["tokens"] for p in engine], 50),
        "finish_reasons": dict(Counter(p["finish_reason"] for p in engine)),
        "first_line_right": sum(bool(r["first_line_right"]) for r in shown) / len(shown) if shown else None,
    }


def summarize_peer(files: list[dict[str, Any]]) -> dict[str, Any]:
    requests = [r for f in files for r in f["requests"]]
    shown = [r for r in requests if r["text"]]
    shares = [s for f in files for s in _prefilled_share(f["requests"])]
    return {
        "keys": sum(f["keys"] for f in files),
        "asked": len(requests),
        "shown": len(shown),
        "p50_ms": _percentile([r["ms"] for r in requests], 50),
        "p90_ms": _percentile([r["ms"] for r in requests], 90),
        "prefilled_share_p50": _percentile(shares, 50),
        "prefilled_share_n": len(shares),
        "tokens_p50": _percentile([r["tokens"] for r in requests], 50),
        "finish_reasons": dict(Counter(r["finish_reason"] for r in requests)),
        "first_line_right": sum(bool(r["first_line_right"]) for r in shown) / len(shown) if shown else None,
    }


def _answered_keys(run: dict[str, Any]) -> dict[str, list[int]]:
    """The keys at which a user saw an answer (shown or empty): where the peer is asked."""
    return {f["name"]: [r["key"] for r in f["requests"] if r["outcome"] in ("shown", "empty")] for f in run["files"]}


def _warnings(report: dict[str, Any]) -> list[str]:
    out = []
    no_reuse = report["pipelines"].get("no-reuse", {}).get("summary")
    if no_reuse and no_reuse["prefilled_share_p50"] is not None and no_reuse["prefilled_share_p50"] < 0.99:
        out.append(
            "KV reuse was not off in the no-reuse run (prefilled share p50 "
            f"{no_reuse['prefilled_share_p50']:.2f}): does ananke_lsp/engines/embedded.py read "
            f"{report['settings']['no_reuse_env']}?"
        )
    return out


async def _lsp(name: str, model: str, traces: list[Trace], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    env = dict(args.env)
    if name == "no-reuse":
        env.update([args.no_reuse_env])
    log = out.with_name(f"{out.stem}.{name}.server.log")
    return await latency_lsp.run(model, traces, log, env, args.answer_timeout)


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    model_path = resolve_model_path(args.model)  # verified before anything loads it
    functions = pick(args.files, args.seed)
    rng = random.Random(args.seed)
    traces = [build(fn, rng) for fn in functions]
    if args.max_keys:
        traces = [replace(t, keys=t.keys[: args.max_keys]) for t in traces]
    report: dict[str, Any] = {
        "settings": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "env", "no_reuse_env")},
            "env": dict(args.env),
            "no_reuse_env": "=".join(args.no_reuse_env),
            "model_file": str(model_path),
        },
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "stdlib": str(stdlib_dir()),
        "functions": [
            {"name": t.name, "lines": fn.lines, "chars": len(fn.body), "keys": len(t.keys)}
            for t, fn in zip(traces, functions, strict=True)
        ],
        "pipelines": {},
    }
    for name in args.pipelines:
        print(f"{args.model}: {PIPELINES[name]}, {sum(len(t.keys) for t in traces)} keys", file=sys.stderr)
        if name == "peer":
            lsp_run = next((report["pipelines"][p] for p in ("reuse", "no-reuse") if p in report["pipelines"]), None)
            if lsp_run is None:
                raise SystemExit("the peer is asked where ananke-lsp answered: run it with reuse or no-reuse")
            result = latency_peer.run(model_path, traces, _answered_keys(lsp_run))
            result["summary"] = summarize_peer(result["files"])
        else:  # each server has exited before the next pipeline loads the model
            result = asyncio.run(_lsp(name, args.model, traces, args, out))
            result["summary"] = summarize_lsp(result["files"])
        report["pipelines"][name] = result
        report["warnings"] = _warnings(report)
        out.write_text(json.dumps(report, indent=1))
    return report


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} ms"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| pipeline | keys | answered (shown) | time to suggestion p50 / p90 | engine requests per key "
        "| shown without the engine | prefilled / prompt tokens p50 (n) | finish reasons | first line right |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in report["pipelines"].items():
        s = result["summary"]
        finish = ", ".join(f"{k} {v}" for k, v in sorted(s["finish_reasons"].items()))
        if name == "peer":
            answered = f"{s['asked']} ({s['shown']})"
            per_key, cache = "-", "-"
        else:
            answered = f"{s['outcomes'].get('shown', 0) + s['outcomes'].get('empty', 0)} ({s['shown']})"
            per_key, cache = f"{s['engine_requests_per_key']:.3f}", _pct(s["shown_without_engine"])
        rows.append(
            f"| {PIPELINES[name]} | {s['keys']} | {answered} | {_ms(s['p50_ms'])} / {_ms(s['p90_ms'])} | {per_key} "
            f"| {cache} | {_pct(s['prefilled_share_p50'])} ({s['prefilled_share_n']}) | {finish} "
            f"| {_pct(s['first_line_right'])} |"
        )
    notes = [f"- {w}" for w in report.get("warnings", [])]
    functions = ", ".join(f"`{f['name']}` ({f['lines']} lines, {f['keys']} keys)" for f in report["functions"])
    return "\n".join([*rows, "", f"Functions (Python {report['python']}): {functions}.", *notes])


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="a pinned model name")
    parser.add_argument("--files", type=int, default=3, help="functions typed, each from its own module")
    parser.add_argument("--seed", type=int, default=0, help="chooses the functions and the pauses")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help=f"of {', '.join(PIPELINES)}")
    parser.add_argument(
        "--no-reuse-env", type=_pair, default=_pair(NO_REUSE_ENV), help=f"set for the no-reuse server ({NO_REUSE_ENV})"
    )
    parser.add_argument("--env", type=_pair, action="append", default=[], help="NAME=VALUE for every server run")
    parser.add_argument("--max-keys", type=int, help="type only the first N keys of each function (a smoke run)")
    parser.add_argument("--answer-timeout", type=float, default=120, help="seconds to wait for a file's last answer")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/out/latency-MODEL-FILES-SEED.json)")
    parser.add_argument("--results", action="store_true", help="also write this run's section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    args.pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    if unknown := set(args.pipelines) - set(PIPELINES):
        parser.error(f"unknown pipelines {sorted(unknown)}: choose from {', '.join(PIPELINES)}")
    if "peer" in args.pipelines and args.pipelines[-1] != "peer":
        parser.error("peer goes last: it is asked where ananke-lsp answered")
    return args


def results_section(report: dict[str, Any], argv: list[str]) -> str:
    """This run's section of bench/RESULTS.md, named by its model, functions and seed."""
    s = report["settings"]
    heading = f"## Editing latency: {s['model']}, {s['files']} standard-library functions, seed {s['seed']}"
    heading += f", first {s['max_keys']} keys of each" if s["max_keys"] else ""
    command = "python -m bench.latency " + " ".join(a for a in argv if a != "--results")
    return f"{heading}\n\nRun {report['started']}: `{command}`.\n\n{markdown(report)}\n"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    out: Path = args.out or OUT / f"latency-{args.model}-{args.files}-{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = run(args, out)
    print(markdown(report))
    print(f"\nper-request records: {out}", file=sys.stderr)
    if args.results:
        write_sections([results_section(report, argv if argv is not None else sys.argv[1:])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
