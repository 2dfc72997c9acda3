"""Which brackets are open at the cursor, read from the code before it (strings and comments
skipped), so a completion can be held to closing what it opens."""

from __future__ import annotations

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in PAIRS.items()}
_LINE_COMMENT = {"python": "#", "shellscript": "#", "toml": "#", "yaml": "#", "ruby": "#", "r": "#", "perl": "#"}
_C_LIKE = "//"


def comment_marker(language: str | None) -> str:
    """How a line comment starts in ``language`` (C-like unless known otherwise)."""
    return _LINE_COMMENT.get(language or "", _C_LIKE)


def open_brackets(prefix: str, language: str | None) -> list[str] | None:
    """The unclosed openers before the cursor, innermost last; None when the cursor sits inside a
    string or a comment, or the brackets do not match up (then nothing can be said about them)."""
    comment = comment_marker(language)
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(prefix):
        ch = prefix[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if prefix.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            if ch == "\n" and len(quote) == 1:
                return None  # an unterminated one-line string: the buffer is mid-edit
        elif prefix.startswith(comment, i):
            end = prefix.find("\n", i)
            if end < 0:
                return None  # the completion continues a comment: brackets and quotes mean nothing
            i = end
            continue
        elif ch in "\"'`":
            triple = prefix[i : i + 3]
            quote = triple if triple in ('"""', "'''") else ch
            i += len(quote)
            continue
        elif ch in PAIRS:
            stack.append(ch)
        elif ch in CLOSERS:
            if not stack or stack[-1] != CLOSERS[ch]:
                return None
            stack.pop()
        i += 1
    return None if quote is not None else stack
