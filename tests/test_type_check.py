"""mypy passes over `ananke_lsp` and `modal_service` (its settings: pyproject.toml, `[tool.mypy]`),
with every remaining ``# type: ignore`` explained where it stands. Run alone: ``.venv/bin/mypy``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_type_ignore_says_why() -> None:
    # an ignore names its error code and carries a comment after it: what mypy cannot know there
    bare = []
    for path in sorted([*ROOT.glob("ananke_lsp/**/*.py"), *ROOT.glob("modal_service/**/*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "# type: ignore" in line and not re.search(r"# type: ignore\[[\w-]+(, [\w-]+)*\]\s+#\s*\S", line):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "a # type: ignore[code] without a comment saying why:\n" + "\n".join(bare)
