"""The CPU runtimes for the default GGUF side by side, each in a fresh process: ananke's embedded
engine (llama.cpp + llguidance masks), llama.cpp's own loop (unconstrained), and transformers +
torch (the GGUF dequantised to fp32, llguidance masks on its logits)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("runtime_worker.py")


def _run(runtime: str) -> dict | str:
    done = subprocess.run([sys.executable, str(WORKER), runtime], capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"not measured: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


async def measure() -> str:
    results = {name: _run(name) for name in ("ananke", "llama_cpp", "transformers")}
    rows = [
        "| runtime | load | tok/s free | tok/s with mask | peak RSS | constrained output valid |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if isinstance(r, str):
            rows.append(f"| {name} | {r} | | | | |")
            continue
        masked = f"{r['masked_tps']:.1f}" if r["masked_tps"] else "—"
        valid = {True: "yes", False: "NO", None: "—"}[r["valid"]]
        rows.append(
            f"| {name} | {r['load_ms']:.0f} ms | {r['free_tps']:.1f} | {masked} | {r['peak_rss_mb']:.0f} MB | {valid} |"
        )
    ours, own = results["ananke"], results["llama_cpp"]
    if isinstance(ours, dict) and isinstance(own, dict):
        rows.append("")
        rows.append(
            f"Default (ananke, constrained) vs llama.cpp's own unconstrained loop: "
            f"{ours['masked_tps'] / own['free_tps']:.2f}x (goal ≥ 0.8x)."
        )
    return "## CPU runtimes for SmolLM2-135M Q4_1 (each in a fresh process, best of 3, 128 tokens)\n\n" + "\n".join(
        rows
    )
