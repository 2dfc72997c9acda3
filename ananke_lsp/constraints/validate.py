"""Check a finished text against compiled constraints with llguidance itself, on byte-level
matchers (matcher_memo.py): text from every engine is judged by exactly the grammars that were
enforced, independently of any model's vocabulary."""

from __future__ import annotations

import llguidance as llg

from ..api_types import PyValidationResult
from .compile import CompiledConstraints, ConstraintPart, read_prefix, short_reason
from .matcher_memo import byte_matcher


def _utf8(text: str) -> bytes:
    # A lone surrogate (text from a buggy engine or editor) keeps its bytes, which no grammar
    # accepts: the text is reported as violating, never an exception.
    return text.encode(errors="surrogatepass")


def part_checker(part: ConstraintPart) -> llg.LLMatcher:
    """A byte-level matcher of the part's check grammar, its prefix read (ConstraintError if it
    cannot be: the compile already checked that)."""
    matcher = byte_matcher(part.check_grammar)
    return read_prefix(part, matcher, None) if part.prefix else matcher


def part_violation(part: ConstraintPart, text: str) -> str | None:
    """None when ``text`` satisfies ``part``, else the reason. A part without a prefix must match
    all of ``text``; a prefixed part reads the middle of a document, whose rest (the code after
    the cursor) it does not see: the text satisfies it when the grammar reads it through, and
    whether the document is complete is the caller's to check with the whole of it."""
    matcher = part_checker(part)
    data = _utf8(text)
    consumed = matcher.try_consume_tokens(list(data))
    if consumed < len(data):
        shown = data[max(0, consumed - 20) : consumed + 1].decode(errors="replace")
        return f"{part.kind} rejects byte {consumed} (after …{shown[:-1]!r}, at {shown[-1:]!r})"
    if not part.prefix and not matcher.is_accepting():
        return f"{part.kind} is incomplete: the text ends before the {part.kind} is satisfied"
    if matcher.is_error():
        return short_reason(matcher.get_error())
    return None


def _accepting_ends(part: ConstraintPart, data: bytes) -> set[int]:
    """Byte offsets at which ``data[:offset]`` satisfies ``part`` (see ``part_violation``)."""
    matcher = part_checker(part)
    ends = {0} if part.prefix or matcher.is_accepting() else set()
    for offset, byte in enumerate(data, start=1):
        if not matcher.consume_token(byte):
            break
        if part.prefix or matcher.is_accepting():
            ends.add(offset)
    return ends


def longest_valid_prefix(text: str, compiled: CompiledConstraints) -> str:
    """The longest prefix of ``text`` that every constraint accepts as complete ("" if none)."""
    data = _utf8(text)
    ends = set(range(len(data) + 1))
    for part in compiled.parts:
        ends &= _accepting_ends(part, data)
    for end in sorted(ends, reverse=True):
        try:
            return data[:end].decode()
        except UnicodeDecodeError:  # not a character boundary
            continue
    return ""


def validate_text(
    text: str, compiled: CompiledConstraints, enforced: tuple[str, ...] | list[str] = ()
) -> PyValidationResult:
    errors: dict[str, str] = {}
    for part in compiled.parts:
        if part.constraint not in errors:
            reason = part_violation(part, text)
            if reason is not None:
                errors[part.constraint] = reason
    satisfied = [n for n in compiled.names if n not in errors]
    return PyValidationResult(
        all_satisfied=not errors,
        satisfied=satisfied,
        violated=[n for n in compiled.names if n in errors],
        enforced=[n for n in compiled.names if n in enforced],
        errors=errors,
    )
