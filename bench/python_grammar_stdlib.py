"""How much of the standard library the indentation-aware Python grammar accepts.

Every function of the running interpreter's standard library (decorators, def line and body, as
written) is checked with the grammar of its def's column, byte by byte, as a model's output would
be. Prints how many were checked and accepted, the first rejections with the line of the rejected
byte, the grammar's size and the time to build a byte-level matcher from it.

    python bench/python_grammar_stdlib.py [--every N] [--show 20]
"""

from __future__ import annotations

import argparse
import ast
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llguidance as llg

from ananke_lsp.constraints.matcher_memo import byte_matcher
from ananke_lsp.context.python_grammar import grammar_stats, python_grammar
from bench.stdlib_functions import functions

# Not the library proper: test suites, IDLE, and what pip installed next to it.
SKIPPED_DIRS = frozenset({"test", "tests", "idlelib", "site-packages", "dist-packages"})


@dataclass(frozen=True)
class StdlibSnippet:
    module: str  # path relative to the standard library, e.g. "json/decoder.py"
    name: str  # qualified name of the function, or "<module>:LINE" for a module-level statement
    base: int  # column of its first line
    text: str  # whole lines, from the first decorator (or the def) to the last line, no final newline


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_modules(root: Path | None = None) -> list[Path]:
    """The standard library's .py files, sorted (their order decides any sample)."""
    root = root or stdlib_root()
    return sorted(p for p in root.rglob("*.py") if not SKIPPED_DIRS & set(p.relative_to(root).parts[:-1]))


def _parse(path: Path) -> tuple[str, ast.Module] | None:
    try:
        source = path.read_bytes().decode("utf-8")
        return source, ast.parse(source)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return None


def _span(lines: list[str], node: ast.stmt) -> tuple[int, str] | None:
    """The column and text of the node's whole lines; None when tabs indent any of them."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
    chunk = lines[first - 1 : node.end_lineno]
    if any("\t" in line[: len(line) - len(line.lstrip())] for line in chunk):
        return None
    head = chunk[0]
    return len(head) - len(head.lstrip(" ")), "\n".join(chunk)


def stdlib_functions(every: int = 1, root: Path | None = None) -> Iterator[StdlibSnippet]:
    """Every ``every``-th function or method of the standard library, in a fixed order: modules
    sorted by path, functions in source order (nested ones after their parent), tab-indented ones
    left out."""
    root = root or stdlib_root()
    count = 0
    for path in stdlib_modules(root):
        for snippet in module_functions(str(path.relative_to(root)), root):
            count += 1
            if count % every == 0:
                yield snippet


def module_functions(module: str, root: Path | None = None) -> list[StdlibSnippet]:
    """A module's functions and methods, in source order; none when it does not decode or parse."""
    parsed = _parse((root or stdlib_root()) / module)
    if parsed is None:
        return []
    source, tree = parsed
    lines = source.split("\n")  # as ast counts lines: a form feed does not end one
    out = []
    for name, node in functions(tree, in_statements=True):
        span = _span(lines, node)
        if span is not None:
            out.append(StdlibSnippet(module, name, span[0], span[1]))
    return out


def module_statements(module: str, root: Path | None = None) -> list[StdlibSnippet]:
    """A module's top-level statements, each at column 0 (decorators included)."""
    root = root or stdlib_root()
    parsed = _parse(root / module)
    assert parsed is not None, module
    source, tree = parsed
    lines = source.split("\n")  # as ast counts lines: a form feed does not end one
    out = []
    for node in tree.body:
        span = _span(lines, node)
        if span is not None:
            out.append(StdlibSnippet(module, f"<module>:{node.lineno}", span[0], span[1]))
    return out


_GRAMMARS: dict[tuple[int, int], str] = {}


def compiled_grammar(base: int, depth: int = 8) -> str:
    key = (base, depth)
    if key not in _GRAMMARS:
        _GRAMMARS[key] = llg.LLMatcher.grammar_from_lark(python_grammar(base, depth=depth))
    return _GRAMMARS[key]


def rejection(snippet: StdlibSnippet, depth: int = 8) -> str | None:
    """None when the grammar of the snippet's column accepts it whole, else where it stops."""
    data = snippet.text.encode()
    matcher = byte_matcher(compiled_grammar(snippet.base, depth))
    consumed = matcher.try_consume_tokens(list(data))
    if consumed == len(data) and matcher.is_accepting():
        return None
    if consumed == len(data):
        return "incomplete at the end"
    line_no = data[:consumed].count(b"\n") + 1
    start = data.rfind(b"\n", 0, consumed) + 1
    end = data.find(b"\n", consumed)
    line = data[start : end if end >= 0 else len(data)].decode(errors="replace")
    return f"byte {consumed}, line {line_no} col {consumed - start}: {line.strip()!r}"


def build_ms(base: int = 4, repeat: int = 5) -> float:
    """Best time to build a byte-level matcher from the grammar's text, in ms."""
    best = float("inf")
    text = python_grammar(base)
    for _ in range(repeat):
        # a fresh text each time, so the matcher memo cannot answer
        fresh = f"{text}// {time.perf_counter_ns()}\n"
        start = time.perf_counter()
        matcher = byte_matcher(llg.LLMatcher.grammar_from_lark(fresh))
        best = min(best, (time.perf_counter() - start) * 1000)
        assert not matcher.is_error(), matcher.get_error()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=1, help="check every N-th function")
    parser.add_argument("--show", type=int, default=20, help="rejections to print")
    args = parser.parse_args(argv)

    grammar = python_grammar(4)
    size, rules = grammar_stats(grammar)
    print(f"grammar (base 4, unit 4, depth 8): {size} bytes, {rules} rules; matcher build {build_ms():.1f} ms")
    start = time.perf_counter()
    checked, rejected = 0, []
    for snippet in stdlib_functions(args.every):
        checked += 1
        reason = rejection(snippet)
        if reason is not None:
            rejected.append((snippet, reason))
    elapsed = time.perf_counter() - start
    print(f"stdlib {sys.version.split()[0]} at {stdlib_root()}")
    print(
        f"functions checked {checked}, accepted {checked - len(rejected)}, rejected {len(rejected)} ({elapsed:.0f} s)"
    )
    for snippet, reason in rejected[: args.show]:
        print(f"  {snippet.module} {snippet.name} (base {snippet.base}): {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
