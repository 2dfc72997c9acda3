"""bench/RESULTS.md holds sections written by different commands (bench/run.py writes the engine,
service and LSP figures in one go; bench/quality.py and bench/implement.py, which take an hour or
more, write their own): each command replaces its own sections and keeps the others."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
_SECTION = re.compile(r"^## ", re.MULTILINE)


def _sections(text: str) -> tuple[str, list[str]]:
    """The text before the first ``## `` heading, and each section from its heading on."""
    starts = [m.start() for m in _SECTION.finditer(text)]
    if not starts:
        return text, []
    bounds = [*starts, len(text)]
    return text[: starts[0]], [text[a:b].rstrip("\n") + "\n" for a, b in itertools.pairwise(bounds)]


def _heading(section: str) -> str:
    return section.split("\n", 1)[0]


def write_sections(sections: list[str], head: str | None = None, path: Path = RESULTS) -> None:
    """Replace the sections with these headings (appending new ones) and, given ``head``, the text
    before the first section; every other section stays as it was."""
    old_head, old = _sections(path.read_text() if path.exists() else "")
    mine = {_heading(s): s.rstrip("\n") + "\n" for s in sections}
    kept = [mine.pop(_heading(s), s) for s in old]
    body = "\n".join([*kept, *mine.values()])
    path.write_text((head if head is not None else old_head).rstrip("\n") + "\n\n" + body)
