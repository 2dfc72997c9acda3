"""Every example of the seed API document that needs no remote service runs with only its
import line changed (`from ananke import` -> `from ananke_lsp import`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "ananke-python-api.md"
IMPORT = "from ananke_lsp import *\n"

# (heading, n-th python block under it, what its output must show)
RUNNABLE = [
    ("Verify Installation", 0, "Ananke"),
    ("`__init__`", 1, ""),
    ("`from_env` (static method)", 1, ""),
    ("`compile_constraints`", 1, "Hash: "),
    ("`health_check`", 1, "Service healthy: False"),
    ("`clear_cache`", 1, "Cache cleared"),
    ("`cache_stats`", 1, "Cache: 0/500 entries"),
    ("`from_env`", 1, ""),
    ("PyGenerationRequest Class", 1, ""),
    ("PyConstraintIR Class", 1, ""),
    ("PyGenerationContext Class", 1, ""),
    ("Example 4: Cache Management", 0, "After compilation: 2/100"),
    ("Example 5: Error Handling", 0, "Generation failed: "),
    ("RuntimeError", 0, "Initialization failed: "),
]


def _blocks() -> dict[tuple[str, int], str]:
    assert SEED.is_file(), f"the seed document is expected beside the repository at {SEED}"
    found: dict[tuple[str, int], str] = {}
    heading, count = "", 0
    for part in re.split(r"(^#+ [^\n]*$|^```python\n.*?^```$)", SEED.read_text(), flags=re.M | re.S):
        if part.startswith("#"):
            heading, count = part.lstrip("#").strip(), 0
        elif part.startswith("```python"):
            found[(heading, count)] = part.removeprefix("```python\n").removesuffix("```")
            count += 1
    return found


@pytest.mark.parametrize(("heading", "index", "expected"), RUNNABLE, ids=[f"{h}#{i}" for h, i, _ in RUNNABLE])
def test_seed_example_runs(heading: str, index: int, expected: str) -> None:
    code = _blocks()[(heading, index)]
    changed = code.replace("from ananke import", "from ananke_lsp import")
    if "from ananke_lsp import" not in changed:
        changed = IMPORT + changed  # a fragment that relies on the names being imported
    env = {**os.environ, "MODAL_ENDPOINT": "https://your-app.modal.run"}
    run = subprocess.run([sys.executable, "-c", changed], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert expected in run.stdout, run.stdout
    assert "Traceback" not in run.stderr
