"""Stop strings while decoding: the incremental scanner agrees with a plain search of the whole
text, whatever the pieces, and its cost per piece does not grow with the stop strings."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ananke_lsp.engines.base import MAX_STOP_CHARS, MAX_STOPS, EngineRequest
from ananke_lsp.engines.stops import StopScanner

small = st.text("ab\n", max_size=6)


def _reference(text: str, stops: list[str]) -> tuple[int, int | None]:
    """Where the stop string completed first starts (longest on a tie), else how much is safe."""
    for end in range(1, len(text) + 1):
        found = [len(s) for s in stops if s and text[:end].endswith(s)]
        if found:
            return end - max(found), end - max(found)
    held = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return len(text) - held, None


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(small, max_size=8), stops=st.lists(small, max_size=4))
def test_the_scanner_agrees_with_searching_the_whole_text(pieces: list[str], stops: list[str]):
    scanner, text = StopScanner(stops), ""
    for piece in pieces:
        text += piece
        safe, cut = scanner.feed(piece)
        assert (safe, cut) == _reference(text, stops)
        if cut is not None:
            break


def test_a_long_stop_string_costs_nothing_per_token():
    stop = "ab" * 200_000  # the text below keeps matching its start: the old check's worst case
    scanner = StopScanner([stop, "x" * 400_000])
    started = time.perf_counter()
    for _ in range(500):
        safe, cut = scanner.feed("ab")
    per_piece_us = (time.perf_counter() - started) / 500 * 1e6
    assert cut is None and safe == 0  # all held back: it may still become the stop string
    assert per_piece_us < 200, f"{per_piece_us:.0f} µs per piece"


@pytest.mark.parametrize(
    ("stop", "words"),
    [(["\n"] * (MAX_STOPS + 1), f"at most {MAX_STOPS}"), (["x" * (MAX_STOP_CHARS + 1)], f"{MAX_STOP_CHARS}")],
)
def test_stop_strings_are_bounded_in_number_and_length(stop: list[str], words: str):
    with pytest.raises(ValidationError, match="stop") as raised:
        EngineRequest(prompt="x", stop=stop)
    assert words in str(raised.value)
