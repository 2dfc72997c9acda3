"""Matchers that have read a part's prefix (PyConstraintIR.prefix: the code before the cursor).

Reading hundreds of lines through a grammar costs tens of milliseconds with a model's tokens and
more byte by byte, on every keystroke. But the prefix of the next keystroke extends the last one:
typing adds to its last line, Enter completes a line. So the matcher that read a prefix up to its
last line break is kept (a copy costs about a millisecond), and the next prefix that starts with
the same lines reads only what follows them. llguidance accepts any tokenization of a text, so a
prefix read piece by piece is read exactly as if read whole."""

from __future__ import annotations

import threading

import llguidance as llg
from cachetools import LRUCache

from ..errors import PrefixRejected
from .matcher_memo import byte_matcher

# Grammars (with their tokenizer) whose reads are kept, and reads kept per grammar: several open
# files, each edited at a few places.
_GRAMMARS = 16
_READS_PER_GRAMMAR = 4


_reads: LRUCache[tuple[object, str], list[tuple[str, llg.LLMatcher]]] = LRUCache(maxsize=_GRAMMARS)
_lock = threading.Lock()


def after_prefix(fresh: llg.LLMatcher, tokenizer: llg.LLTokenizer | None, grammar: str, prefix: str) -> llg.LLMatcher:
    """A matcher of ``grammar`` that has read ``prefix``: ``fresh`` (a new matcher of it, for the
    model's ``tokenizer``, or byte-level when None) reads what no kept matcher already has."""
    key = (tokenizer, grammar)
    stable = prefix[: prefix.rfind("\n") + 1]  # whole lines: what the next keystroke keeps
    with _lock:
        reads = list(_reads.get(key, ()))
    done, matcher = 0, fresh
    for text, kept in reads:
        if len(text) > done and stable.startswith(text):
            done, matcher = len(text), kept
    if done:
        matcher = matcher.deep_copy()
    if len(stable) > done:
        _read(matcher, tokenizer, prefix, done, len(stable))
        with _lock:
            kept_reads = [r for r in _reads.get(key, ()) if r[0] != stable][-(_READS_PER_GRAMMAR - 1) :]
            _reads[key] = [*kept_reads, (stable, matcher.deep_copy())]
    _read(matcher, tokenizer, prefix, len(stable), len(prefix))
    return matcher


def byte_after_prefix(grammar: str, prefix: str) -> llg.LLMatcher:
    """A byte-level matcher of ``grammar`` (llguidance's form) that has read ``prefix``."""
    return after_prefix(byte_matcher(grammar), None, grammar, prefix)


def _read(matcher: llg.LLMatcher, tokenizer: llg.LLTokenizer | None, prefix: str, start: int, end: int) -> None:
    text = prefix[start:end]
    tokens = list(text.encode()) if tokenizer is None else tokenizer.tokenize_str(text)
    consumed = matcher.try_consume_tokens(tokens)
    if consumed == len(tokens) and not matcher.is_error():
        return
    if tokenizer is None:
        read = text.encode()[:consumed].decode(errors="replace")
    else:  # the start of the token that was refused
        read = tokenizer.decode_bytes(tokens[:consumed]).decode(errors="replace")
    before = prefix[:start] + read
    raise PrefixRejected(before.count("\n") + 1, len(before) - before.rfind("\n"))
