"""Finish a constrained output inside its token budget.

A model that loops inside a JSON string or keeps nesting objects reaches `max_tokens` with an
unfinished value, which no constraint accepts. Near the end of the budget the engine asks this
module for the shortest way to finish: a depth-first search over bytes, on byte-level copies of
the very grammars it enforces, trying the bytes that close things first. When the closing no
longer fits in what is left of the budget, the engine emits it instead of sampling."""

from __future__ import annotations

from collections.abc import Sequence

import llguidance as llg

from ..errors import PrefixRejected
from .compile import ConstraintPart
from .matcher_memo import byte_matcher
from .prefixed import byte_after_prefix

# Closers first, then other punctuation (ends a word or a number), then the rest.
_PUNCT = bytes(b for b in range(33, 127) if not chr(b).isalnum())
_ORDER = tuple(dict.fromkeys(b"\"'}])>;\n" + _PUNCT + b" 0aA" + bytes(range(256))))
MAX_CLOSING_BYTES = 48
_MAX_NODES = 400


class Closer:
    """Byte-level twins of the enforced matchers, fed the generated text lazily: nothing is
    consumed until the first `closing()` call, so ordinary decoding pays nothing."""

    def __init__(self, parts: Sequence[ConstraintPart]) -> None:
        self._parts = parts
        self._matchers: list[llg.LLMatcher] = []
        self._pending = bytearray()
        self.broken = False

    def _start(self) -> None:
        """The matchers, each after its part's prefix: built at the first search, not before."""
        for part in self._parts:
            try:
                matcher = byte_after_prefix(part.grammar, part.prefix) if part.prefix else byte_matcher(part.grammar)
            except PrefixRejected:
                matcher = byte_matcher(part.grammar)
                self.broken = True
            self.broken |= matcher.is_error()
            self._matchers.append(matcher)

    def feed(self, data: bytes) -> None:
        self._pending += data

    def closing(self) -> bytes | None:
        """The shortest closing found within the search bounds, b"" when the text is already
        complete, None when none was found (the caller then simply keeps sampling)."""
        if not self._matchers:
            self._start()
        if self._pending and not self.broken:
            data = list(self._pending)
            self.broken = any(m.try_consume_tokens(data) < len(data) for m in self._matchers)
            self._pending.clear()
        if self.broken:
            return None
        found = bytearray()
        nodes = [0]
        if self._search(found, nodes):
            return bytes(found)
        return None

    def _masks(self) -> list[bytes]:
        return [m.compute_bitmask() for m in self._matchers]

    def _candidates(self) -> list[int]:
        """Allowed bytes, those that change what may follow first: a byte after which the same
        bytes are allowed (a letter inside a word, ignored whitespace) is rarely a way out."""
        masks = self._masks()
        allowed = [b for b in _ORDER if all(mask[b >> 3] >> (b & 7) & 1 for mask in masks)]
        moving: list[int] = []
        staying: list[int] = []
        for byte in allowed:
            self._consume(byte)
            same = self._masks() == masks
            for m in self._matchers:
                m.rollback(1)
            (staying if same else moving).append(byte)
        return moving + staying

    def _consume(self, byte: int) -> None:
        if not all(m.consume_token(byte) for m in self._matchers):
            raise RuntimeError("llguidance rejected a byte its own mask allowed")

    def _search(self, found: bytearray, nodes: list[int]) -> bool:
        if all(m.is_accepting() for m in self._matchers):
            return True
        if len(found) >= MAX_CLOSING_BYTES or nodes[0] >= _MAX_NODES:
            return False
        for byte in self._candidates():
            nodes[0] += 1
            self._consume(byte)
            found.append(byte)
            done = self._search(found, nodes)
            for m in self._matchers:
                m.rollback(1)
            if done:
                return True
            found.pop()
            if nodes[0] >= _MAX_NODES:
                return False
        return False
