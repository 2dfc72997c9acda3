"""Constraints derived from the buffer around the cursor, enforced while decoding (not filtered
afterwards): what a peer cuts off after generation, the model here cannot produce."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

from ..api_types import PyConstraintIR
from .brackets import PAIRS


def lark_string(text: str) -> str:
    """``text`` as a Lark string literal: llguidance reads those as JSON strings."""
    return json.dumps(text)


def regex_literal(text: str) -> str:
    """A regex matching exactly ``text``, valid as a plain regex and inside a Lark ``/regex/``
    lexeme alike. llguidance's Lark lexer reads a lexeme as ``/(\\\\.|[^/\\\\])+/``: an unescaped `/`
    ends it (``re.escape`` leaves `/` alone) and a backslash escapes one character other than a
    newline. So ASCII punctuation is escaped, and control characters, newlines included, become
    ``\\x{..}``. ``UnicodeEncodeError`` for a lone surrogate, which no grammar can hold."""
    text.encode()
    return "".join(map(_regex_char, text))


def _regex_char(char: str) -> str:
    if not char.isprintable():
        return f"\\x{{{ord(char):X}}}"
    # `\<` and `\>` mean word boundaries to llguidance; `_` is a word character
    if char.isascii() and not char.isalnum() and char not in " _<>":
        return "\\" + char
    return char


# Enough of the text after the cursor for the no-repeat constraint: a completion retyping more is
# implausible, and a grammar of a whole minified line would be a large compile on every keystroke.
NO_REPEAT_CHARS = 1024
# The same few constraints come back keystroke after keystroke: built once, they also hit the
# compile cache's raw-key memo without re-validating a model. Callers never mutate them.
_memo = functools.lru_cache(maxsize=256)


@_memo
def no_trailing_blanks() -> PyConstraintIR:
    """No line of a generated block ends in spaces or tabs, blank lines included (a blank line is
    empty, not the block's indentation): what linters flag, and editors strip."""
    return PyConstraintIR(name="buffer:no-trailing-blanks", regex_patterns=[r"([^\n]*[^ \t\n])?(\n([^\n]*[^ \t\n])?)*"])


@_memo
def starts_with_code() -> PyConstraintIR:
    """The cursor sits after the line's indentation: the suggestion starts with code, not with
    more blanks (a code model re-indents after the editor's auto-indent, and its line lands in
    the wrong block)."""
    return PyConstraintIR(name="buffer:starts-with-code", regex_patterns=[r"([^\s][\s\S]*)?"])


# The Python statements that open an indented block: their header starts with one of these.
_BLOCK_KEYWORDS = "if|elif|else|for|while|try|except|finally|with|def|class|async|match|case"
# A block header: the keyword, then code whose only colon outside brackets and strings is the last
# one (`if x: return y` opens no block), then blanks, a comment, and whatever the line stops allow.
_BLOCK_HEADER = rf"""
start: KEYWORD (GAP code | group code)? ":" TAIL
code: (PLAIN | STRING | group)*
group: "(" inner ")" | "[" inner "]" | "{{" inner "}}"
inner: (INNER | STRING | group)*
KEYWORD: /({_BLOCK_KEYWORDS})/
GAP: /[ \t]+/
PLAIN: /[^:()\[\]{{}}'"\n#]+/
INNER: /[^()\[\]{{}}'"\n#]+/
STRING: /"([^"\\\n]|\\.)*"/ | /'([^'\\\n]|\\.)*'/
TAIL: /[ \t]*(#[^\n]*)?(\n[\s\S]*)?/
"""


# What may open a block whose body is followed, at the header's depth, by these continuations:
# an `elif` continues an `if`; an `else` an `if`, `for`, `while` or `except`; `except`/`finally` a
# `try` (an `else:` there made the `elif` below a syntax error).
_CONTINUED_BY = {
    "elif": "if|elif",
    "else": "if|elif|for|while|except",
    "except": "try|except",
    "finally": "try|except|else",
}


def continuation(line: str) -> str | None:
    """The chain keyword a line at a header's depth starts with (`elif x:` → ``elif``), or None."""
    word = re.match(r"(elif|else|except|finally)\b", line.strip())
    return word.group(1) if word else None


@_memo
def opens_block(continued_by: str | None = None) -> PyConstraintIR:
    """Python, on an empty line above more deeply indented code: the line must open that block,
    or the code below would no longer parse; when ``continued_by`` a chain keyword after the body,
    a header that keyword can continue. The keyword comes first, so the model is steered from its
    first token, not refused its line break after writing something else."""
    keywords = _CONTINUED_BY.get(continued_by or "", _BLOCK_KEYWORDS)
    return PyConstraintIR(name="buffer:opens-block", grammar=_BLOCK_HEADER.replace(_BLOCK_KEYWORDS, keywords))


@_memo
def no_block_header() -> PyConstraintIR:
    """Python, on an empty line whose block goes on at the same depth below: the line must not open
    a block (a header ending in `:`), whose body the code below could not be. A one-line compound
    statement (`if x: return y`) is allowed, but not one whose body is another compound statement
    or a `//` comment: where the 0.5B wanted a loop it wrote `for ...:  if ...: ...` and `for ...:
    // from the right`, and nothing after them parsed (9 of the full single-line set). Refusing
    every one-line compound made it write `forj in ...` instead. `match`/`case` are soft keywords."""
    hard = _BLOCK_KEYWORDS.replace("|match|case", "")
    opener = r"[ \t(\[{'\"][^\n]*"
    only_header = rf"({_BLOCK_KEYWORDS})({opener})?:[ \t]*(#[^\n]*)?"
    # the body another header, or a `//` comment ("/" escaped: it would end the Lark regex)
    garbled = rf"({hard})({opener})?:[ \t]*(({hard})[ \t(:]|\/\/)[^\n]*"
    header = f"{only_header}|{garbled}"
    grammar = f"start: LINE REST?\nLINE: ~/{header}/ & /[^\\n]*/\nREST: /\\n[\\s\\S]*/\n"
    return PyConstraintIR(name="buffer:no-block-header", grammar=grammar)


@_memo
def block_start(indent: str) -> PyConstraintIR:
    """A generated block's first line starts at ``indent`` with code; where the block ends is
    a line stop (a dedent), not a constraint, so the model is never forced to go on inside it."""
    return PyConstraintIR(name="buffer:block-start", regex_patterns=[rf"{regex_literal(indent)}[^\s][\s\S]*"])


@_memo
def indented_block(indent: str, *, first_line_started: bool) -> PyConstraintIR:
    """Every line stays inside the block at ``indent``: no dedent out of the function or block.

    ``first_line_started``: the cursor already sits after the indentation, so the first line
    continues it; otherwise the first line brings its own indentation."""
    pad = regex_literal(indent)
    line = r"[^\n]*"
    first = line if first_line_started else rf"{pad}[^\s]{line}"
    return PyConstraintIR(name="buffer:indented-block", regex_patterns=[rf"{first}(\n({pad}{line})?)*"])


def balanced_brackets(closable: Sequence[str], comment: str) -> PyConstraintIR:
    """Brackets the completion opens close inside it; it may also close the brackets already open
    before the cursor (``closable``, innermost last), in order, but no other. Quotes count too:
    a string it starts ends in it. After the line-comment marker ``comment`` anything goes to the
    end of the line (an apostrophe in ``# don't`` opens nothing)."""
    return _balanced(tuple(closable), comment)


@_memo
def _balanced(closable: tuple[str, ...], comment: str) -> PyConstraintIR:
    # The comment's first character is never plain text, so it always starts a COMMENT; for a
    # two-character marker, that character alone (the `/` of a division) is a LONE terminal.
    lead = regex_literal(comment[0])
    lone = len(comment) > 1
    rules = [
        "start: bal" + "".join(f" ({lark_string(PAIRS[o])} bal" for o in reversed(closable)) + ")?" * len(closable),
        f'bal: (TEXT | STRING | COMMENT{" | LONE" * lone} | "(" bal ")" | "[" bal "]" | "{{" bal "}}")*',
        r"TEXT: /[^()\[\]{}" + "\"'" + lead + "]+/",
        r'STRING: /"([^"\\\n]|\\.)*"/ | /' + r"'([^'\\\n]|\\.)*'/",
        "COMMENT: /" + regex_literal(comment) + r"[^\n]*/",
        *([f"LONE: /{lead}/"] if lone else []),
    ]
    return PyConstraintIR(name="buffer:balanced-brackets", grammar="\n".join(rules))


@_memo
def no_repeat(following: str) -> PyConstraintIR | None:
    """The completion must not end by retyping what already follows the cursor (the rest of the
    line, or on an empty line the next line), the classic duplicated `)` or `return`. Of a long
    text only the end is held: ending with it all still ends with that."""
    text = following.strip()[-NO_REPEAT_CHARS:].lstrip()
    if not text:
        return None
    try:
        literal = regex_literal(text)
    except UnicodeEncodeError:
        return None  # a lone surrogate: no model output can retype it
    return PyConstraintIR(name="buffer:no-repeat", grammar=f"start: NOREPEAT\nNOREPEAT: ~/(?s:.*){literal}\\s*/")
