"""What keystrokes do to requests, per document: a newer request supersedes the one in flight, an
adaptive debounce waits for a pause, and a cache of recent suggestions serves what the user types
through, so a burst of keystrokes costs one generation and typing what was suggested costs none."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_DELAY_S = 1.0
# A request fires once the user has paused for as long as their typical gap between keys. It was
# 1.5 gaps while every request read the code after the cursor again (seconds); now a request at a
# keystroke reads a few tokens, and a cancelled one stops within a token, so waiting longer only
# delays the suggestion (bench/RESULTS.md, "Editing latency").
GAP_FACTOR = 1.0
CACHE_ENTRIES = 100  # Tabby keeps 100 results for 5 minutes
CACHE_TTL_S = 300.0
# Only recent suggestions can still be typed through; a bound per document keeps each lookup
# (one per keystroke) short.
PER_DOCUMENT = 16
_TAIL = 512  # characters of the text before the cursor kept to recognise a continuation


class InFlight:
    """The request in flight per document: a newer one cancels it, which stops its generation,
    instead of queueing work nobody will see."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[object]] = {}

    def supersede(self, key: str) -> None:
        """The current task becomes ``key``'s request; the one it replaces is cancelled."""
        current = asyncio.current_task()
        previous = self._tasks.get(key)
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()
        if current is not None:
            self._tasks[key] = current


class Debouncer:
    """Wait longer for slow typists: ``GAP_FACTOR`` times the typical gap between keystrokes,
    between the configured debounce and a second, so a request fires when the user pauses."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._gap: dict[str, float] = {}

    def delay(self, uri: str, base_ms: int) -> float:
        now = time.monotonic()
        last = self._last.get(uri)
        self._last[uri] = now
        if last is not None and now - last < 2.0:  # longer gaps are pauses, not typing speed
            gap = now - last
            self._gap[uri] = 0.7 * self._gap.get(uri, gap) + 0.3 * gap
        base = base_ms / 1000
        return min(max(GAP_FACTOR * self._gap.get(uri, 0.0), base), max(base, MAX_DELAY_S))


@dataclass(frozen=True)
class _Entry:
    before_len: int
    tail: str  # the end of the text before the cursor when the suggestion was made
    line_after: str
    suggestion: str
    at: float


class SuggestionCache:
    def __init__(self, entries: int = CACHE_ENTRIES, ttl_s: float = CACHE_TTL_S) -> None:
        self._entries: OrderedDict[str, list[_Entry]] = OrderedDict()
        self._size = entries
        self._ttl = ttl_s
        self.hits = 0

    def put(self, uri: str, before: str, line_after: str, suggestion: str) -> None:
        entry = _Entry(len(before), before[-_TAIL:], line_after, suggestion, time.monotonic())
        entries = self._entries.setdefault(uri, [])
        entries.insert(0, entry)
        del entries[PER_DOCUMENT:]
        self._entries.move_to_end(uri)
        while sum(len(v) for v in self._entries.values()) > self._size:
            oldest = next(iter(self._entries))
            self._entries[oldest].pop()
            if not self._entries[oldest]:
                del self._entries[oldest]

    def lookup(self, uri: str, before: str, line_after: str) -> str | None:
        """The rest of a recent suggestion whose start the user has typed since, if any."""
        now = time.monotonic()
        for entry in self._entries.get(uri, []):
            typed = len(before) - entry.before_len
            if now - entry.at > self._ttl or entry.line_after != line_after:
                continue
            if not 0 <= typed < len(entry.suggestion):
                continue
            if before[entry.before_len - len(entry.tail) : entry.before_len] != entry.tail:
                continue
            if entry.suggestion.startswith(before[entry.before_len :]):
                self.hits += 1
                return entry.suggestion[typed:]
        return None

    def clear(self) -> None:
        self._entries.clear()
