"""The parts of the embedded engine's decode loop that do not touch the model: the text as the
editor receives it, and the closing search that finishes a constrained output inside max_tokens."""

from __future__ import annotations

import codecs
from collections.abc import Callable

import llguidance as llg

from ..constraints import CompiledConstraints
from ..constraints.closing import Closer
from .base import EngineRequest
from .line_stops import finished, line_cut, settled
from .stops import StopScanner

# Near the end of max_tokens a constrained output is finished rather than cut: from this many
# tokens left the engine looks for a closing, and emits it once fewer than its length plus
# the margin remain (one sampled token can make the closing longer).
CLOSING_WINDOW = 32
CLOSING_MARGIN = 2


class OutputText:
    """The decoded text, cut by stop strings and line stops; only what they can no longer take
    back is emitted as it arrives, the rest by ``finish``."""

    def __init__(self, request: EngineRequest, emit: Callable[[str], None]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopScanner(request.stop)
        self._line_stops = request.line_stops
        self._emit = emit
        self._sent = 0
        self.text = ""

    def add(self, piece: bytes) -> bool:
        """Append a sampled token's bytes; True when a stop string or a line stop ends the output
        (the text is cut there)."""
        new = self._decoder.decode(piece)
        self.text += new
        safe, cut = self._stops.feed(new)
        if cut is not None:
            self.text = self.text[:cut]
        if self._line_stops is not None:  # a line that ends the suggestion: stop decoding here
            line = line_cut(self.text, self._line_stops, final=False)
            if line is not None:
                self.text, cut = self.text[:line], line
            safe = min(safe, settled(self.text))
        if safe > self._sent:
            self._emit(self.text[self._sent : safe])
            self._sent = safe
        return cut is not None

    def place(self, piece: bytes) -> None:
        """Append the bytes of a token the engine placed itself (a closing): no stop applies."""
        self.text += self._decoder.decode(piece)

    def finish(self) -> str:
        """The final text, its unsent rest emitted. The bytes of a character cut off by the budget
        or a cancel stay in the decoder: the rest of it was never generated, and flushing them
        would put U+FFFD into the user's code."""
        if self._line_stops is not None:
            self.text = finished(self.text, self._line_stops)
        if len(self.text) > self._sent:
            self._emit(self.text[self._sent :])
        return self.text


class ClosingSearch:
    """The shortest closing of the constrained output, looked for from ``CLOSING_WINDOW`` tokens
    before the end of max_tokens and placed once only its length (and the margin) is left. Given
    up, for the rest of the output, where none is found or it no longer fits."""

    def __init__(
        self,
        compiled: CompiledConstraints | None,
        matchers: list[llg.LLMatcher],
        tokenize: Callable[[bytes], list[int]],
    ) -> None:
        self._closer = Closer(compiled.parts) if matchers and compiled else None
        self._matchers = matchers
        self._tokenize = tokenize
        self._check_at = CLOSING_WINDOW  # tokens left at which to look next

    def feed(self, piece: bytes) -> None:
        """The bytes of each sampled token."""
        if self._closer is not None:
            self._closer.feed(piece)

    def due(self, remaining: int) -> list[int] | None:
        """The closing's tokens when they are to be placed now, with ``remaining`` tokens left
        (an empty list: the output is already complete); None to go on sampling."""
        if self._closer is None or remaining > self._check_at:
            return None
        found = self._tokens(self._closer)
        if found is None:
            self._closer = None  # no closing within the search bounds: sample to the end
        elif len(found) + CLOSING_MARGIN >= remaining:
            if len(found) <= remaining:
                return found
            self._closer = None  # it no longer fits: the caller gets the honest truncation
        else:
            self._check_at = len(found) + CLOSING_MARGIN + 3
        return None

    def _tokens(self, closer: Closer) -> list[int] | None:
        """The model's tokens for the shortest closing found, checked against every matcher;
        None when there is none to offer."""
        found = closer.closing()
        if found is None:
            return None
        tokens = self._tokenize(found) if found else []
        if any(m.validate_tokens(tokens) < len(tokens) for m in self._matchers):
            return None
        return tokens
