"""How large a regex is with its counted repetitions written out, to bound an intersection.

llguidance holds several regexes of one constraint jointly (``/r1/ & /r2/``), and a Lark grammar
may write ``&`` itself. Alone, a counted repetition costs nothing (``"{99999}`` builds at once);
intersected with another, building the lexer grows with the product of both sizes and is not
bounded by llguidance's fuel: ``"{9999}`` & ``"+{9999}`` took seconds, ``{99999}`` for each would
take hours, holding a thread and gigabytes. So the product of the written-out sizes is bounded
before llguidance sees it."""

from __future__ import annotations

import functools
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


# Lark: a regex or string literal (with flags), a name, a repetition `~ n` or `~ n..m`, a symbol
_LARK_TOKEN = re.compile(
    r'(?P<regex>/(?:\\.|[^/\\\n])+/[imslux]*)|(?P<string>"(?:\\.|[^"\\\n])*"i?)|(?P<name>[?!]?\w+)'
    r"|(?P<times>~\s*(?P<low>\d+)(?:\s*\.\.\s*(?P<high>\d+))?)|(?P<comment>//[^\n]*)|(?P<symbol>\S)"
)
_DEFINITION = re.compile(r"^[?!]?(\w+)(?:\.-?\d+)?\s*:", re.MULTILINE)


class _LarkSizes:
    """Written-out sizes of a Lark grammar's definitions, and the largest ``&`` among them."""

    def __init__(self, grammar: str) -> None:
        starts = list(_DEFINITION.finditer(grammar))
        ends = [m.start() for m in starts[1:]] + [len(grammar)]
        self.bodies = {m.group(1): grammar[m.end() : end] for m, end in zip(starts, ends, strict=False)}
        self.sizes: dict[str, int] = {}
        self.largest_and = 0

    def of(self, name: str) -> int:
        if name not in self.sizes:
            self.sizes[name] = 1  # while it is being measured: a recursive rule counts once
            tokens = [m for m in _LARK_TOKEN.finditer(self.bodies.get(name, "")) if not m.group("comment")]
            self.sizes[name] = self._expression(tokens, 0)[0]
        return self.sizes[name]

    def _expression(self, tokens: list[re.Match[str]], i: int) -> tuple[int, int]:
        """The size of the expression from ``tokens[i]`` to its closing parenthesis, and where it ended:
        alternatives add, ``&`` operands multiply, a sequence adds, ``~ n`` multiplies its item."""
        alternatives: list[int] = []
        operands: list[int] = []
        sequence: list[int] = []

        def close_operand() -> None:
            operands.append(sum(sequence) or 1)
            sequence.clear()

        def close_alternative() -> None:
            close_operand()
            product = math.prod(operands)
            if len(operands) > 1:
                self.largest_and = max(self.largest_and, product)
            alternatives.append(product)
            operands.clear()

        while i < len(tokens):
            token = tokens[i]
            i += 1
            if token.group("regex"):
                body = token.group("regex")
                sequence.append(written_out_size(body[1 : body.rindex("/")]))
            elif token.group("string"):
                sequence.append(max(len(token.group("string")) - 2, 1))
            elif token.group("name"):
                sequence.append(self.of(token.group("name").lstrip("?!")))
            elif token.group("times") and sequence:
                sequence[-1] *= int(token.group("high") or token.group("low"))
            elif token.group("symbol") == "(" or token.group("symbol") == "[":
                size, i = self._expression(tokens, i)
                sequence.append(size)
            elif token.group("symbol") in (")", "]"):
                break
            elif token.group("symbol") == "&":
                close_operand()
            elif token.group("symbol") == "|":
                close_alternative()
        close_alternative()
        return sum(alternatives), i


@functools.lru_cache(maxsize=64)  # a grammar recurs at every keystroke (Python syntax), a scan takes ms
def grammar_intersection_size(grammar: str) -> int:
    """The largest product of written-out sizes among the grammar's ``&`` expressions (0: none)."""
    if "&" not in grammar:
        return 0
    sizes = _LarkSizes(grammar)
    for name in sizes.bodies:
        sizes.of(name)
    return sizes.largest_and
