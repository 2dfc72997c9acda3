"""Stop strings, found while decoded text arrives. Each piece of text costs time in proportion to
its own length, whatever the length of the stop strings or of the text before it: every stop
string keeps how much of it the text currently ends with, advanced one character at a time with
its prefix function (Knuth-Morris-Pratt). Checking the whole text against every prefix of every
stop string after each token cost O(L²) per token: seconds per token for one very long stop string."""

from __future__ import annotations


def _prefix_function(pattern: str) -> list[int]:
    """For each i, the length of the longest proper prefix of ``pattern[: i + 1]`` that also ends it."""
    fail = [0] * len(pattern)
    k = 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = fail[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        fail[i] = k
    return fail


class _Stop:
    def __init__(self, text: str) -> None:
        self.text = text
        self.fail = _prefix_function(text)
        self.matched = 0  # how many leading characters of ``text`` the text so far ends with

    def advance(self, char: str) -> bool:
        """Take one more character of output; True once the whole stop string has been seen."""
        k = self.matched
        if k == len(self.text):  # matched in full before: continue from its longest border
            k = self.fail[k - 1]
        while k and self.text[k] != char:
            k = self.fail[k - 1]
        if self.text[k] == char:
            k += 1
        self.matched = k
        return k == len(self.text)


class StopScanner:
    """Fed the decoded text piece by piece, says how much of it is safe to send and where the
    first stop string starts: the one that is complete first (the longest, when several end at
    the same character). Text that could still be the start of a stop string is held back."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [_Stop(s) for s in dict.fromkeys(stops) if s]
        self._seen = 0  # characters fed so far

    def feed(self, piece: str) -> tuple[int, int | None]:
        """(how many characters of all text fed so far are safe to send, where the first stop
        string starts or None)."""
        if not self._stops:
            self._seen += len(piece)
            return self._seen, None
        for char in piece:
            self._seen += 1
            found = [len(s.text) for s in self._stops if s.advance(char)]
            if found:
                start = self._seen - max(found)
                return start, start
        return self._seen - max(s.matched for s in self._stops), None
