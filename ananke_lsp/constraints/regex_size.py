"""How large a regex is with its counted repetitions written out, to bound an intersection.

llguidance holds several regexes of one constraint jointly (``/r1/ & /r2/``). Alone, a counted
repetition costs nothing (``"{99999}`` builds at once); intersected with another, building the
lexer grows with the product of both sizes and is not bounded by llguidance's fuel: ``"{9999}`` &
``"+{9999}`` took seconds, ``{99999}`` for each would take hours, holding a thread and gigabytes.
So the product of the written-out sizes is bounded before llguidance sees it."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# the written-out sizes of the intersected regexes, multiplied: at this bound the slowest
# intersection tried (a counted repetition against the same count of `x+`) builds in about a second
MAX_INTERSECTION_SIZE = 25_000_000
_COUNTED = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_BRACED_ESCAPE = re.compile(r"\\[pPux]\{[^}]*\}")


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class that opens at ``start``."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":  # a leading ] is a literal
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def written_out_size(pattern: str) -> int:
    """Atoms of ``pattern`` with each counted repetition (``{n}``, ``{n,}``, ``{n,m}``) written out
    as copies (the largest count taken); ``*``, ``+`` and ``?`` add nothing."""
    groups: list[list[int]] = [[0, 0]]  # per open group: its size so far, and its last item's
    i = 0
    while i < len(pattern):
        char = pattern[i]
        item = 1
        if char == "\\":
            braced = _BRACED_ESCAPE.match(pattern, i)
            i = braced.end() if braced else i + 2
        elif char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            groups.append([0, 0])
            i += 1
            continue
        elif char == ")" and len(groups) > 1:
            item = max(groups.pop()[0], 1)
            i += 1
        elif (counted := _COUNTED.match(pattern, i)) is not None:
            low, high = counted.group(1), counted.group(2)
            times = max(int(low), int(high) if high else 0)
            total, last = groups[-1]
            groups[-1] = [total - last + last * times, last * times]
            i = counted.end()
            continue
        else:
            i += 1
            if char in "|*+?":
                continue
        groups[-1][0] += item
        groups[-1][1] = item
    return max(sum(group[0] for group in groups), 1)


def intersection_size(patterns: Sequence[str]) -> int:
    """The product of the patterns' written-out sizes: what building their intersection grows with."""
    return math.prod(written_out_size(p) for p in patterns) if len(patterns) > 1 else 0
