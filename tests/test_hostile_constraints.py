"""Constraints shaped to exhaust llguidance's compile recursion (chained rules, ``$ref`` chains,
chained terminals) must come back compiled or as a clear error, never take the process down.

Each crash candidate runs in a child process, so a regression (SIGSEGV) fails its test instead
of killing the suite."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import pytest_lsp
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import LanguageClient

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import compile_constraints
from ananke_lsp.constraints.compile import MAX_CONSTRAINT_BYTES
from ananke_lsp.constraints.regex_size import MAX_INTERSECTION_SIZE, grammar_intersection_size, written_out_size
from ananke_lsp.errors import ConstraintError

from .lsp_client import SERVER, actions, command, open_doc, session
from .servers import ananke_serve


def _name(i: int) -> str:
    """Shortest distinct rule names (a, b, …, z, ba, …): the most rules per byte."""
    out = ""
    while True:
        out = "abcdefghijklmnopqrstuvwxyz"[i % 26] + out
        i //= 26
        if i == 0:
            return out


def _fill(line: object, budget: int) -> list[str]:
    lines, size, i = [], 0, 0
    while size < budget:
        lines.append(line(i))
        size += len(lines[-1]) + 1
        i += 1
    return lines


def chained(shape: str, budget: int) -> PyConstraintIR:
    """A constraint of about ``budget`` bytes whose nesting is as deep as that size allows."""
    if shape == "rules":
        lines = _fill(lambda i: f"{_name(i)}: {_name(i + 1)}", budget)
        return PyConstraintIR(name=shape, grammar="start: a\n" + "\n".join(lines) + f'\n{_name(len(lines))}: "x"')
    if shape == "terminals":
        lines = _fill(lambda i: f"{_name(i).upper()}: {_name(i + 1).upper()}", budget)
        grammar = "start: A\n" + "\n".join(lines) + f'\n{_name(len(lines)).upper()}: "x"'
        return PyConstraintIR(name=shape, grammar=grammar)
    wrap = {
        "refs": lambda ref: {"$ref": ref},
        "all_of": lambda ref: {"allOf": [{"$ref": ref}]},
        "object_refs": lambda ref: {"type": "object", "properties": {"a": {"$ref": ref}}, "required": ["a"]},
    }[shape]
    compact = {"separators": (",", ":")}
    defs, size, i = {}, 0, 0
    while size < budget - 100:
        defs[_name(i)] = wrap(f"#/$defs/{_name(i + 1)}")
        size += len(json.dumps({_name(i): defs[_name(i)]}, **compact))  # its entry, comma for brace
        i += 1
    defs[_name(i)] = {"type": "integer"}
    return PyConstraintIR(name=shape, json_schema=json.dumps({"$ref": "#/$defs/a", "$defs": defs}, **compact))


SHAPES = ["rules", "terminals", "refs", "all_of", "object_refs"]
# The sizes the issue reported as crashing, and the largest a constraint may be.
BUDGETS = {"3000-deep": 3000 * 10, "largest allowed": MAX_CONSTRAINT_BYTES - 512}


def _in_child(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("budget", BUDGETS.values(), ids=BUDGETS.keys())
@pytest.mark.parametrize("shape", SHAPES)
def test_deeply_chained_constraints_compile_or_fail_cleanly(shape: str, budget: int):
    code = f"""
        from ananke_lsp.constraints import compile_constraints
        from ananke_lsp.errors import ConstraintError
        from tests.test_hostile_constraints import chained
        constraint = chained({shape!r}, {budget})
        try:
            compile_constraints([constraint])
            print("compiled")
        except ConstraintError as exc:
            print("error:", exc)
    """
    run = _in_child(textwrap.dedent(code))
    assert run.returncode == 0, f"the compile killed the process ({run.returncode}): {run.stderr[-2000:]}"
    assert run.stdout.startswith(("compiled", f"error: constraint '{shape}'")), run.stdout


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SHAPES), st.integers(1_000, MAX_CONSTRAINT_BYTES)), min_size=1, max_size=3))
def test_random_chains_never_take_the_process_down(specs: list[tuple[str, int]]):
    """Random mixes of chained shapes and depths, compiled together in one child process."""
    code = f"""
        from ananke_lsp.constraints import compile_constraints
        from ananke_lsp.errors import ConstraintError
        from tests.test_hostile_constraints import chained
        constraints = [chained(shape, size).model_copy(update={{"name": f"c{{i}}"}}) for i, (shape, size) in
                       enumerate({specs!r})]
        try:
            compile_constraints(constraints)
            print("compiled")
        except ConstraintError as exc:
            print("error:", exc)
    """
    run = _in_child(textwrap.dedent(code))
    assert run.returncode == 0, f"{specs}: the compile killed the process ({run.returncode}): {run.stderr[-2000:]}"
    assert run.stdout.startswith(("compiled", "error: constraint 'c")), run.stdout


def test_a_constraint_over_the_size_bound_is_refused_by_name():
    grammar = 'start: "' + "x" * MAX_CONSTRAINT_BYTES + '"'
    with pytest.raises(ConstraintError, match=r"constraint 'big' \(constraint\).*at most 262144"):
        compile_constraints([PyConstraintIR(name="big", grammar=grammar)])


def _hostile_project(root: Path) -> Path:
    grammar = chained("rules", 3000 * 10).grammar
    (root / "deep.lark").write_text(grammar or "")
    (root / ".ananke.toml").write_text('[[constraints]]\nname = "deep"\ngrammar_file = "deep.lark"\n')
    return root


def test_ananke_check_survives_a_project_with_a_deep_grammar(tmp_path: Path):
    run = subprocess.run(
        [sys.executable, "-m", "ananke_lsp", "check", str(_hostile_project(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    async with session(lsp_client, _hostile_project(tmp_path)):
        yield


async def test_the_language_server_survives_opening_a_repository_with_a_deep_grammar(
    client: LanguageClient, tmp_path: Path
):
    uri = open_doc(client, tmp_path / "main.py", "x = 1\n")
    # the server compiles the project's constraints when it warms up; it must still answer after
    assert await command(client, "ananke.cacheStats") is not None
    assert await actions(client, uri, types.Position(line=0, character=0)) is not None


def test_the_service_survives_a_deep_grammar_request():
    constraint = chained("rules", 3000 * 10)
    body = {"prompt": "x", "max_tokens": 4, "constraints": [constraint.model_dump()]}
    with ananke_serve() as url:
        answer = httpx.post(f"{url}/v1/generate", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["code"] == "x"
        assert httpx.get(f"{url}/v1/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("pattern", "size"),
    [
        ('"{99999}', 99999),
        ("(a{100}){30}", 3000),
        ("(a|b){3000}", 6000),
        (r"[0-9]{3}-\d{4}", 8),
        (r"\p{L}{5}[{]{2}", 7),
        ("x+{2,}y*", 3),
    ],
)
def test_a_regex_written_out(pattern: str, size: int) -> None:
    assert written_out_size(pattern) == size


def test_regexes_too_large_to_intersect_are_refused_at_once_by_name() -> None:
    # found by the fuzzer: each alone builds at once, together llguidance would take hours
    hostile = PyConstraintIR(name="quotes", regex_patterns=['(?:"{99999})', '(?:"+{99999})'])
    with pytest.raises(ConstraintError, match=r"constraint 'quotes' \(regex\).*too large to hold together") as err:
        compile_constraints([hostile])
    assert f"{MAX_INTERSECTION_SIZE:,}" in str(err.value)
    # a large intersection under the bound compiles, and holds both
    fine = compile_constraints([PyConstraintIR(name="ok", regex_patterns=["(a{100}){30}", "(a|b){3000}"])])
    assert fine.names == ("ok",)


@pytest.mark.parametrize(
    ("grammar", "size"),
    [
        ('start: X\nX: /"{9999}/ & /"+{9999}/', 9999 * 9999),
        ('start: X\nA: /"{999}/\nB: "ab" /"+{999}/\nX: A & B', 999 * 1001),  # through terminal names
        ("start: X\nX: (/a{100}/ ~ 30) & /(a|b){3000}/  // & /x{99}/ is a comment", 3000 * 6000),
        ('start: x\nx: x "a" & /b{5}/ | "c"', 2 * 5),  # a recursive rule counts once
        ('start: "&" /a{99}/', 0),  # an & in a literal is not one
        ("&", 0),  # no definition at all (found by the fuzzer)
    ],
)
def test_an_intersection_in_a_grammar_written_out(grammar: str, size: int) -> None:
    assert grammar_intersection_size(grammar) == size


def test_a_grammar_whose_intersection_is_too_large_is_refused_at_once_by_name() -> None:
    hostile = PyConstraintIR(name="lexemes", grammar='start: X\nA: /"{99999}/\nB: /"+{99999}/\nX: A & B')
    with pytest.raises(ConstraintError, match=r"constraint 'lexemes' \(grammar\).*too large to hold together"):
        compile_constraints([hostile])
