"""Gitignore-style globs over POSIX paths relative to a project directory.

``pathlib.PurePath.full_match`` (the one stdlib matcher that understands ``**``) arrived in
Python 3.13, and ``fnmatch`` lets ``*`` cross ``/``, so the translation is done here."""

from __future__ import annotations

import re
from functools import lru_cache


def glob_match(pattern: str, relpath: str) -> bool:
    """Whether ``relpath`` (``a/b/c.py``, no leading ``/``) matches the gitignore-style ``pattern``.

    ``*`` and ``?`` stay within one path segment, ``**`` spans any number of directories, a
    pattern without ``/`` matches the basename at any depth, a leading ``/`` or an inner ``/``
    anchors the pattern at the root, and a trailing ``/`` means "everything inside"."""
    regex = _compile(pattern)
    return regex is not None and regex.fullmatch(relpath.strip("/")) is not None


def check_glob(pattern: str) -> None:
    """Raise ``ValueError`` naming ``pattern`` when it is not a usable glob (``[z-a]``)."""
    _compile(pattern)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    text = pattern.strip()
    inside = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text  # as in gitignore: the trailing slash does not anchor
    text = text.lstrip("/")
    if inside:
        text += "/**"
    if not anchored:
        text = "**/" + text
    try:
        return re.compile(_translate([s for s in text.split("/") if s]))
    except re.error as exc:
        raise ValueError(f"glob {pattern!r} is not valid: {exc.msg}") from None


def _translate(segments: list[str]) -> str:
    out, need_sep = "", False
    for i, segment in enumerate(segments):
        sep = "/" if need_sep else ""
        if segment != "**":
            out += sep + _segment(segment)
            need_sep = True
        elif len(segments) == 1:
            out += ".*"
        elif i == len(segments) - 1:
            out += sep + ".+"  # `dir/**`: everything inside, not `dir` itself
        else:
            out += sep + "(?:[^/]+/)*"  # zero or more directories; the next segment follows directly
            need_sep = False
    return out


def _segment(segment: str) -> str:
    out, i = "", 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out += re.escape(segment[i + 1])
            i += 2
            continue
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # `**` inside a segment is a plain `*`
            out += "[^/]*"
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
    return out


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
