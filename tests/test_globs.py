"""Globs (`[privacy].exclude`, `files`) match like gitignore, in time linear in the pattern times
the path whatever their shape, and a config cannot hold more of them than stay cheap."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ananke_lsp.config import PrivacySettings, ProjectConfig, ProjectSettings, glob_match, load_config
from ananke_lsp.config.globs import MAX_GLOB_CHARS, Glob
from ananke_lsp.config.schema import MAX_GLOBS
from ananke_lsp.errors import ConfigError

from .globs import PATHOLOGICAL

# -- a brute-force reference, built from the glob's structure rather than parsed from its text ---


@dataclass(frozen=True)
class Unit:
    """One character of a segment: a literal, `?`, a class, or `*` (any run of characters)."""

    text: str  # as written in the glob
    chars: frozenset[str] | None = None  # what it matches; None: any character
    negated: bool = False
    star: bool = False

    def accepts(self, char: str, ignore_case: bool) -> bool:
        if self.chars is None:
            return True
        fold = (lambda c: c.lower()) if ignore_case else (lambda c: c)
        inside = fold(char) in {fold(c) for c in self.chars}
        return inside != self.negated


STAR = Unit("*", star=True)
UNITS = [
    Unit("a", frozenset("a")),
    Unit("b", frozenset("b")),
    Unit(".", frozenset(".")),
    Unit("\\*", frozenset("*")),
    Unit("?"),
    Unit("[ab]", frozenset("ab")),
    Unit("[!a]", frozenset("a"), negated=True),
    Unit("[^b.]", frozenset("b."), negated=True),
    Unit("[a-b]", frozenset("ab")),
    STAR,
]
DIRS = "**"


def _segment_matches(units: tuple[Unit, ...], name: str, ignore_case: bool) -> bool:
    if not units:
        return not name
    head, rest = units[0], units[1:]
    if head.star:
        return any(_segment_matches(rest, name[k:], ignore_case) for k in range(len(name) + 1))
    return bool(name) and head.accepts(name[0], ignore_case) and _segment_matches(rest, name[1:], ignore_case)


def _path_matches(items: list, parts: list[str], ignore_case: bool) -> bool:
    """``items``: segments (tuples of units) and `**`, which matches one or more parts as the last
    item, zero or more elsewhere."""
    if not items:
        return not parts
    head, rest = items[0], items[1:]
    if head == DIRS and not rest:
        return bool(parts)
    if head == DIRS:
        return any(_path_matches(rest, parts[k:], ignore_case) for k in range(len(parts) + 1))
    return bool(parts) and _segment_matches(head, parts[0], ignore_case) and _path_matches(rest, parts[1:], ignore_case)


@dataclass(frozen=True)
class Shape:
    segments: tuple[tuple[Unit, ...] | str, ...]
    leading_slash: bool
    trailing_slash: bool

    @property
    def text(self) -> str:
        body = "/".join(s if s == DIRS else "".join(u.text for u in s) for s in self.segments)
        return ("/" if self.leading_slash else "") + body + ("/" if self.trailing_slash else "")

    def items(self) -> list:
        """gitignore's reading: without an inner or leading `/` the glob matches at any depth, and
        a trailing `/` means everything inside."""
        items = list(self.segments) + ([DIRS] if self.trailing_slash else [])
        anchored = self.leading_slash or len(self.segments) > 1
        return items if anchored else [DIRS, *items]

    def matches(self, parts: list[str], ignore_case: bool = False) -> bool:
        return _path_matches(self.items(), parts, ignore_case)


def _no_double_star(units: list[Unit]) -> tuple[Unit, ...]:
    """Adjacent stars are one star (and a segment of exactly `**` would be the other token)."""
    return tuple(u for i, u in enumerate(units) if not (u.star and i and units[i - 1].star))


segments = st.one_of(
    st.just(DIRS),
    st.lists(st.sampled_from(UNITS), min_size=1, max_size=5).map(_no_double_star),
)
shapes = st.builds(Shape, st.lists(segments, min_size=1, max_size=4).map(tuple), st.booleans(), st.booleans())
names = st.text(st.sampled_from("abAB.*"), min_size=1, max_size=5).filter(lambda n: n not in (".", ".."))
paths = st.lists(names, min_size=1, max_size=5)


@settings(max_examples=500, deadline=None)
@given(shape=shapes, parts=paths)
def test_globs_match_as_the_reference_does(shape: Shape, parts: list[str]):
    assert glob_match(shape.text, "/".join(parts)) is shape.matches(parts)


@settings(max_examples=300, deadline=None)
@given(shape=shapes, parts=paths)
def test_an_excluded_directory_covers_what_is_inside_it(tmp_path_factory, shape: Shape, parts: list[str]):
    assume(".." not in shape.text.replace("\\", "/").split("/"))  # refused (`\\` as a separator)
    root = tmp_path_factory.getbasetemp() / "covers"
    config = ProjectConfig(ProjectSettings(privacy=PrivacySettings(exclude=[shape.text])), root=root)
    expected = any(shape.matches(parts[:j]) for j in range(1, len(parts) + 1))
    assert config.is_excluded(root.joinpath(*parts)) is expected


@settings(max_examples=300, deadline=None)
@given(shape=shapes, parts=paths)
def test_built_in_rules_ignore_case_and_match_at_any_depth(shape: Shape, parts: list[str]):
    glob = Glob(shape.text, ignore_case=True)
    assert glob.match("/".join(parts)) is shape.matches(parts, ignore_case=True)
    spans = [parts[i:j] for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    assert glob.covers(parts, anywhere=True) is any(shape.matches(span, ignore_case=True) for span in spans)


# -- time: no shape of glob or path makes matching slow -----------------------------------------

# Shapes that make a backtracking matcher explode: many stars between repeated characters, many
# `**` between repeated directory names, classes that match what the stars match.
hostile_segments = st.one_of(
    st.just(DIRS),
    st.lists(st.sampled_from([STAR, UNITS[0], UNITS[4], UNITS[5]]), min_size=1, max_size=40).map(_no_double_star),
)
hostile_globs = (
    st.lists(hostile_segments, min_size=1, max_size=40)
    .map(lambda segs: "/".join(s if s == DIRS else "".join(u.text for u in s) for s in segs))
    .map(lambda text: text[:MAX_GLOB_CHARS])
)
hostile_paths = st.lists(st.integers(1, 255).map(lambda n: "a" * n), min_size=1, max_size=40).map("/".join)

MATCH_LIMIT_S = 1.0  # per match at the bounds; the old matcher took hours on such inputs


@contextlib.contextmanager
def hard_timeout(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (``re`` checks for signals while it matches), so a
    matcher that explodes fails the test instead of hanging the suite."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still matching after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@settings(max_examples=150, deadline=None)
@given(glob=hostile_globs, path=hostile_paths)
def test_hostile_globs_match_in_bounded_time(glob: str, path: str):
    started = time.perf_counter()
    with hard_timeout(10 * MATCH_LIMIT_S):
        glob_match(glob, path)
    assert time.perf_counter() - started < MATCH_LIMIT_S


def _run_isolated(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in its own interpreter, so that a matcher that never returns fails the test
    instead of hanging the suite."""
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s")


def test_the_pathological_glob_does_not_freeze(tmp_path: Path):
    config = tmp_path / ".ananke.toml"
    config.write_text(f"[privacy]\nexclude = [{json.dumps(PATHOLOGICAL)}]\n")
    code = (
        "from pathlib import Path\nfrom ananke_lsp.config import load_config, glob_match\n"
        f"config = load_config(Path({str(config)!r}))\n"
        f"print(config.is_excluded(config.root / ('a' * 40)), glob_match({PATHOLOGICAL!r}, 'a' * 40 + 'b'))\n"
    )
    done = _run_isolated(code, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


# -- bounds: clear errors at the offending line --------------------------------------------------


def test_too_many_globs_are_refused_at_the_list(tmp_path: Path):
    path = tmp_path / ".ananke.toml"
    files = json.dumps([f"src/m{i}.py" for i in range(MAX_GLOBS // 2)])
    exclude = json.dumps([f"build{i}/" for i in range(MAX_GLOBS // 2 + 1)])
    path.write_text(f'[[constraints]]\nname = "c"\nregex = "a"\nfiles = {files}\n\n[privacy]\nexclude = {exclude}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert (issue.line, issue.column) == (4, 1)  # `files`, counted after [privacy].exclude
    assert f"at most {MAX_GLOBS} globs" in issue.message and str(MAX_GLOBS + 1) in issue.message


def test_an_over_long_glob_is_refused_at_its_line(tmp_path: Path):
    path = tmp_path / ".ananke.toml"
    long = "a" * (MAX_GLOB_CHARS + 1)
    path.write_text(f'[privacy]\nexclude = [\n  "ok/**",\n  "{long}",\n]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert (issue.line, issue.column) == (4, 3)
    assert issue.key == "privacy.exclude[1]" and f"at most {MAX_GLOB_CHARS}" in issue.message


def test_globs_at_the_bounds_load(tmp_path: Path):
    path = tmp_path / ".ananke.toml"
    exclude = json.dumps(["a" * MAX_GLOB_CHARS] + [f"*.tmp{i}" for i in range(MAX_GLOBS - 1)])
    path.write_text(f"[privacy]\nexclude = {exclude}\n")
    config = load_config(path)
    assert config.is_excluded(tmp_path / "x.tmp7") and not config.is_excluded(tmp_path / "x.py")
