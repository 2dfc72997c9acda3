"""A function's body typed back key by key as in VS Code, with seeded human-like pauses.

The editor's behaviour that changes what the server sees:

- **Enter** keeps the line's indentation, adds a level after a line that opens a block (VS Code's
  Python rule: ``def``, ``if``, ``for``... ending in ``:``) or ends in an open bracket, and drops
  one after ``return``, ``raise``, ``pass``, ``break``, ``continue``; Enter on a line holding only
  that indentation empties it (``editor.trimAutoWhitespace``). The typist then fixes the new
  line's indentation with Backspace (to the previous tab stop) and Tab (to the next), then spaces.
- **Brackets** close themselves: ``(`` inserts ``()`` with the cursor inside, and typing the
  closer steps over it. Only for brackets of code (not in strings or comments) closed on the same
  line; quotes are typed as they are.

Pauses: ~80 to 250 ms between keys (log-normal, median 140 ms), longer at a word's end, longer
still after Enter (reading, thinking of the next line), now and then a second or two."""

from __future__ import annotations

import io
import math
import random
import re
import tokenize
from dataclasses import dataclass

from bench.stdlib_functions import StdlibFunction

TAB = 4
_OPENS = {"(": ")", "[": "]", "{": "}"}
_BLOCK = re.compile(r"^\s*(?:def|class|for|if|elif|else|while|try|with|finally|except|async|match|case)\b.*:\s*$")
_OUTDENT = re.compile(r"^\s+(?:return|raise|pass|break|continue)\b")


@dataclass(frozen=True)
class Key:
    delay_s: float  # since the previous key
    start: int  # the replaced range, as offsets into the document before this key
    end: int
    text: str
    cursor: int  # the cursor's offset after this key
    kind: str  # char, pair, overtype, enter, tab, space, backspace


@dataclass(frozen=True)
class Trace:
    name: str  # module:qualname
    file: str  # the file name it is opened under
    initial: str  # the module with the body emptied to its first line's indentation
    final: str  # the module as it is
    start_cursor: int
    keys: tuple[Key, ...]


def _auto_closed(fn: StdlibFunction) -> dict[int, int]:
    """The body's code brackets closed on their own line: the opener's offset in the module to
    its closer's."""
    out: dict[int, int] = {}
    starts = [0, *(i + 1 for i, ch in enumerate(fn.source) if ch == "\n")]
    stack: list[tuple[int, int]] = []  # (offset, line)
    for token in tokenize.generate_tokens(io.StringIO(fn.source).readline):
        if token.type != tokenize.OP or token.string not in "()[]{}":
            continue
        offset = starts[token.start[0] - 1] + token.start[1]
        if token.string in _OPENS:
            stack.append((offset, token.start[0]))
        elif stack:
            opened, line = stack.pop()
            if line == token.start[0] and fn.body_start <= opened < fn.body_end:
                out[opened] = offset
    return out


class _Pauses:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def gap(self, previous: str, key: str, after_enter: bool) -> float:
        rng = self.rng
        seconds = min(max(rng.lognormvariate(math.log(0.14), 0.35), 0.08), 0.25)
        if after_enter:
            seconds += rng.uniform(0.3, 0.9)
        elif (previous.isalnum() or previous == "_") and not (key.isalnum() or key == "_"):
            seconds += rng.uniform(0.05, 0.25)
            if rng.random() < 0.04:
                seconds += rng.uniform(0.8, 2.0)
        return round(seconds, 4)


class _Editor:
    def __init__(self, text: str, cursor: int, pauses: _Pauses) -> None:
        self.text = text
        self.cursor = cursor
        self.pauses = pauses
        self.keys: list[Key] = []
        self.closers: list[int] = []  # offsets in the module of the auto-inserted closers' own characters
        self.previous = ""
        self.after_enter = True  # the file opens as if Enter had just been pressed

    def press(self, start: int, end: int, text: str, cursor: int, kind: str, label: str) -> None:
        delay = self.pauses.gap(self.previous, label, self.after_enter)
        self.keys.append(Key(delay, start, end, text, cursor, kind))
        self.text = self.text[:start] + text + self.text[end:]
        self.cursor = cursor
        self.previous = label
        self.after_enter = kind == "enter"

    def line_before(self) -> str:
        return self.text[self.text.rfind("\n", 0, self.cursor) + 1 : self.cursor]

    def enter(self) -> None:
        line = self.line_before()
        if not line.strip():  # trimAutoWhitespace: the line keeps nothing, the new one its indentation
            start = self.cursor - len(line)
            self.press(start, start, "\n", self.cursor + 1, "enter", "\n")
            return
        indent = line[: len(line) - len(line.lstrip())]
        code = line.split("#", 1)[0].rstrip()
        if _BLOCK.match(code) or (code and code[-1] in _OPENS):
            indent += " " * TAB
        elif _OUTDENT.match(code):
            indent = indent[:-TAB]
        self.press(self.cursor, self.cursor, "\n" + indent, self.cursor + 1 + len(indent), "enter", "\n")

    def indent_to(self, width: int) -> None:
        current = len(self.line_before())
        while current > width:  # Backspace in the indentation goes back to the previous tab stop
            n = current % TAB or TAB
            self.press(self.cursor - n, self.cursor, "", self.cursor - n, "backspace", " ")
            current -= n
        while current < width:
            n = TAB - current % TAB
            kind = "tab" if current + n <= width else "space"
            n = n if kind == "tab" else 1
            self.press(self.cursor, self.cursor, " " * n, self.cursor + n, kind, " ")
            current += n


def build(fn: StdlibFunction, rng: random.Random) -> Trace:
    body = fn.body
    indent = body[: len(body) - len(body.lstrip(" "))]
    initial = fn.source[: fn.body_start] + indent + fn.source[fn.body_end :]
    editor = _Editor(initial, fn.body_start + len(indent), _Pauses(rng))
    pairs = _auto_closed(fn)
    i = fn.body_start + len(indent)
    while i < fn.body_end:
        ch = fn.source[i]
        cur = editor.cursor
        if ch == "\n":
            editor.enter()
            line_end = fn.source.find("\n", i + 1)
            line = fn.source[i + 1 : line_end]
            i += 1
            if line:  # a blank line is typed as another Enter
                width = len(line) - len(line.lstrip(" "))
                editor.indent_to(width)
                i += width
            continue
        if editor.closers and editor.closers[-1] == i:
            editor.closers.pop()
            editor.press(cur, cur + 1, ch, cur + 1, "overtype", ch)
        elif i in pairs:
            editor.closers.append(pairs[i])
            editor.press(cur, cur, ch + _OPENS[ch], cur + 1, "pair", ch)
        else:
            editor.press(cur, cur, ch, cur + 1, "char", ch)
        i += 1
    if editor.text != fn.source:
        raise AssertionError(f"typing {fn.module}:{fn.qualname} did not give back its source")
    name = f"{fn.module}:{fn.qualname}"
    return Trace(name, fn.module, initial, fn.source, fn.body_start + len(indent), tuple(editor.keys))
