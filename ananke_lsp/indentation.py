"""A line's indentation (its leading blanks and tabs), as every module that reads code measures it."""

from __future__ import annotations


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(line: str) -> int:
    """Characters of indentation: a tab counts one (files that mix them are not judged by width)."""
    return len(line) - len(line.lstrip(" \t"))
