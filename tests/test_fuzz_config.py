"""Hostile `.ananke.toml` files: random TOML (the real keys with wrong types, huge values, unicode,
deep nesting) and random bytes either load or fail with ``ConfigError`` issues that each name a
line and say what is wrong; a ``*_file`` entry never reads anything outside the project."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ananke_lsp.config import ACTIONS, ProjectConfig, check, compile_check, load_config
from ananke_lsp.errors import ConfigError, ConfigIssue

FUZZ = settings(max_examples=200, deadline=None)

# -- a small TOML writer (the standard library only reads TOML) ----------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    # JSON's escapes are TOML's, except surrogate pairs (so characters stay raw) and a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def to_toml(document: dict[str, object]) -> str:
    """Top-level scalars, then ``[table]`` sections, then ``[[array]]`` tables, as people write them."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in document.items() if not isinstance(v, (dict, list))]
    for name, table in document.items():
        if isinstance(table, dict):
            lines += ["", f"[{_key(name)}]", *(f"{_key(k)} = {_value(v)}" for k, v in table.items())]
    for name, items in document.items():
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            for item in items:
                lines += ["", f"[[{_key(name)}]]", *(f"{_key(k)} = {_value(v)}" for k, v in item.items())]
        elif isinstance(items, list):
            lines.append(f"{_key(name)} = {_value(items)}")
    return "\n".join(lines) + "\n"


# -- strategies ---------------------------------------------------------------------------------

_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "default", "http://127.0.0.1:9", "https://x:99999", "../x", "[z-a]", "**", "\u0000"]),
    st.integers(min_value=1, max_value=5000).map(lambda n: "x" * n),
)
_scalars = st.one_of(
    _text,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),  # nan and inf included: TOML has them
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=10,
)
_SECTIONS = {
    "service": ["endpoint", "model", "timeout_secs", "max_retries", "api_key"],
    "generation": ["max_tokens", "temperature", "profile", "profiles"],
    "completion": ["enabled", "debounce_ms", "prefix_lines", "suffix_lines", "prefix_tokens", "suffix_tokens"],
    "privacy": ["exclude"],
}
_CONSTRAINT_KEYS = ["name", "languages", "files", "actions", "regex", "regex_patterns", "json_schema", "grammar"]
_good_constraint_values = {
    "name": st.text(min_size=1, max_size=8),
    "languages": st.lists(st.sampled_from(["python", "json", ""]), max_size=2),
    "files": st.lists(st.sampled_from(["src/**/*.py", "*.json", "[a-c]*", "[z-a]", "../up", "/abs/*", ""]), max_size=2),
    "actions": st.lists(st.sampled_from([*ACTIONS, "nope"]), max_size=2),
    "regex": st.sampled_from(["[a-z]+", "a|b", "(", ""]),
    "regex_patterns": st.lists(st.sampled_from(["[0-9]+", ".*", "(?=x)"]), max_size=2),
    "json_schema": st.one_of(
        st.sampled_from(['{"type": "integer"}', '{"type": "string"}', "{", "[]"]),
        st.fixed_dictionaries({"type": st.sampled_from(["object", "string", "nonsense"])}),
    ),
    "grammar": st.sampled_from(['start: "x"', 'start: "a" | "b"', "start: nope", ""]),
}
# mostly in range, so that many documents load and reach the constraint compiler
_numbers = st.one_of(*[st.integers(min_value=16, max_value=1000)] * 3, st.integers(min_value=-5, max_value=10**6))
_plausible_sections = {
    "service": {
        "endpoint": st.sampled_from(
            ["http://127.0.0.1:8088", "http://127.0.0.1:8088", "https://h:99999", "http://a b"]
        ),
        "model": st.sampled_from(["default", "m.gguf", "default", "a\u0000b"]),
        "timeout_secs": _numbers,
        "max_retries": _numbers,
    },
    "generation": {
        "max_tokens": _numbers,
        "temperature": st.one_of(st.floats(0, 1), st.floats(0, 1), st.floats()),
        "profile": st.sampled_from(["creative", "balanced", "deterministic", "wild"]),
        "profiles": st.dictionaries(
            st.sampled_from([*ACTIONS, "regenerate", "nope"]),
            st.sampled_from(["creative", "balanced", "deterministic", "wild", 1]),
            max_size=3,
        ),
    },
    "completion": {k: _numbers for k in _SECTIONS["completion"][1:]} | {"enabled": st.booleans()},
    "privacy": {"exclude": st.lists(st.sampled_from(["private/**", "*.secret", "[!a]", "[[]", "[z-a]", "../x", " "]))},
}


def _document(values: dict[str, dict[str, st.SearchStrategy[object]]], constraint: st.SearchStrategy[object]):
    sections = {name: st.fixed_dictionaries({}, optional=keys) for name, keys in values.items()}
    return st.fixed_dictionaries({}, optional={**sections, "constraints": st.lists(constraint, max_size=3)})


# right shapes, values in and out of range: many of these load and reach the constraint compiler
_plausible = _document(
    _plausible_sections,
    st.fixed_dictionaries(
        {"name": st.text(min_size=1, max_size=8), "regex": _good_constraint_values["regex"]},
        optional={k: v for k, v in _good_constraint_values.items() if k not in ("name", "regex")},
    ),
)
_hostile = _document(  # every real key with anything at all in it
    {name: dict.fromkeys(keys, toml_values) for name, keys in _SECTIONS.items()},
    st.fixed_dictionaries({}, optional=dict.fromkeys(_CONSTRAINT_KEYS, toml_values)),
)
_unknown = st.dictionaries(st.sampled_from(["constraints", "unknown_section", "token", "service", "x.y"]), toml_values)
# one_of would favour the simplest kinds; half of the documents are the plausible ones
documents = st.sampled_from([_plausible, _plausible, _hostile, _unknown]).flatmap(lambda kind: kind)


def _deep(depth: int, bracket: str) -> str:
    close = {"[": "]", "{a = ": "}"}[bracket]
    return "x = " + bracket * depth + "1" + close * depth + "\n"


# -- the property -------------------------------------------------------------------------------


def _clear(issues: list[ConfigIssue], text: str | None) -> None:
    """Each issue is on a real line and says something; the file's name is on every one."""
    lines = text.count("\n") + 1 if text is not None else 1
    assert issues
    for issue in issues:
        assert 1 <= issue.line <= lines and issue.column >= 1
        assert issue.message.strip() and len(issue.message) < 2000  # one readable line, not a dump
        assert str(issue).startswith(f"{issue.file}:{issue.line}:{issue.column}: ")


def _load_and_use(path: Path, text: str | None) -> None:
    try:
        config = load_config(path)
    except ConfigError as err:
        _clear(err.issues, text)
        return
    issues = compile_check(config)
    if issues:
        _clear(issues, text)
    # a loaded configuration answers every question without raising
    for file in (config.root / "src" / "a.py", config.root / ".env", Path("/elsewhere/b.json")):
        for action in ACTIONS:
            config.constraints_for(file, "python", action)
        config.is_excluded(file)
    assert config.settings.generation.max_tokens >= 1


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


@FUZZ
@given(document=documents)
def test_random_toml_loads_or_reports_positioned_issues(project: Path, document: dict[str, object]):
    text = to_toml(document)
    path = project / ".ananke.toml"
    path.write_text(text, encoding="utf-8")
    _load_and_use(path, text)
    assert all(isinstance(issue, ConfigIssue) for issue in check(path))


@FUZZ
@given(
    glob=st.lists(
        st.one_of(
            st.text(st.sampled_from("[]!^-\\*?/az.09 "), max_size=3),
            st.builds("[{}{}-{}]".format, st.sampled_from(["", "!", "^"]), *[st.sampled_from("az09-[]\\")] * 2),
        ),
        min_size=1,
        max_size=3,
    ).map("".join),
    files=st.lists(st.text(st.sampled_from("az/.-[]!"), max_size=12), max_size=4),
)
def test_random_globs_are_refused_at_load_or_match_any_path(project: Path, glob: str, files: list[str]):
    path = project / ".ananke.toml"
    entry = json.dumps(glob)
    path.write_text(f'[privacy]\nexclude = [{entry}]\n\n[[constraints]]\nname = "c"\nregex = "a"\nfiles = [{entry}]\n')
    try:
        config = load_config(path)
    except ConfigError as err:
        _clear(err.issues, path.read_text())
        assert all(issue.line in (2, 7) for issue in err.issues)  # at the globs
        return
    for file in files:  # every glob that loaded can be matched against any path
        config.is_excluded(config.root / file)
        config.constraints_for(config.root / file, None, "completion")


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_random_bytes_load_or_report_positioned_issues(project: Path, raw: bytes):
    path = project / ".ananke.toml"
    path.write_bytes(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # only its line count matters
    _load_and_use(path, text)


HOSTILE_FILES = {
    "nested arrays": _deep(2000, "["),
    "nested inline tables": _deep(2000, "{a = "),
    "integer of 5000 digits": "[generation]\nmax_tokens = " + "9" * 5000 + "\n",
    "hex integer of 5000 digits": "[generation]\nmax_tokens = 0x" + "f" * 5000 + "\n",
    "huge string": "[generation]\nprofile = " + json.dumps("m" * 1_000_000) + "\n",
    "NUL in the model path": '[service]\nmodel = "a\\u0000b"\n',
    "endpoint port out of range": '[service]\nendpoint = "http://127.0.0.1:99999"\n',
    "endpoint with a space": '[service]\nendpoint = "http://exa mple.com"\n',
    "invalid glob range": '[privacy]\nexclude = ["[z-a].txt"]\n',
    "invalid glob in files": '[[constraints]]\nname = "x"\nregex = "a"\nfiles = ["src/[9-0]*"]\n',
    "schema nested 300 deep": '[[constraints]]\nname = "x"\njson_schema = ' + "{items = " * 300 + "{}" + "}" * 300,
    "byte order marks": "\ufeff\ufeff[generation]\n",
    "lone surrogate bytes": '[service]\nmodel = "\udc80"\n',
}


@pytest.mark.parametrize("text", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_hostile_files_fail_with_a_positioned_issue(tmp_path: Path, text: str):
    path = tmp_path / ".ananke.toml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _load_and_use(path, text)
    assert check(path), "each of these files has something wrong with it"


def _load_unblocked(path: Path, pipe: Path) -> ConfigError:
    """The ``ConfigError`` loading ``path`` raises; a load that blocks reading ``pipe`` fails the
    test within seconds (unblocked by an end of file) instead of hanging the suite."""
    outcome: list[BaseException | object] = []

    def load() -> None:
        try:
            outcome.append(load_config(path))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))  # a writer that closes: the reader sees EOF
        worker.join()
        pytest.fail(f"loading {path} blocked reading the pipe {pipe}")
    [result] = outcome
    assert isinstance(result, ConfigError), result
    return result


def test_a_pipe_named_like_a_config_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / ".ananke.toml"
    os.mkfifo(fifo)
    [issue] = _load_unblocked(fifo, fifo).issues
    assert issue.message == "not a regular file"


def test_a_pipe_as_a_grammar_file_is_refused_without_blocking(tree: Path):
    path = tree / ".ananke.toml"
    path.write_text('[[constraints]]\nname = "c"\ngrammar_file = "fifo"\n', encoding="utf-8")
    [issue] = _load_unblocked(path, tree / "fifo").issues
    assert "'fifo' is not a regular file" in issue.message and issue.line == 3


def test_an_oversized_config_is_refused(tmp_path: Path):
    path = tmp_path / ".ananke.toml"
    path.write_text("# padding\n" * 500_000)
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        load_config(path)


# -- *_file entries: nothing outside the project --------------------------------------------------

INSIDE_GRAMMAR = 'start: "inside"\n'


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with files inside, a secret outside, and symlinks of every kind."""
    base = tmp_path_factory.mktemp("escape")
    outside, root = base / "outside", base / "project"
    (outside / "dir").mkdir(parents=True)
    (root / "sub").mkdir(parents=True)
    for folder in (outside, outside / "dir"):
        (folder / "g.lark").write_text('start: "SECRET"\n')
    for folder in (root, root / "sub"):
        (folder / "g.lark").write_text(INSIDE_GRAMMAR)
    (root / "link_out").symlink_to(outside / "dir")  # a directory outside
    (root / "link_file_out").symlink_to(outside / "g.lark")  # a file outside
    (root / "sub" / "link_abs_out").symlink_to("/etc/hostname")
    (root / "link_in").symlink_to(root / "sub")  # a directory inside: fine
    (root / "link_file_in").symlink_to("sub/g.lark")  # relative, inside: fine
    (root / "link_chain").symlink_to("link_file_out")  # inside, then outside
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to(base / "missing")
    os.mkfifo(root / "fifo")
    return root


_SEGMENTS = [
    "..",
    ".",
    "sub",
    "g.lark",
    "link_out",
    "link_file_out",
    "link_abs_out",
    "link_in",
    "link_file_in",
    "link_chain",
    "loop",
    "dangling",
    "outside",
    "project",
    "",
    "~",
    "etc",
    "hostname",
    "a\u0000b",
    "\u00e9t\u00e9",
]
file_paths = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=5),
).filter(lambda path: path.strip())


@settings(max_examples=200, deadline=None)
@given(relative=file_paths, key=st.sampled_from(["grammar_file", "json_schema_file"]))
def test_file_entries_never_resolve_outside_the_project(tree: Path, relative: str, key: str):
    path = tree / ".ananke.toml"
    path.write_text(f'[[constraints]]\nname = "c"\n{key} = {json.dumps(relative)}\n', encoding="utf-8")
    real_root = tree.resolve()
    try:
        config = load_config(path)
    except ConfigError as err:
        [issue] = err.issues
        assert issue.line == 3 and issue.key == f"constraints[0].{key}"
        assert repr(relative) in issue.message or f"'{relative}'" in issue.message  # names the entry
        if "\x00" not in relative:
            resolved = Path(os.path.realpath(tree / relative))
            if not resolved.is_relative_to(real_root):
                assert "outside the config's directory" in issue.message
        return
    # it loaded: the file read is inside the project, and is what the project holds there
    resolved = Path(os.path.realpath(tree / relative))
    assert resolved.is_relative_to(real_root) and resolved.is_file()
    [constraint] = config.constraints
    content = constraint.ir.grammar if key == "grammar_file" else constraint.ir.json_schema
    assert content == INSIDE_GRAMMAR
    assert "SECRET" not in content


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("../outside/g.lark", "outside the config's directory"),
        ("/etc/hostname", "outside the config's directory"),
        ("link_out/g.lark", "outside the config's directory"),
        ("link_file_out", "outside the config's directory"),
        ("link_chain", "outside the config's directory"),
        ("sub/link_abs_out", "outside the config's directory"),
        ("sub/../../outside/g.lark", "outside the config's directory"),
        ("loop", "cannot be resolved"),
        ("sub", "is a directory"),
        ("a\u0000b", "NUL character"),
    ],
)
def test_escapes_and_odd_files_are_refused_with_the_reason(tree: Path, relative: str, reason: str):
    path = tree / ".ananke.toml"
    path.write_text(f'[[constraints]]\nname = "c"\ngrammar_file = {json.dumps(relative)}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert reason in issue.message and issue.line == 3


@pytest.mark.parametrize("relative", ["g.lark", "sub/g.lark", "link_in/g.lark", "link_file_in", "./sub/../g.lark"])
def test_files_inside_the_project_load(tree: Path, relative: str):
    path = tree / ".ananke.toml"
    path.write_text(f'[[constraints]]\nname = "c"\ngrammar_file = {json.dumps(relative)}\n', encoding="utf-8")
    [constraint] = load_config(path).constraints
    assert constraint.ir.grammar == INSIDE_GRAMMAR


@pytest.mark.parametrize("file", ["/elsewhere/x\u0000y/.env", "/elsewhere/loop/.env"])
def test_paths_that_cannot_be_resolved_are_outside_the_project(tmp_path: Path, file: str):
    (tmp_path / "loop").symlink_to("loop")
    config = ProjectConfig.default(tmp_path)
    path = Path(file.replace("/elsewhere", str(tmp_path)) if "loop" in file else file)
    assert config.is_excluded(path)  # `.env` is private wherever it is
    assert config.constraints_for(path, None, "completion") == []
