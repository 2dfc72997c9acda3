"""The windows around the cursor fit their token budgets, whatever the shape of the document:
many short lines, or one minified line of a megabyte; the tokenizer never sees the whole line."""

from __future__ import annotations

from ananke_lsp.context.cursor import CHARS_PER_TOKEN, WINDOW_GRID, cursor_context

MINIFIED = "var a=function(b){return b*2};" * 35_000  # ~1 MB on one line


class Counter:
    """A stand-in tokenizer (3 characters a token) that records how much text it was given."""

    def __init__(self) -> None:
        self.largest = 0

    def __call__(self, text: str) -> int:
        self.largest = max(self.largest, len(text))
        return -(-len(text) // 3)


def test_one_huge_line_is_cut_to_the_budget_by_characters():
    count, middle = Counter(), len(MINIFIED) // 2
    context = cursor_context(MINIFIED, middle, 256, 64, prefix_tokens=100, suffix_tokens=20, count=count)
    assert 90 <= count(context.prefix) <= 100 and MINIFIED[:middle].endswith(context.prefix)
    assert 15 <= count(context.suffix) <= 20 and MINIFIED[middle:].startswith(context.suffix)
    assert count.largest <= 100 * CHARS_PER_TOKEN
    assert context.line_after == MINIFIED[middle:]  # the buffer constraints still see the whole line


def test_whole_lines_are_dropped_before_any_line_is_cut():
    source = "".join(f"line_{i} = {i}\n" for i in range(200)) + "x = "
    context = cursor_context(source, len(source), 256, 64, prefix_tokens=50, suffix_tokens=0, count=Counter())
    assert context.prefix.startswith("line_") and context.prefix.endswith("\nx = ")
    assert Counter()(context.prefix) <= 50 and context.suffix == ""


def test_the_prefix_window_keeps_its_first_line_while_typing_and_moving_down():
    """The window starts on a grid line: the prompt's beginning, and the KV cache of it, stays
    the same from keystroke to keystroke, and across Enter, until the window must move on."""
    head = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    first_lines = set()
    for typed in ["", "t", "to", "total", "total =", "total = 1\n", "total = 1\nx", "total = 1\nx = 2\n"]:
        source = head + typed
        context = cursor_context(source, len(source), 256, 64, prefix_tokens=300, count=Counter())
        assert Counter()(context.prefix) <= 300 and context.prefix.endswith(typed)
        first_lines.add(context.prefix.split("\n", 1)[0])
    assert len(first_lines) == 1  # one beginning for all eight keystrokes
    start = int(first_lines.pop().split("_")[1].split(" ")[0])
    assert start % WINDOW_GRID == 0


def test_the_line_window_also_starts_on_the_grid():
    source = "".join(f"v{i} = {i}\n" for i in range(300))
    context = cursor_context(source, len(source), 100, 64)
    first = int(context.prefix.split(" ", 1)[0][1:])
    assert first % WINDOW_GRID == 0 and 200 <= first < 200 + WINDOW_GRID


def test_without_a_tokenizer_a_huge_line_is_still_bounded():
    context = cursor_context(MINIFIED, len(MINIFIED), 256, 64, prefix_tokens=100, suffix_tokens=20)
    assert len(context.prefix) == 100 * CHARS_PER_TOKEN and MINIFIED.endswith(context.prefix)


def _at_marker(source: str):
    offset = source.index("|")
    return cursor_context(source.replace("|", ""), offset, 256, 64)


def test_an_empty_line_inside_a_block_gets_one_line_and_a_block_at_its_end():
    inside = _at_marker("def f(xs):\n    total = 0\n    |\n    return total\n")
    assert inside.inside_block and inside.line_stops().max_lines == 1
    at_end = _at_marker("def f(xs):\n    for x in xs:\n        |\n    return 1\n")
    assert not at_end.inside_block and at_end.line_stops().max_lines is None
    assert at_end.line_stops().dedent_below == 8 and at_end.line_stops().repeats == ("return 1",)


def test_above_deeper_code_a_python_line_must_open_the_block():
    header = _at_marker("def f(xs):\n    |\n        print(x)\n    return 1\n")
    names = [c.name for c in header.constraints("python")]
    assert "buffer:opens-block" in names and "buffer:starts-with-code" in names
    assert "buffer:opens-block" not in [c.name for c in header.constraints("javascript")]


def test_above_code_at_the_same_depth_a_python_line_must_not_open_a_block():
    inside = _at_marker("def f(xs):\n    total = 0\n    |\n    return total\n")
    assert "buffer:no-block-header" in [c.name for c in inside.constraints("python")]


def test_brackets_the_rest_of_the_line_closes_are_not_the_suggestions_to_close():
    for source in ("largest = max(|values)\n", "largest = max(|)\n", "f(g(|x), y)\n"):
        names = {c.name: c for c in _at_marker(source).constraints("python")}
        grammar = names["buffer:balanced-brackets"].grammar or ""
        assert grammar.startswith("start: bal\n"), (source, grammar)  # nothing left to close
    still_open = _at_marker("f(g(|x)\n").constraints("python")
    assert any('")"' in (c.grammar or "") for c in still_open)  # f( is still the suggestion's to close


def test_no_python_line_shape_inside_brackets_or_above_a_brackets_body():
    dict_body = _at_marker("def f():\n    |\n        'zero': 0,\n        'one': 1,\n    }\n    return x\n")
    inside = _at_marker("x = [\n    1,\n    |\n    3,\n]\n")
    for context in (dict_body, inside):
        names = [c.name for c in context.constraints("python")]
        assert "buffer:opens-block" not in names and "buffer:no-block-header" not in names


def test_above_a_body_that_an_elif_follows_the_header_continues_the_chain():
    source = "if a:\n    x = 1\n|\n    x = 2\nelif b:\n    x = 3\n"
    shape = [c for c in _at_marker(source).constraints("python") if c.name == "buffer:opens-block"]
    assert shape and "elif" in shape[0].grammar and "|else|" not in shape[0].grammar
    outer = "for v in vs:\n    if a:\n        x = 1\n    |\n        x = 2\nelse:\n    pass\n"
    shape = [c for c in _at_marker(outer).constraints("python") if c.name == "buffer:opens-block"]
    assert shape and "|else|" in shape[0].grammar  # that else belongs to the outer for
