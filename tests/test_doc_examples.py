"""The project's own Python examples (README.md, docs/*.md) run as written, on the embedded engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"^```python\n(.*?)^```$", doc.read_text(), flags=re.M | re.S)):
            found.append((f"{doc.relative_to(ROOT)}#{i}", block))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples():
    assert EXAMPLES, "README.md shows the Python API with an example"


@pytest.mark.parametrize("code", [c for _, c in EXAMPLES], ids=[i for i, _ in EXAMPLES])
def test_doc_example_runs(code: str):
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    if "validation" in code:  # an example that prints its validation shows every constraint held
        assert "all_satisfied=True" in run.stdout, run.stdout
