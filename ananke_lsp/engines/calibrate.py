"""Time one typical inline suggestion with a model, in a process of its own.

``python -m ananke_lsp.engines.calibrate MODEL.gguf`` prints the milliseconds that a keystroke
costs with the prompt's prefix already cached: a few new prompt tokens, then a short line decoded
greedily. Run apart from the server so that its llama.cpp threads never compete with the
server's own decode thread, and so that the model it loads is freed when it exits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PREFIX = "def mean(values: list[float]) -> float:\n    total = 0.0\n    for value in values:\n"
KEYSTROKE = "        total += value\n    return "
DECODED = 16


def _time_keystroke(path: str) -> float:
    import os

    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=os.cpu_count() or 1, verbose=False)
    try:
        prefix = llm.tokenize(PREFIX.encode(), add_bos=True, special=False)
        step = llm.tokenize(KEYSTROKE.encode(), add_bos=False, special=False)
        n_vocab = llm.n_vocab()
        best = float("inf")
        for _ in range(2):  # the first run warms caches and the thread team
            llm.reset()
            llm.eval(prefix)
            start = time.perf_counter()
            llm.eval(step)
            for _ in range(DECODED):
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
                llm.eval([int(logits.argmax())])
            best = min(best, (time.perf_counter() - start) * 1000)
        return best
    finally:
        llm.close()


def measure_suggestion_ms(path: Path) -> float:
    """Milliseconds for one typical suggestion with the model at ``path`` (a child process)."""
    run = subprocess.run(
        [sys.executable, "-m", "ananke_lsp.engines.calibrate", str(path)], capture_output=True, text=True, timeout=600
    )
    if run.returncode != 0:
        raise RuntimeError(f"timing {path.name} failed: {run.stderr.strip()[-500:]}")
    return float(run.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(f"{_time_keystroke(sys.argv[1]):.1f}")
