"""Check a finished text against compiled constraints with llguidance itself.

A byte-level tokenizer (one token per byte) makes the check independent of any model
vocabulary, so text from every engine is judged by exactly the grammars that were enforced."""

from __future__ import annotations

import functools
from typing import ClassVar

import llguidance as llg

from ..types import PyValidationResult
from .cache import MatcherMemo
from .compile import CompiledConstraints, ConstraintPart, short_reason
from .deep_stack import on_deep_stack

_EOS = 256


class _ByteTokenizer:
    eos_token_id = _EOS
    bos_token_id = None
    tokens: ClassVar[list[bytes]] = [bytes([i]) for i in range(256)] + [b"\xff<eos>"]
    special_token_ids: ClassVar[list[int]] = [_EOS]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text.encode() if isinstance(text, str) else text)


@functools.cache
def byte_tokenizer() -> llg.LLTokenizer:
    return llg.LLTokenizer(llg.TokenizerWrapper(_ByteTokenizer()))


def _byte_matcher(grammar: str) -> llg.LLMatcher:
    return on_deep_stack(lambda: llg.LLMatcher(byte_tokenizer(), grammar, log_level=0))


# Byte-level matchers by grammar text, for validation (a part's check grammar) and for closing (its
# grammar): the grammars of the constraint sets in use, each estimated like the constraint cache's.
BYTE_MATCHERS = MatcherMemo(_byte_matcher, limit=768, max_bytes=64 << 20)


def byte_matcher(grammar: str) -> llg.LLMatcher:
    """A fresh byte-level matcher for ``grammar``: a copy of the one kept in BYTE_MATCHERS."""
    return BYTE_MATCHERS(grammar).deep_copy()


def _utf8(text: str) -> bytes:
    # A lone surrogate (text from a buggy engine or editor) keeps its bytes, which no grammar
    # accepts: the text is reported as violating, never an exception.
    return text.encode(errors="surrogatepass")


def part_violation(part: ConstraintPart, text: str) -> str | None:
    """None when ``text`` is a complete match of ``part``, else the reason."""
    matcher = byte_matcher(part.check_grammar)
    data = _utf8(text)
    consumed = matcher.try_consume_tokens(list(data))
    if consumed < len(data):
        shown = data[max(0, consumed - 20) : consumed + 1].decode(errors="replace")
        return f"{part.kind} rejects byte {consumed} (after …{shown[:-1]!r}, at {shown[-1:]!r})"
    if not matcher.is_accepting():
        return f"{part.kind} is incomplete: the text ends before the {part.kind} is satisfied"
    if matcher.is_error():
        return short_reason(matcher.get_error())
    return None


def _accepting_ends(part: ConstraintPart, data: bytes) -> set[int]:
    """Byte offsets at which ``data[:offset]`` is a complete match of ``part``."""
    matcher = byte_matcher(part.check_grammar)
    ends = {0} if matcher.is_accepting() else set()
    for offset, byte in enumerate(data, start=1):
        if not matcher.consume_token(byte):
            break
        if matcher.is_accepting():
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
