"""What the model sees around the cursor, and which shape the suggestion must take there."""

from __future__ import annotations

from dataclasses import dataclass

from ..types import PyConstraintIR
from .buffer_constraints import indented_block, single_line


@dataclass(frozen=True)
class CursorContext:
    prefix: str  # text before the cursor, up to ``prefix_lines`` lines back
    suffix: str  # text after the cursor, up to ``suffix_lines`` lines ahead
    line_before: str  # the cursor line up to the cursor
    line_after: str  # the cursor line after the cursor

    @property
    def single_line(self) -> bool:
        """Mid-line (code before or after the cursor on its line): complete this line only."""
        return bool(self.line_before.strip() or self.line_after.strip())

    def shape(self) -> PyConstraintIR:
        if self.single_line:
            return single_line()
        return indented_block(self.line_before, first_line_started=True)


def cursor_context(source: str, offset: int, prefix_lines: int, suffix_lines: int) -> CursorContext:
    """Split ``source`` at ``offset`` (a str index) into bounded windows."""
    before, after = source[:offset], source[offset:]
    line_start = before.rfind("\n") + 1
    line_end = after.find("\n")
    line_after = after if line_end < 0 else after[:line_end]
    earlier = before[:line_start].splitlines(keepends=True)
    later = after[len(line_after) :].splitlines(keepends=True)
    kept_before = earlier[len(earlier) - prefix_lines :] if prefix_lines else []
    return CursorContext(
        prefix="".join(kept_before) + before[line_start:],
        suffix=line_after + "".join(later[: suffix_lines + 1]),
        line_before=before[line_start:],
        line_after=line_after,
    )
