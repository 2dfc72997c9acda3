"""What the model sees around the cursor, and which shape the suggestion must take there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..api_types import PyConstraintIR
from ..engines.fim import LINE_GRID
from ..engines.line_stops import LineStops
from ..indentation import indent_width
from .brackets import CLOSERS, PAIRS, comment_marker, open_brackets
from .buffer_constraints import (
    balanced_brackets,
    continuation,
    no_block_header,
    no_repeat,
    no_trailing_blanks,
    opens_block,
    starts_with_code,
)

CountTokens = Callable[[str], int]
# Languages where brackets are syntax: the completion must close what it opens.
_PROSE = frozenset({"plaintext", "markdown", "restructuredtext", "latex", "git-commit", "dotenv"})
# More characters per token than any real text averages: what lies beyond a budget of this many
# characters per token cannot fit, and is cut before it is tokenized (a minified line of megabytes
# took seconds to tokenize, then made a prompt no model context holds).
CHARS_PER_TOKEN = 16
# The prefix window starts on a line number that is a multiple of this: typing, and moving down a
# few lines, keep the prompt's beginning (and the model's KV cache of it) the same. A window that
# slid a line at a time changed the prompt from its first token at every Enter: the whole prompt
# was read again, seconds on a CPU. The FIM middle opens on the same grid.
WINDOW_GRID = LINE_GRID


@dataclass(frozen=True)
class CursorContext:
    prefix: str  # text before the cursor, within the line and token windows
    suffix: str  # text after the cursor, within the windows
    line_before: str  # the cursor line up to the cursor
    line_after: str  # the cursor line after the cursor
    next_line: str  # the first non-blank line below the cursor line

    @property
    def single_line(self) -> bool:
        """Mid-line (code before or after the cursor on its line): complete this line only."""
        return bool(self.line_before.strip() or self.line_after.strip())

    def constraints(self, language: str | None) -> list[PyConstraintIR]:
        """The buffer-derived constraints at this cursor, all enforced while decoding."""
        found = [] if self.single_line else [no_trailing_blanks(), *([starts_with_code()] if self.line_before else [])]
        if language == "python" and (shape := self._python_line_shape()) is not None:
            found.append(shape)
        if language not in _PROSE:
            stack = open_brackets(self.prefix, language)
            if stack is not None:
                # brackets the rest of the line already closes are not the completion's to close
                closed_after = _closed_by(self.line_after, stack)
                found.append(balanced_brackets(stack[: len(stack) - closed_after], comment_marker(language)))
        repeat = no_repeat(self.line_after if self.single_line else self.next_line)
        if repeat is not None:
            found.append(repeat)
        return found

    @property
    def inside_block(self) -> bool:
        """An empty line with code below it at the cursor's depth or deeper: the block goes on
        after the cursor, so a suggestion is one line (at the end of a block, or in an empty
        one, it may be several; the rule Copilot-style completers use)."""
        return bool(self.next_line.strip()) and indent_width(self.next_line) >= len(self.line_before)

    def _python_line_shape(self) -> PyConstraintIR | None:
        """On an empty line above code, the one Python line that keeps the code below parseable:
        a block header above deeper code, anything but one above code at the same depth. Inside
        brackets, or above the body of a bracket (deeper lines, then its closer at the cursor's
        depth), indentation means nothing to Python: no shape then."""
        if self.single_line or not self.next_line.strip() or open_brackets(self.prefix, "python"):
            return None
        if indent_width(self.next_line) > len(self.line_before):
            after = self._after_body()
            if after.strip()[:1] in CLOSERS:
                return None
            # a chain keyword at the cursor's own depth continues this header (a shallower one, an outer header)
            return opens_block(continuation(after) if indent_width(after) == len(self.line_before) else None)
        return no_block_header() if self.inside_block else None

    def _after_body(self) -> str:
        """The first line after the deeper lines below, at the cursor's depth or less: a closing
        bracket ends a bracket's body (`}` of a dict), `elif`/`else`/... continue a header's chain."""
        column = len(self.line_before)
        lines = self.suffix.split("\n")[1:]
        return next((ln for ln in lines if ln.strip() and indent_width(ln) <= column), "")

    def line_stops(self) -> LineStops:
        """Where the suggestion ends: mid-line, with the line; on an empty line, with its line
        when the block goes on below, else before a line that leaves the cursor's block or
        retypes the next line. Never in blanks."""
        if self.single_line:  # the line break ends it: refused instead, it forced the model to go on
            return LineStops(max_lines=1)
        column = len(self.line_before)
        following = self.next_line.strip()
        return LineStops(
            repeats=(following,) if following else (),
            dedent_below=column or None,
            first_column=column,
            max_lines=1 if self.inside_block else None,
        )


def _closed_by(line_after: str, stack: list[str]) -> int:
    """How many of the open brackets ``stack`` (innermost last) the rest of the line closes, in
    order: `values)` after `max(` closes it, as `)` alone does; brackets opened and closed within
    the rest of the line do not count."""
    closed, depth = 0, 0
    for ch in line_after:
        if ch in PAIRS:
            depth += 1
        elif ch in CLOSERS and depth:
            depth -= 1
        elif ch in CLOSERS:
            if closed >= len(stack) or CLOSERS[ch] != stack[-1 - closed]:
                break
            closed += 1
    return closed


def _fit(text: str, budget: int, count: CountTokens | None, keep: Literal["start", "end"]) -> str:
    """The longest start or end of ``text`` within ``budget`` tokens: whole lines are dropped from
    the far side while more than one is left, then characters (a single line can be huge)."""

    def cut(chars: int) -> str:
        return text[len(text) - chars :] if keep == "end" else text[:chars]

    text = cut(min(len(text), budget * CHARS_PER_TOKEN))
    while count is not None and text and (tokens := count(text)) > budget:
        lines = text.splitlines(keepends=True)
        if len(lines) > 1:
            drop = max(1, len(lines) // 8)
            text = "".join(lines[drop:] if keep == "end" else lines[:-drop])
        else:  # in proportion to the excess, and at least one character
            text = cut(min(len(text) - 1, len(text) * budget // tokens))
    return text


def _on_grid(line: int) -> int:
    return -(-line // WINDOW_GRID) * WINDOW_GRID


def _prefix_start(
    earlier: list[str], line_before: str, prefix_lines: int, budget: int | None, count: CountTokens | None
) -> int:
    """The first of the ``earlier`` lines in the prefix window: on the grid, within
    ``prefix_lines``, and with the window (those lines and ``line_before``) within ``budget``
    tokens (characters at ``CHARS_PER_TOKEN`` first, then counted). ``len(earlier)`` when not even
    the nearest grid line fits."""
    start = _on_grid(max(0, len(earlier) - prefix_lines)) if prefix_lines else len(earlier)
    if budget is None:
        return min(start, len(earlier))
    chars = len(line_before) + sum(len(line) for line in earlier[start:])
    while start < len(earlier) and chars > budget * CHARS_PER_TOKEN:
        chars -= len(earlier[start])
        start += 1
    start = _on_grid(start)
    while count is not None and start < len(earlier) and count("".join(earlier[start:]) + line_before) > budget:
        start = _on_grid(start + max(1, (len(earlier) - start) // 8))
    return min(start, len(earlier))


def cursor_context(
    source: str,
    offset: int,
    prefix_lines: int,
    suffix_lines: int,
    *,
    prefix_tokens: int | None = None,
    suffix_tokens: int | None = None,
    count: CountTokens | None = None,
) -> CursorContext:
    """Split ``source`` at ``offset`` (a str index) into windows bounded in lines, then tokens:
    counted with ``count`` when given, else bounded by ``CHARS_PER_TOKEN`` characters per token."""
    before, after = source[:offset], source[offset:]
    line_start = before.rfind("\n") + 1
    line_end = after.find("\n")
    line_after = after if line_end < 0 else after[:line_end]
    earlier = before[:line_start].splitlines(keepends=True)
    later = after[len(line_after) :].splitlines(keepends=True)
    line_before = before[line_start:]
    start = _prefix_start(earlier, line_before, prefix_lines, prefix_tokens, count)
    prefix = "".join(earlier[start:]) + line_before
    suffix = line_after + "".join(later[: suffix_lines + 1])
    if prefix_tokens is not None and start == len(earlier):  # the cursor's line alone may be huge
        prefix = _fit(prefix, prefix_tokens, count, "end")
    if suffix_tokens is not None:
        suffix = _fit(suffix, suffix_tokens, count, "start")
    return CursorContext(
        prefix=prefix,
        suffix=suffix,
        line_before=line_before,
        line_after=line_after,
        next_line=next((ln.rstrip("\n") for ln in later[1:] if ln.strip()), ""),
    )
