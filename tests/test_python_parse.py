"""The parse check on Python suggestions: Python's own parser over the whole file, with the
suggestion in place, judged against how the file parsed before."""

from ananke_lsp.context.python_parse import MAX_PARSE_CHARS, first_error_line, fits, parsing_part

FUNCTION = "def f(xs):\n    total = 0\n    \n    return total\n"
CURSOR = FUNCTION.index("    \n") + 4
# The header of a loop is missing above its body: the file does not parse until it is filled.
HOLE = "def f(xs):\n    total = 0\n    \n        total += x\n    return total\n"
HOLE_CURSOR = HOLE.index("    \n") + 4


def test_first_error_line_is_zero_based_and_none_for_valid_code():
    assert first_error_line(FUNCTION) is None
    assert first_error_line(HOLE) == 3  # the unexpected indent below the hole
    assert first_error_line("x = '\\d'\n") is None  # a warning, not an error
    assert first_error_line("x = 1\0") == 0


def test_a_suggestion_that_keeps_the_file_parsing_is_kept_whole():
    assert parsing_part(FUNCTION, CURSOR, "total += len(xs)") == "total += len(xs)"
    assert parsing_part(FUNCTION, CURSOR, "for x in xs:\n        total += x") == "for x in xs:\n        total += x"


def test_a_suggestion_is_cut_to_its_lines_that_parse_or_withheld():
    assert parsing_part(FUNCTION, CURSOR, "total += 1\n    if total:") == "total += 1"
    assert parsing_part(FUNCTION, CURSOR, "total = (1 +") == ""
    assert parsing_part(FUNCTION, CURSOR, "if xs:") == ""  # a header above a line at its own depth


def test_a_suggestion_must_fill_the_gap_that_stops_the_file_parsing():
    assert parsing_part(HOLE, HOLE_CURSOR, "for x in xs:") == "for x in xs:"
    assert parsing_part(HOLE, HOLE_CURSOR, "x = xs[0]") == ""  # the error stays where it was


def test_an_error_beyond_the_lines_the_model_saw_does_not_withhold_a_good_suggestion():
    broken_below = FUNCTION + "\n\ndef g(:\n    pass\n"
    before = first_error_line(broken_below)
    assert before is not None and before > 5
    assert fits(broken_below, CURSOR, "total += len(xs)", before, seen_lines=3)
    assert not fits(broken_below, CURSOR, "total += (", before, seen_lines=3)
    assert not fits(broken_below, CURSOR, "if xs:", before, seen_lines=3)
    # within the lines it saw, the file must parse
    assert not fits(broken_below, CURSOR, "total += len(xs)", before)


def test_a_partial_fill_that_moves_the_error_on_is_not_enough():
    # two lines emptied: the loop's header and its first body line; `else` follows
    hole = "def f(xs):\n    \n    else:\n        return 0\n"
    cursor = hole.index("    \n") + 4
    assert parsing_part(hole, cursor, "x = 1") == ""
    assert parsing_part(hole, cursor, "if xs:\n        return 1") == "if xs:\n        return 1"


def test_mid_line_the_rest_of_the_line_counts():
    source = "values = [1, 2]\nbiggest = max()\n"
    cursor = source.index("max(") + 4
    assert parsing_part(source, cursor, "values") == "values"
    assert parsing_part(source, cursor, "values))") == ""


def test_a_document_too_large_to_parse_on_every_suggestion_is_not_parsed():
    huge = "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1)
    assert parsing_part(huge, len(huge), "y = (") is None
