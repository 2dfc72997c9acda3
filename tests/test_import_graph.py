"""The import graph has no cycle: not between modules, not between the subpackages and top-level
modules of a package, not between the two packages (`modal_service` uses `ananke_lsp`, never the
reverse). Every import counts, also one under ``TYPE_CHECKING`` or inside a function: a cycle
hidden that way is still two modules that cannot be understood one before the other. The graph
is grimp's (import-linter's engine); run this file alone to check: ``pytest tests/test_import_graph.py``."""

from __future__ import annotations

from collections.abc import Callable

import grimp
import pytest

PACKAGES = ("ananke_lsp", "modal_service")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _collapsed(graph: grimp.ImportGraph, level: Callable[[str], str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if (a := level(module)) != (b := level(imported)):
                edges.setdefault(a, set()).add(b)
    return edges


def _explain(graph: grimp.ImportGraph, level: Callable[[str], str], cycle: list[str]) -> str:
    """Which imports close the cycle, with their lines, so a failure says what to move."""
    lines = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = level(importer), level(imported)
            if a != b and a in cycle and b in cycle:
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    lines.append(f"  {importer}:{detail['line_number']}: {detail['line_contents']}")
    return f"import cycle between {', '.join(cycle)}:\n" + "\n".join(sorted(lines))


LEVELS: dict[str, Callable[[str], str]] = {
    "modules": lambda module: module,
    "subpackages": lambda module: ".".join(module.split(".")[:2]),
    "packages": lambda module: module.split(".")[0],
}


@pytest.mark.parametrize("level", LEVELS)
def test_no_import_cycle(graph: grimp.ImportGraph, level: str) -> None:
    cycles = _cycles(_collapsed(graph, LEVELS[level]))
    assert not cycles, "\n".join(_explain(graph, LEVELS[level], cycle) for cycle in cycles)


def test_the_check_sees_a_cycle() -> None:
    # the check itself: a two-node and a three-node cycle are found, a chain is not
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []
