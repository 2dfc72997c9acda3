"""Where a code suggestion ends, line by line, decided while decoding.

A code model filling the middle of a file rarely stops on its own where an editor needs it to:
after the line it was asked for it goes on to retype the lines that already follow the cursor,
or leaves the block, or pads with blank lines until the token budget runs out. Those are stop
conditions, not constraints: a constraint that forbade the dedent or the repeated line would
force the model to write something else instead, whereas here the output simply ends before the
first line that meets one. The embedded engine checks them after every token, so the decoding
stops there; every other engine's output is cut by the same rules afterwards."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..indentation import indent_width


class LineStops(BaseModel):
    """The output ends (before the line, and the line break before it) at the first line that:"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # equals one of these, leading and trailing blanks ignored (the code after the cursor)
    repeats: tuple[str, ...] = ()
    # starts with fewer columns of indentation (a line that leaves the cursor's block)
    dedent_below: int | None = Field(default=None, ge=1)
    # is the last of this many blank lines in a row
    blank_run: int | None = Field(default=2, ge=1)
    # the column at which the output starts: its first line's indentation counts from there
    first_column: int = Field(default=0, ge=0)
    # ends with the line break that would start line ``max_lines + 1`` (1: this line only)
    max_lines: int | None = Field(default=None, ge=1)


def _ends_here(line: str, column: int, blanks: int, stops: LineStops, complete: bool) -> bool:
    if not line.strip():
        return complete and stops.blank_run is not None and blanks >= stops.blank_run
    if stops.dedent_below is not None and column + indent_width(line) < stops.dedent_below:
        return True  # visible as soon as the line's first non-blank character is
    return complete and line.strip() in stops.repeats


def line_cut(text: str, stops: LineStops, *, final: bool) -> int | None:
    """The index to cut ``text`` at, or None. A line is judged once it is complete (or, with
    ``final``, the last line as it stands); a dedent as soon as it shows."""
    start, blanks, lines = 0, 0, 0
    while start <= len(text):
        if stops.max_lines is not None and lines == stops.max_lines:
            return len(text[:start].rstrip())
        end = text.find("\n", start)
        complete = end >= 0 or final
        line = text[start:] if end < 0 else text[start:end]
        blanks = blanks + 1 if not line.strip() else 0
        column = stops.first_column if start == 0 else 0
        if _ends_here(line, column, blanks, stops, complete):
            return len(text[:start].rstrip())  # the line, and the blanks before it, go
        if end < 0:
            return None
        lines += 1
        start = end + 1
    return None


def settled(text: str) -> int:
    """How much of ``text`` line stops can no longer take back: up to its last line break,
    without the blanks before it (a blank run or a stopping line may still remove those)."""
    return len(text[: max(text.rfind("\n"), 0)].rstrip())


def finished(text: str, stops: LineStops | None) -> str:
    """The final text: cut at the first stopping line, without trailing blanks."""
    if stops is not None:
        cut = line_cut(text, stops, final=True)
        if cut is not None:
            text = text[:cut]
    return text.rstrip()
