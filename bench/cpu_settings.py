"""The llama.cpp settings that suit this CPU for the code model: prompt reading and decoding speed
of the verified GGUF under each candidate setting, each in a fresh process, one after the other.

    .venv/bin/python -m bench.cpu_settings --model qwen2.5-coder-0.5b

A keystroke's cost is mostly prompt reading (the text after the cursor is read again, see
``ananke_lsp/engines/prompt_cache.py``), then a short decode: both are reported, with the
ratio of each setting to the engine's current one (the first row)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from ananke_lsp.engines.model_files import resolve_model_path
from bench.results_file import write_sections

PROMPT_TOKENS = 256
DECODED = 32
# Each: keyword arguments for llama_cpp.Llama. The first is what the embedded engine uses.
SETTINGS: dict[str, dict[str, object]] = {
    "engine's (threads = cores, mmap)": {},
    "threads = cores // 2 (llama-cpp-python's default)": {"n_threads": max(1, (os.cpu_count() or 2) // 2)},
    "no mmap (weights copied, repacked)": {"use_mmap": False},
    "flash attention": {"flash_attn": True},
    "no mmap + flash attention": {"use_mmap": False, "flash_attn": True},
    "batch 128": {"n_batch": 128, "n_ubatch": 128},
}


def _measure(path: str, overrides: dict[str, object]) -> dict[str, float]:
    import llama_cpp
    import numpy as np

    settings = {"n_ctx": 1024, "n_threads": os.cpu_count() or 1, "verbose": False, **overrides}
    started = time.perf_counter()
    llm = llama_cpp.Llama(model_path=path, **settings)
    load_s = time.perf_counter() - started
    text = "def function_%d(values):\n    return sorted(values)[%d]\n"
    prompt = llm.tokenize("".join(text % (i, i) for i in range(40)).encode(), add_bos=False)[:PROMPT_TOKENS]
    n_vocab = llm.n_vocab()
    best_read, best_decode = float("inf"), float("inf")
    for _ in range(3):  # the first run warms caches and the thread team
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        read = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(DECODED):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            llm.eval([int(logits.argmax())])
        best_read, best_decode = min(best_read, read), min(best_decode, time.perf_counter() - start)
    llm.close()
    return {"load_s": load_s, "read_tok_s": len(prompt) / best_read, "decode_tok_s": DECODED / best_decode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="a pinned model name")
    parser.add_argument("--results", action="store_true", help="also write this run's section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    path = str(resolve_model_path(args.model))
    rows = []
    for name, overrides in SETTINGS.items():
        run = subprocess.run(
            [sys.executable, "-m", "bench.cpu_settings", "--child", path, json.dumps(overrides)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if run.returncode != 0:
            print(f"{name}: failed: {run.stderr.strip()[-300:]}", file=sys.stderr)
            continue
        rows.append((name, json.loads(run.stdout.strip().splitlines()[-1])))
    base = rows[0][1]
    table = [f"| setting ({args.model}) | load | prompt tok/s | decode tok/s |", "|---|---|---|---|"]
    for name, r in rows:
        read, decode = r["read_tok_s"], r["decode_tok_s"]
        table.append(
            f"| {name} | {r['load_s']:.2f} s | {read:.0f} ({read / base['read_tok_s']:.2f}x) "
            f"| {decode:.1f} ({decode / base['decode_tok_s']:.2f}x) |"
        )
    print("\n".join(table))
    if args.results:
        heading = f"## llama.cpp settings on this CPU, {args.model} ({PROMPT_TOKENS}-token prompt, {DECODED} tokens)"
        command = "python -m bench.cpu_settings " + " ".join(a for a in (argv or sys.argv[1:]) if a != "--results")
        write_sections(
            [
                f"{heading}\n\nRun {time.strftime('%Y-%m-%d %H:%M:%S')}: `{command}`, best of 3 per setting, "
                f"each in a fresh process.\n\n" + "\n".join(table) + "\n"
            ]
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_measure(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        sys.exit(main())
