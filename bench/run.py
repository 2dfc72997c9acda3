"""Run every benchmark in one go and write bench/RESULTS.md (ratios measured in one run).

bash scripts/bench.sh    # sets up, with the bench extra (torch 2.13.0 CPU, transformers), and runs this
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The engine, service and LSP overhead figures are measured on the tiny SmolLM2, as before the code
# models arrived, so runs stay comparable; suggestion quality and latency name their models.
os.environ.setdefault("ANANKE_MODEL", "smollm2-135m")

from bench import concurrency, foundation, lsp, runtimes, service
from bench.results_file import write_sections


async def main() -> None:
    sections = [
        await foundation.measure(),
        await runtimes.measure(),
        await service.measure(),
        await lsp.measure(),
        await concurrency.measure(),
    ]
    machine = (
        f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    head = "# Bench results\n\nMachine: " + machine + ". Run: `bash scripts/bench.sh` (the suggestion-quality "
    head += "sections: `bench/quality.py`, `bench/implement.py`). Goals, and what limits the ones not met: "
    head += "[README.md](README.md).\n"
    print(head + "\n" + "\n\n".join(sections))
    write_sections(sections, head)


if __name__ == "__main__":
    asyncio.run(main())
