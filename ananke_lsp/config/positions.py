"""Where each key of a TOML document sits, so a validation error can point at its line.

tomllib returns plain dicts without positions, so this scans the text once (after tomllib
accepted it) and records the 1-based line and column of every table header, key, and array
element under the same path pydantic reports in an error's ``loc``: ``("generation",
"temperature")``, ``("constraints", 2, "regex")`` for the third ``[[constraints]]``,
``("privacy", "exclude", 1)``. Dotted keys and inline tables are followed too."""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from dataclasses import dataclass, field

Loc = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}\n#]")


@dataclass(frozen=True)
class KeyPositions:
    found: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[int, int]:
        """Position of ``loc``, else of its nearest enclosing table or key (a missing key points
        at its table's header), else line 1."""
        loc = tuple(loc)
        while loc:
            if loc in self.found:
                return self.found[loc]
            loc = loc[:-1]
        return (1, 1)


def scan_positions(text: str) -> KeyPositions:
    scanner = _Scanner(text)
    # malformed text: tomllib reports it; keep what was found (deep nesting included)
    with contextlib.suppress(IndexError, ValueError, RecursionError):
        scanner.document()
    return KeyPositions(scanner.found)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.found: dict[Loc, tuple[int, int]] = {}
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self._array_tables: dict[Loc, int] = {}  # path of each [[array]] -> index of its current element

    # -- positions -------------------------------------------------------------------------
    def _position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def _record(self, loc: Loc, offset: int, *, parents: bool = True) -> None:
        position = self._position(offset)
        self.found[loc] = position
        if parents:
            for n in range(1, len(loc)):
                self.found.setdefault(loc[:n], position)

    # -- lexing helpers --------------------------------------------------------------------
    def _peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def _skip_blank(self, newlines: bool) -> None:
        """Skip spaces and comments (and newlines, inside arrays and at statement starts)."""
        while self.i < len(self.text):
            char = self.text[self.i]
            if char in " \t\r" or (newlines and char == "\n"):
                self.i += 1
            elif char == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end == -1 else end
            else:
                return

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.i)
        self.i = len(self.text) if end == -1 else end + 1

    def _key(self) -> list[str]:
        """A (possibly dotted, possibly quoted) key; the cursor ends after it."""
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            quote = self._peek()
            if quote in ('"', "'"):
                start = self.i
                self._string()
                raw = self.text[start + 1 : self.i - 1]
                parts.append(_unescape(raw) if quote == '"' else raw)
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if match is None:
                    raise ValueError("not a key")
                parts.append(match.group())
                self.i = match.end()
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return parts
            self.i += 1

    def _string(self) -> None:
        quote = self.text[self.i]
        if self._peek(3) == quote * 3:
            end = self.i + 3
            while True:
                end = self.text.index(quote * 3, end)
                if quote == '"' and _escaped(self.text, end):
                    end += 1
                    continue
                break
            end += 3
            while end < len(self.text) and self.text[end] == quote:  # up to two quotes may end the content
                end += 1
            self.i = end
            return
        end = self.i + 1
        while True:
            end = self.text.index(quote, end)
            if quote == '"' and _escaped(self.text, end):
                end += 1
                continue
            break
        self.i = end + 1

    # -- grammar ---------------------------------------------------------------------------
    def document(self) -> None:
        table: Loc = ()
        while True:
            self._skip_blank(newlines=True)
            if self.i >= len(self.text):
                return
            start = self.i
            if self._peek(2) == "[[":
                self.i += 2
                table = self._table_path(self._key(), array=True)
                self._record(table, start)
                self._skip_line()
            elif self._peek() == "[":
                self.i += 1
                table = self._table_path(self._key(), array=False)
                self._record(table, start)
                self._skip_line()
            else:
                loc = table + tuple(self._key())
                self._record(loc, start)
                if self._peek() != "=":
                    raise ValueError("expected '='")
                self.i += 1
                self._value(loc)
                self._skip_line()

    def _table_path(self, keys: list[str], *, array: bool) -> Loc:
        path: Loc = ()
        for n, key in enumerate(keys):
            path = (*path, key)
            last = n == len(keys) - 1
            if last and array:
                index = self._array_tables.get(path, -1) + 1
                self._array_tables[path] = index
                # a new element: forget the sub-arrays of the previous one
                for sub in [p for p in self._array_tables if len(p) > len(path) and p[: len(path)] == path]:
                    del self._array_tables[sub]
                path = (*path, index)
            elif path in self._array_tables:
                path = (*path, self._array_tables[path])
        return path

    def _value(self, loc: Loc) -> None:
        self._skip_blank(newlines=False)
        char = self._peek()
        if char in ('"', "'"):
            self._string()
        elif char == "[":
            self._array(loc)
        elif char == "{":
            self._inline_table(loc)
        else:
            match = _SCALAR_END.search(self.text, self.i)
            self.i = len(self.text) if match is None else match.start()

    def _array(self, loc: Loc) -> None:
        self.i += 1
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() in ("]", ""):
                self.i += 1
                return
            before = self.i
            self._record((*loc, index), self.i, parents=False)
            self._value((*loc, index))
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.i += 1
                index += 1
            elif self.i == before:
                raise ValueError("malformed array")

    def _inline_table(self, loc: Loc) -> None:
        self.i += 1
        while True:
            self._skip_blank(newlines=True)
            if self._peek() in ("}", ""):
                self.i += 1
                return
            start = self.i
            key = (*loc, *self._key())  # always advances or raises
            self._record(key, start, parents=False)
            if self._peek() != "=":
                raise ValueError("expected '='")
            self.i += 1
            self._value(key)
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.i += 1


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return str(json.loads(f'"{raw}"'))  # TOML's common escapes are JSON's
    except ValueError:
        return raw


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` is escaped by an odd run of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
