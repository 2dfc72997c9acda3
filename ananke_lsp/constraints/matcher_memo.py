"""llguidance matchers kept by grammar text, and the weighed LRU that bounds them (and the
constraint cache) in entries and in an estimate of the memory they hold.

Byte-level matchers (one token per byte) check text independently of any model vocabulary: the
validation of finished text, the closing search, and a prefix's check without a model."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ClassVar, TypeVar

import llguidance as llg
from cachetools import LRUCache

from .deep_stack import on_deep_stack

_K = TypeVar("_K")
_V = TypeVar("_V")

# What an llguidance matcher holds per character of the grammar it was built from (lexer and
# parser tables, grown as it decodes), about the same for a model's vocabulary and for the
# byte-level matchers that validate: measured 86-110 bytes for compiled sets (24 Lark grammars of
# 52 KB decoded 20 steps with SmolLM2's vocabulary; a 240 KB JSON schema, +24 MB with SmolLM2's or
# Qwen2.5's), 67-104 for byte-level matchers of 190-240 KB grammars and schemas; rounded up.
MATCHER_BYTES_PER_CHAR = 112


def matcher_bytes(grammar: str) -> int:
    """The memory a matcher built from ``grammar`` holds, estimated from the grammar's size."""
    return MATCHER_BYTES_PER_CHAR * len(grammar)


def weighed_lru(limit: int, max_bytes: int, weigh: Callable[[_V], int]) -> LRUCache[_K, _V]:
    """An LRU of at most ``limit`` entries and ``max_bytes`` of estimated memory, evicting the
    least recent: each entry weighs what ``weigh`` estimates, and at least max_bytes / limit."""
    floor = max(1, max_bytes // max(limit, 1))
    return LRUCache(maxsize=max_bytes, getsizeof=lambda value: max(floor, weigh(value)))


class MatcherMemo:
    """Matchers built from grammar text, kept to be deep-copied (a build parses the grammar and
    builds its lexer, a copy only duplicates tables: orders of magnitude apart), bounded like the
    constraint cache: a large schema's matcher holds tens of MB."""

    def __init__(self, build: Callable[[str], llg.LLMatcher], limit: int, max_bytes: int) -> None:
        self._build = build
        # (estimated bytes, matcher): the weight is the grammar's, which the key holds, not the value
        self._lru: LRUCache[str, tuple[int, llg.LLMatcher]] = weighed_lru(limit, max_bytes, lambda entry: entry[0])
        self._lock = threading.Lock()

    def __call__(self, grammar: str) -> llg.LLMatcher:
        with self._lock:
            found = self._lru.get(grammar)
        if found is not None:
            return found[1]
        entry = (matcher_bytes(grammar), self._build(grammar))
        with self._lock:
            if self._lru.getsizeof(entry) <= self._lru.maxsize:  # a larger one is used, not kept
                self._lru[grammar] = entry
        return entry[1]

    def __len__(self) -> int:
        return len(self._lru)


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
