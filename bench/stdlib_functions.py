"""Functions to type: real code no test here was tuned on, from modules of the Python standard
library, chosen deterministically (a seeded shuffle of the modules, one function of 5 to 30 lines
from each). The body after the docstring is what gets typed; the header and docstring stay."""

from __future__ import annotations

import ast
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

MIN_LINES, MAX_LINES = 5, 30  # the whole function, its def line to its last
MIN_BODY_LINES = 2  # lines typed


@dataclass(frozen=True)
class StdlibFunction:
    module: str  # path relative to the standard library, e.g. "shlex.py"
    qualname: str
    source: str  # the whole module
    body_start: int  # offset of the first typed line's start
    body_end: int  # offset of the end of the function's last line (before its newline)

    @property
    def body(self) -> str:
        return self.source[self.body_start : self.body_end]

    @property
    def lines(self) -> int:
        return self.body.count("\n") + 1


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _modules(root: Path) -> list[Path]:
    """The standard library's public top-level modules, sorted (their order decides the choice)."""
    return sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))


def functions(
    tree: ast.Module, *, in_statements: bool = False
) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name, in source order; with
    ``in_statements``, also those defined inside other statements (`if`, `try`, ...)."""
    out: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif in_statements:
                visit(child, prefix)

    visit(tree, "")
    return out


def _typed_span(source: str, starts: list[int], node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int] | None:
    """Offsets of the body after the docstring, whole lines, when the function suits the trace."""
    if node.end_lineno is None or not MIN_LINES <= node.end_lineno - node.lineno + 1 <= MAX_LINES:
        return None
    body = node.body
    head = body[0]
    docstring = (
        isinstance(head, ast.Expr) and isinstance(head.value, ast.Constant) and isinstance(head.value.value, str)
    )
    typed = body[1:] if docstring else body
    if not typed:
        return None
    first = typed[0].lineno
    if first == node.lineno or (docstring and first <= (head.end_lineno or 0)):
        return None  # a one-line function, or a statement on the docstring's line
    if node.end_lineno - first + 1 < MIN_BODY_LINES:
        return None
    start, end = starts[first - 1], starts[node.end_lineno] - 1
    text = source[start:end]
    lines = text.split("\n")
    line_end = source.find("\n", starts[node.end_lineno - 1])
    if (
        source[start : start + typed[0].col_offset].strip()  # something before the first statement
        or source[starts[node.end_lineno - 1] + (node.end_col_offset or 0) : line_end].strip()
        or not text.isascii()
        or "\t" in text
        or "\r" in text
        or any(line.isspace() for line in lines)  # an editor trims whitespace-only lines
    ):
        return None
    return start, end


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(source):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def candidates(path: Path, root: Path) -> list[StdlibFunction]:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    if not source.endswith("\n"):
        source += "\n"
    starts = _line_starts(source)
    out = []
    for qualname, node in functions(tree):
        if (span := _typed_span(source, starts, node)) is not None:
            out.append(StdlibFunction(path.relative_to(root).as_posix(), qualname, source, *span))
    return out


def pick(count: int, seed: int, root: Path | None = None) -> list[StdlibFunction]:
    """``count`` functions from ``count`` different modules: the modules in a seeded shuffle, one
    function of each chosen with the same generator."""
    root = root or stdlib_dir()
    rng = random.Random(seed)
    modules = _modules(root)
    rng.shuffle(modules)
    picked: list[StdlibFunction] = []
    for module in modules:
        if len(picked) == count:
            break
        if found := candidates(module, root):
            picked.append(rng.choice(found))
    if len(picked) < count:
        raise ValueError(f"only {len(picked)} modules of {root} have a function to type")
    return picked
