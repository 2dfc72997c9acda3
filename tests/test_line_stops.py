"""Line stops: where a code suggestion ends, on texts a code model really produces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ananke_lsp.engines.line_stops import LineStops, finished, line_cut, settled

BODY = LineStops(repeats=("return total",), dedent_below=4, first_column=4)


def test_a_retyped_next_line_ends_the_suggestion_before_it():
    text = "total += value\n    return total\n"
    assert finished(text, BODY) == "total += value"


def test_a_retyped_line_is_judged_only_once_complete():
    assert line_cut("total += 1\n    return total", BODY, final=False) is None  # may go on: `return total + 1`
    assert line_cut("total += 1\n    return total + 1\n", BODY, final=False) is None
    assert line_cut("total += 1\n    return total\n", BODY, final=False) == len("total += 1")


def test_the_first_line_counts_from_the_cursor_column():
    assert finished("return total\n", BODY) == ""
    assert line_cut("x = 1", LineStops(dedent_below=4, first_column=4), final=True) is None
    assert finished("  x = 1", LineStops(dedent_below=4, first_column=0)) == ""


def test_leaving_the_block_ends_it_as_soon_as_the_dedent_shows():
    text = "return a + b\n\n\ndef"
    assert line_cut(text, BODY, final=False) == len("return a + b")
    assert line_cut("if x:\n        y = 1\n    z", BODY, final=False) is None


def test_a_run_of_blank_lines_ends_it_and_trailing_blanks_never_stay():
    text = "a = 1\n    \n    \n    \n    \n"
    assert line_cut(text, BODY, final=False) == len("a = 1")
    assert finished("a = 1\n    b = 2\n    \n", BODY) == "a = 1\n    b = 2"
    assert finished("x  ", None) == "x"


def test_nothing_is_cut_without_a_reason():
    text = "for value in values:\n        total += value\n    return total * 2"
    assert line_cut(text, BODY, final=True) is None
    assert finished(text, BODY) == text


lines = st.lists(st.sampled_from(["", "    ", "x = 1", "    y", "return total", "  z", "\t"]), max_size=8)


@given(lines, st.booleans())
def test_a_cut_is_a_line_boundary_prefix_and_settled_text_is_never_taken_back(parts: list[str], final: bool):
    text = "\n".join(parts)
    cut = line_cut(text, BODY, final=final)
    if cut is not None:
        assert text.startswith(text[:cut]) and (cut == 0 or not text[:cut].endswith(("\n", " ")))
        # what a stream already delivered (up to the last line break of any earlier text) stays
        for end in range(len(text) + 1):
            if line_cut(text[:end], BODY, final=False) is None:
                assert cut >= settled(text[:end])


def test_one_line_ends_with_its_line_break():
    one = LineStops(max_lines=1, first_column=4)
    assert line_cut("x = 1", one, final=False) is None
    assert line_cut("x = 1\n", one, final=False) == len("x = 1")
    assert finished("x = 1\n    y = 2\n", one) == "x = 1"


def test_mid_line_the_line_break_ends_the_suggestion():
    line = LineStops(max_lines=1)
    assert finished("0.0\n    # and more", line) == "0.0"
    assert finished("\nanything", line) == ""  # nothing for this line: nothing shown
