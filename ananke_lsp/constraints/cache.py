"""LRU cache of compiled constraint sets, keyed by the set's deterministic hash, bounded both in
entries and in an estimate of the memory they hold."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import llguidance as llg
from cachetools import LRUCache

from ..api_types import PyConstraintIR
from ..errors import SettingsError
from .compile import CompiledConstraints, compile_constraints, constraints_hash
from .matcher_memo import matcher_bytes, weighed_lru

# The estimated memory all cached sets may hold together. By entry count alone, 1000 entries of
# large constraints could hold tens of GB.
MAX_CACHE_BYTES = 256 << 20
# Request text → hash is remembered for small constraints only (the buffer's, every keystroke); a
# large one is hashed again (milliseconds, against seconds to compile it) rather than held twice.
_MEMO_CHARS = 4096


def _text_chars(constraints: Sequence[PyConstraintIR]) -> int:
    return sum(
        len(c.json_schema or "") + len(c.grammar or "") + sum(map(len, c.regex_patterns)) + len(c.prefix)
        for c in constraints
    )


def estimated_bytes(compiled: CompiledConstraints) -> int:
    """The memory ``compiled`` holds: its matchers, one per part (the texts it keeps are a few
    bytes per character, inside the rounding)."""
    return sum(matcher_bytes(p.grammar) for p in compiled.parts)


class ConstraintCache:
    def __init__(self, enabled: bool = True, limit: int = 1000, max_bytes: int = MAX_CACHE_BYTES) -> None:
        if limit < 0:
            raise SettingsError(f"cache_size must be >= 0, got {limit}")
        self.enabled = enabled and limit > 0
        self.limit = limit
        self._lru: LRUCache[str, CompiledConstraints] = weighed_lru(limit, max_bytes, estimated_bytes)
        # the same request text maps to the same normalized hash: skip re-normalizing (JSON parse + dump)
        self._keys: LRUCache[tuple[object, ...], str] = LRUCache(maxsize=max(4 * limit, 1))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(
        self, constraints: Sequence[PyConstraintIR], tokenizer: llg.LLTokenizer | None = None
    ) -> tuple[CompiledConstraints, bool]:
        """The compiled set and whether it came from the cache; with the engine's llguidance
        ``tokenizer``, a fresh compile also builds its matchers in the same pass."""
        if not self.enabled:
            return compile_constraints(constraints, tokenizer), False
        key = self._key(constraints)
        with self._lock:
            found = self._lru.get(key)
            if found is not None:
                self.hits += 1
                return found, True
        compiled = compile_constraints(constraints, tokenizer)
        with self._lock:
            self.misses += 1
            if self._lru.getsizeof(compiled) <= self._lru.maxsize:  # a larger one is used, not kept
                self._lru[key] = compiled
        return compiled, False

    def _key(self, constraints: Sequence[PyConstraintIR]) -> str:
        raw = tuple((c.name, c.json_schema, c.grammar, tuple(c.regex_patterns), c.prefix) for c in constraints)
        key = self._keys.get(raw)
        if key is None:
            key = constraints_hash(constraints)
            if _text_chars(constraints) <= _MEMO_CHARS:
                self._keys[raw] = key
        return key

    def peek(self, constraints: Sequence[PyConstraintIR]) -> CompiledConstraints | None:
        """The compiled set if it is cached (counted as a hit), without compiling."""
        if not self.enabled:
            return None
        key = self._key(constraints)
        with self._lock:
            found = self._lru.get(key)
            if found is not None:
                self.hits += 1
            return found

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
            self._keys.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._lru), "limit": self.limit}
