"""What an instruct model's answer holds: the code of its first fenced block, or the first JSON
value in it. Instruct models wrap what was asked for in markdown fences and prose ("Sure! Here is
the JSON: ..."); text from an engine that could not hold the model to every constraint token by
token is taken out of that wrapping before it is judged (see ``generation.finish`` for when).
Pure functions of the text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .indentation import indent_width

# Fence info strings models write for the editors' language ids.
_ALIASES: dict[str, frozenset[str]] = {
    "python": frozenset({"py", "python3"}),
    "javascript": frozenset({"js", "node"}),
    "javascriptreact": frozenset({"jsx", "javascript", "js"}),
    "typescript": frozenset({"ts"}),
    "typescriptreact": frozenset({"tsx", "typescript", "ts"}),
    "shellscript": frozenset({"sh", "bash", "shell", "zsh"}),
    "json": frozenset({"jsonc", "json5"}),
    "jsonc": frozenset({"json"}),
    "yaml": frozenset({"yml"}),
    "rust": frozenset({"rs"}),
    "go": frozenset({"golang"}),
    "cpp": frozenset({"c++", "cxx"}),
    "csharp": frozenset({"cs", "c#"}),
    "ruby": frozenset({"rb"}),
    "markdown": frozenset({"md"}),
}
_OPENING = re.compile(r"([ \t]*)(`{3,}|~{3,})[ \t]*([^\n]*?)[ \t]*\r?")
# A JSON value is looked for from at most this many `{` / `[`: each try may scan to the end of the
# text, and an answer is a few thousand characters, so the search stays linear in practice.
MAX_JSON_STARTS = 256
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Fence:
    info: str  # the info string's first word, lower case ("" when none)
    body: str  # the lines between the fences, without the last line break
    closed: bool  # False: the text ended inside the block (the model ran out of tokens)


def fences(text: str) -> list[Fence]:
    """The fenced code blocks of ``text`` (CommonMark's rules, any indentation: models indent
    fences in lists; the content loses the fence's indentation)."""
    found: list[Fence] = []
    lines = text.split("\n")  # markdown's lines: no other character ends one
    index = 0
    while index < len(lines):
        opening = _OPENING.fullmatch(lines[index])
        if opening is None or (opening[2][0] == "`" and "`" in opening[3]):
            index += 1
            continue
        indent, marker, info = len(opening[1]), opening[2], opening[3]
        closing = re.compile(rf"[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*\r?")
        end = next((i for i in range(index + 1, len(lines)) if closing.fullmatch(lines[i])), None)
        body = [_dedent(line, indent) for line in lines[index + 1 : end if end is not None else len(lines)]]
        if end is None and body and not body[-1].strip():
            body.pop()  # the text's last line break
        content = "\n".join(body)
        content = content[:-1] if content.endswith("\r") else content  # a CRLF text's last line end
        word = info.split()[0].lower().strip("{.}") if info.split() else ""
        found.append(Fence(info=word, body=content, closed=end is not None))
        index = end + 1 if end is not None else len(lines)
    return found


def _dedent(line: str, indent: int) -> str:
    width = indent_width(line)
    return line[min(width, indent) :]


def _names(language: str) -> frozenset[str]:
    language = language.lower()
    return frozenset({language}) | _ALIASES.get(language, frozenset())


def fenced(text: str, language: str | None = None) -> str | None:
    """The body of the first fenced block in ``language`` (its usual fence names included), else
    of the first closed block, else of a block the text ends inside; None when there is none."""
    blocks = fences(text)
    if language:
        names = _names(language)
        for block in blocks:
            if block.closed and block.info in names:
                return block.body
    closed = [b.body for b in blocks if b.closed]
    if closed:
        return closed[0]
    return blocks[0].body if blocks else None


def _json_end(text: str, start: int) -> int | None:
    try:
        _, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return end


def first_json(text: str) -> str | None:
    """The first JSON object or array in ``text`` (from the first `{` or `[` where one parses to
    its balanced end; braces inside its strings are the JSON parser's business); None if none."""
    starts = (m.start() for m in re.finditer(r"[{\[]", text))
    for tried, start in enumerate(starts):
        if tried >= MAX_JSON_STARTS:
            break
        end = _json_end(text, start)
        if end is not None:
            return text[start:end]
    return None


def extract(text: str, *, language: str | None = None, json_value: bool = False) -> str | None:
    """What the request asked for inside ``text``: with ``json_value``, the text itself when it
    is one JSON value (surrounding whitespace aside), else the first JSON value of its first
    `json` block, else the first JSON value anywhere; otherwise the first fenced block (in
    ``language`` when there is one). None when nothing is found: the text stays as it is."""
    if json_value:
        whole = text.strip()
        if whole and _json_end(whole, 0) == len(whole):
            return whole
        block = fenced(text, "json")
        found = first_json(block) if block is not None else None
        return found if found is not None else first_json(text)
    return fenced(text, language)
