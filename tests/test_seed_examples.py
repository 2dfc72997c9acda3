"""Every runnable example of the seed API document runs with only its import line changed
(`from ananke import` -> `from ananke_lsp import`): those that need no service as they are, the
others against `ananke serve` on 127.0.0.1 through MODAL_ENDPOINT."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .servers import ananke_serve

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "ananke-python-api.md"
IMPORT = "from ananke_lsp import *\n"
# The seed document lies beside the repository in CI, not in a user's clone: there these skip
# (tests/test_doc_examples.py runs the project's own examples everywhere).
pytestmark = pytest.mark.skipif(
    not SEED.is_file(), reason=f"the seed API document is not beside this clone (looked for {SEED})"
)

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


# These call generate: they run against `ananke serve` through MODAL_ENDPOINT.
WITH_SERVICE = [
    ("Basic Usage", 0, "Constraints satisfied: True"),
    ("With Constraints", 0, "Validation: ['json_output']"),
    ("`generate`", 1, "Constraints satisfied: True"),
    ("Example 1: Simple Code Generation", 0, ""),
    ("Example 2: Constrained JSON Output", 0, "Parsed: {"),
    ("Example 3: With Context", 0, "Generated at: Implement a handler for user authentication"),
    ("Example 6: Batch Generation", 0, "--- Result 3 ---"),
    ("Throughput Example", 0, "Throughput: "),
]


def _blocks() -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    heading, count = "", 0
    for part in re.split(r"(^#+ [^\n]*$|^```python\n.*?^```$)", SEED.read_text(), flags=re.M | re.S):
        if part.startswith("#"):
            heading, count = part.lstrip("#").strip(), 0
        elif part.startswith("```python"):
            found[(heading, count)] = part.removeprefix("```python\n").removesuffix("```")
            count += 1
    return found


def _run(heading: str, index: int, expected: str, endpoint: str) -> None:
    code = _blocks()[(heading, index)]
    changed = code.replace("from ananke import", "from ananke_lsp import")
    if "from ananke_lsp import" not in changed:
        changed = IMPORT + changed  # a fragment that relies on the names being imported
    env = {**os.environ, "MODAL_ENDPOINT": endpoint}
    run = subprocess.run([sys.executable, "-c", changed], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert expected in run.stdout, run.stdout
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("heading", "index", "expected"), RUNNABLE, ids=[f"{h}#{i}" for h, i, _ in RUNNABLE])
def test_seed_example_runs(heading: str, index: int, expected: str) -> None:
    _run(heading, index, expected, "https://your-app.modal.run")


@pytest.fixture(scope="module")
def service() -> str:
    with ananke_serve() as url:
        yield url


@pytest.mark.parametrize(("heading", "index", "expected"), WITH_SERVICE, ids=[f"{h}#{i}" for h, i, _ in WITH_SERVICE])
def test_seed_example_runs_against_ananke_serve(service: str, heading: str, index: int, expected: str) -> None:
    _run(heading, index, expected, service)
