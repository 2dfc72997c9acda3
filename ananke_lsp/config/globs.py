"""Gitignore-style globs over POSIX paths relative to a project directory.

``fnmatch`` lets ``*`` cross ``/``, and translating a whole glob into one regex backtracks
catastrophically (``*a*a…*b`` against ``aaaa…``, or many ``**``, took hours). So a glob is matched
one path segment at a time, keeping the set of places in the glob reached so far as the bits of an
int (``**`` keeps its place or moves on), which costs one step per segment of the path; each other
segment of the glob is a regex built so that it cannot backtrack more than linearly (``_segment``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

MAX_GLOB_CHARS = 256  # a gitignore line is tens of characters; the cost of a match grows with it

_DIRS = "**"  # zero or more path segments; as the last segment of a glob, one or more


class Glob:
    """One compiled glob; ``ignore_case`` for rules meant to hold on case-insensitive file systems.

    ``*`` and ``?`` stay within one path segment, ``**`` spans any number of directories, a
    pattern without ``/`` matches the basename at any depth, a leading ``/`` or an inner ``/``
    anchors the pattern at the root, and a trailing ``/`` means "everything inside"."""

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self.pattern = pattern
        items = _compile(pattern, re.IGNORECASE if ignore_case else 0)
        # Bit i of a state: the first i items of the glob have matched the path so far.
        self._accept = 1 << len(items)
        self._stay = sum(1 << i for i, item in enumerate(items) if item == _DIRS)  # `**` takes one more
        self._skip = self._stay & ((self._accept >> 1) - 1)  # `**` before the last item may take none
        self._last_dirs = self._stay & (self._accept >> 1)  # a last `**`: done after one, may take more
        self._segments: dict[re.Pattern[str], int] = {}  # each distinct segment regex, and where it is
        for i, item in enumerate(items):
            if isinstance(item, re.Pattern):
                self._segments[item] = self._segments.get(item, 0) | 1 << i
        self._start = self._close(1) if items else 0  # an empty glob matches nothing

    def match(self, relpath: str) -> bool:
        """Whether ``relpath`` (``a/b/c.py``, no leading ``/``) matches the glob."""
        states = self._start
        for part in relpath.strip("/").split("/"):
            if not states:
                return False
            states = self._step(states, part)
        return bool(states & self._accept)

    def covers(self, parts: Sequence[str], *, anywhere: bool = False) -> bool:
        """Whether the glob matches the path ``parts`` or a directory holding it; with
        ``anywhere``, also when that path or directory starts at any depth."""
        states = self._start
        for part in parts:
            states = self._step(states, part) | (self._start if anywhere else 0)
            if states & self._accept:
                return True
            if not states:
                return False
        return False

    def _step(self, states: int, part: str) -> int:
        after = states & self._stay | (states & self._last_dirs) << 1
        for regex, where in self._segments.items():
            if states & where and regex.fullmatch(part):
                after |= (states & where) << 1
        return self._close(after)

    def _close(self, states: int) -> int:
        # one shift is enough: `_compile` leaves no two `**` in a row
        return states | (states & self._skip) << 1


class Globs:
    """A list of globs compiled once; a path is matched against all of them."""

    def __init__(self, patterns: Iterable[str], *, ignore_case: bool = False) -> None:
        self._globs = [Glob(p, ignore_case=ignore_case) for p in patterns]

    def match(self, relpath: str) -> bool:
        return any(glob.match(relpath) for glob in self._globs)

    def covers(self, parts: Sequence[str], *, anywhere: bool = False) -> bool:
        return any(glob.covers(parts, anywhere=anywhere) for glob in self._globs)


def glob_match(pattern: str, relpath: str) -> bool:
    """Whether ``relpath`` (``a/b/c.py``, no leading ``/``) matches the gitignore-style ``pattern``."""
    return _cached(pattern).match(relpath)


def check_glob(pattern: str) -> None:
    """Raise ``ValueError`` naming ``pattern`` when it is not a usable glob (``[z-a]``, too long)."""
    if len(pattern) > MAX_GLOB_CHARS:
        raise ValueError(
            f"glob {pattern[:40]!r}… is {len(pattern)} characters long; at most {MAX_GLOB_CHARS} are allowed"
        )
    _cached(pattern)


@lru_cache(maxsize=1024)
def _cached(pattern: str) -> Glob:
    return Glob(pattern)


def _compile(pattern: str, flags: int) -> list[str | re.Pattern[str]]:
    text = pattern.strip()
    inside = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return []
    anchored = "/" in text  # as in gitignore: the trailing slash does not anchor
    text = text.lstrip("/")
    if inside:
        text += "/**"
    if not anchored:
        text = "**/" + text
    items: list[str | re.Pattern[str]] = []
    for segment in (s for s in text.split("/") if s):
        try:
            if segment != _DIRS:
                items.append(_segment(segment, flags))
            elif not items or items[-1] != _DIRS:  # `**/**` is one `**`
                items.append(_DIRS)
        except re.error as exc:
            raise ValueError(f"glob {pattern!r} is not valid: {exc.msg}") from None
    return items


@lru_cache(maxsize=4096)
def _segment(segment: str, flags: int) -> re.Pattern[str]:
    """A regex for one segment that backtracks at most linearly: between two stars, the fixed-width
    run of characters is taken at its leftmost place and never reconsidered (an atomic group).
    Leftmost is always safe, since it leaves the most of the name to what follows."""
    runs = _runs(segment)
    if len(runs) == 1:
        return re.compile(runs[0], flags)
    first, *middle, last = runs
    between = "".join(f"(?>[^/]*?{run})" for run in middle)
    return re.compile(f"{first}{between}[^/]*{last}", flags)


def _runs(segment: str) -> list[str]:
    """The segment split at its stars, each run as regex text matching a fixed number of characters."""
    runs, out, i = [], "", 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out += re.escape(segment[i + 1])
            i += 2
            continue
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # `**` inside a segment is a plain `*`
            runs.append(out)
            out = ""
        elif char == "?":
            out += "[^/]"
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out += "[" + ("^/" if negate else "") + _class_body(body) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return [*runs, out]


def _class_body(body: str) -> str:
    """A ``[...]`` body as regex class text: ``x-y`` ranges, every other character literal (so
    ``[[]``, ``[\\]``, ``[--]`` or ``[&&]`` cannot change the meaning of the regex around it)."""
    out, i = "", 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out += f"{re.escape(body[i])}-{re.escape(body[i + 2])}"
            i += 3
        else:
            out += re.escape(body[i])
            i += 1
    return out
