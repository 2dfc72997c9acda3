"""`.ananke.toml`: parsing, positioned errors, file includes, constraint lookup, privacy, discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ananke_lsp.config import (
    DEFAULT_EXCLUDES,
    ProjectConfig,
    check,
    compile_check,
    find_config,
    glob_match,
    load_config,
)
from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.errors import ConfigError, ConfigIssue

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo-project"

FULL = """\
[service]
endpoint = "https://team--ananke.modal.run"
model = "Qwen/Qwen2.5-Coder-7B-Instruct"
timeout_secs = 60
max_retries = 0

[generation]
max_tokens = 512
temperature = 0.0
profile = "deterministic"

[completion]
enabled = false
debounce_ms = 0
prefix_lines = 10
suffix_lines = 0
max_tokens = 1024

[privacy]
exclude = ["private/**"]

[[constraints]]
name = "ident"
languages = ["python"]
files = ["src/**/*.py"]
actions = ["completion", "inline_completion"]
regex = "[a-z_]+"
regex_patterns = ["[a-z]+.*", ".*[a-z]"]

[[constraints]]
name = "inline_schema"
json_schema = { type = "object", properties = { n = { type = "integer" } }, required = ["n"] }

[[constraints]]
name = "string_schema"
json_schema = '{"type": "array"}'
actions = ["generate"]

[[constraints]]
name = "from_files"
languages = ["json"]
json_schema_file = "schemas/s.json"
grammar = 'start: "x"'

[[constraints]]
name = "lark_file"
files = ["*.calc"]
grammar_file = "grammars/g.lark"
"""


def write(root: Path, text: str, name: str = ".ananke.toml") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.issues, "a ConfigError always names at least one issue"
    return info.value.issues


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def full(tmp_path: Path) -> ProjectConfig:
    write(tmp_path, json.dumps({"type": "object"}), "schemas/s.json")
    write(tmp_path, 'start: "1" | "2"\n', "grammars/g.lark")
    return load_config(write(tmp_path, FULL))


# -- parsing -----------------------------------------------------------------------------------


def test_full_file_parses(full: ProjectConfig, tmp_path: Path) -> None:
    s = full.settings
    assert s.service.endpoint == "https://team--ananke.modal.run"
    assert (s.service.timeout_secs, s.service.max_retries) == (60, 0)
    assert (s.generation.max_tokens, s.generation.temperature, s.generation.profile) == (512, 0.0, "deterministic")
    assert s.completion.enabled is False and s.completion.max_tokens == 1024 and s.completion.suffix_lines == 0
    assert s.privacy.exclude == ["private/**"]
    assert full.root == tmp_path and full.path == tmp_path / ".ananke.toml"
    irs = {c.ir.name: c.ir for c in full.constraints}
    assert list(irs) == ["ident", "inline_schema", "string_schema", "from_files", "lark_file"]
    assert irs["ident"].regex_patterns == ["[a-z_]+", "[a-z]+.*", ".*[a-z]"]  # regex first, then the list
    assert json.loads(irs["inline_schema"].json_schema or "") == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    }
    assert irs["string_schema"].json_schema == '{"type": "array"}'
    assert json.loads(irs["from_files"].json_schema or "") == {"type": "object"}  # file contents inlined
    assert irs["from_files"].grammar == 'start: "x"'
    assert irs["lark_file"].grammar == 'start: "1" | "2"\n'
    assert compile_check(full) == []
    assert full.local_model is None  # a remote service names its own model


def test_empty_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing set\n"))
    s = config.settings
    assert s.service.endpoint is None and s.service.model == "default"
    assert (s.service.timeout_secs, s.service.max_retries) == (300, 3)
    assert (s.generation.max_tokens, s.generation.temperature, s.generation.profile) == (256, 0.2, None)
    assert (s.completion.enabled, s.completion.debounce_ms) == (True, 150)
    assert (s.completion.prefix_lines, s.completion.suffix_lines, s.completion.max_tokens) == (256, 64, 64)
    assert s.privacy.exclude == [] and config.constraints == ()
    assert config.settings == ProjectConfig.default(tmp_path).settings


# -- positioned errors -------------------------------------------------------------------------


def test_syntax_error_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[generation]\nmax_tokens = 10\ntemperature = = 0.3\n")
    (issue,) = errors_of(path)
    assert (issue.line, issue.file) == (3, str(path))
    assert issue.message.startswith("invalid TOML: ")
    assert "(at line" not in issue.message  # the position moved into the issue, not left in the text


def test_duplicate_key_is_a_readable_syntax_error(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "[completion]\nenabled = true\n\nenabled = false\n"))
    assert issue.line == 4 and "already set" in issue.message


def test_bad_value_gives_exact_line_and_readable_message(tmp_path: Path) -> None:
    text = "# settings\n[service]\ntimeout_secs = 10\n\n[generation]\nmax_tokens = 100\n  temperature = 1.5  # hot\n"
    path = write(tmp_path, text)
    (issue,) = errors_of(path)
    assert (issue.line, issue.column) == (7, 3)
    assert issue.message == "generation.temperature: must be <= 1.0 (got 1.5)"
    assert issue.key == "generation.temperature"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:7:3: generation.temperature: must be <= 1.0 (got 1.5)"


def test_wrong_type_is_not_coerced(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, '[completion]\ndebounce_ms = "150"\n'))
    assert issue.line == 2 and issue.message == 'completion.debounce_ms: must be a whole number (got "150")'


def test_dotted_and_inline_forms_are_located(tmp_path: Path) -> None:
    text = "completion.enabled = true\ngeneration = { max_tokens = 10, temperature = 2.0 }\n"
    (issue,) = errors_of(write(tmp_path, text))
    assert (issue.line, issue.column) == (2, text.splitlines()[1].index("temperature") + 1)
    assert issue.message.startswith("generation.temperature: must be <= 1.0")


def test_multiline_strings_do_not_confuse_the_locator(tmp_path: Path) -> None:
    text = (
        "[[constraints]]\nname = \"g\"\ngrammar = '''\n[generation]\ntemperature = 9\nstart: \"a\"\n'''\n"
        "[generation]\ntemperature = 3.0\n"
    )
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 9 and issue.key == "generation.temperature"


def test_error_in_nth_constraint_points_into_that_table(tmp_path: Path) -> None:
    text = (
        '[[constraints]]\nname = "a"\nregex = "a"\n\n'
        '[[constraints]]\nname = "b"\nregex = "b"\n\n'
        '[[constraints]]\nname = "c"\nregex = "c"\nactions = [\n  "completion",\n  "implement",\n]\n'
    )
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 14 and issue.column == 3
    assert issue.key == "constraints[2].actions[1]"
    assert "must be one of" in issue.message and '"implement"' in issue.message


def test_missing_key_points_at_the_table_header(tmp_path: Path) -> None:
    text = '[[constraints]]\nname = "a"\nregex = "a"\n\n[[constraints]]  # second\nregex = "b"\n'
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 5 and issue.message == "constraints[1] needs the key 'name'"


def test_unknown_key_is_named_with_its_table(tmp_path: Path) -> None:
    text = "[generation]\nmax_tokens = 10\ntemprature = 0.3\n[colour]\nx = 1\n"
    issues = errors_of(write(tmp_path, text))
    assert [(i.line, i.message) for i in issues] == [
        (3, "unknown key 'temprature' in [generation] (did you mean 'temperature'?)"),
        (4, "unknown section or key 'colour'"),
    ]


def test_profiles_per_action_are_accepted(tmp_path: Path) -> None:
    text = '[generation]\nprofile = "creative"\n\n[generation.profiles]\nimplement_function = "deterministic"\n'
    generation = load_config(write(tmp_path, text)).settings.generation
    assert (generation.profile, generation.profiles.implement_function, generation.profiles.fill_json) == (
        "creative",
        "deterministic",
        None,
    )


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            '[generation.profiles]\nimplement = "creative"\n',
            "generation.profiles.implement",
            "unknown key 'implement' in [generation.profiles] (did you mean 'implement_function'?)",
        ),
        (
            '[generation.profiles]\nfill_json = "wild"\n',
            "generation.profiles.fill_json",
            "generation.profiles.fill_json: must be one of 'deterministic', 'balanced' or 'creative' (got \"wild\")",
        ),
        (
            '[generation]\nprofile = "Creative"\n',
            "generation.profile",
            "generation.profile: must be one of 'deterministic', 'balanced' or 'creative' (got \"Creative\")",
        ),
    ],
)
def test_unknown_actions_and_profiles_are_named(tmp_path: Path, text: str, key: str, message: str) -> None:
    (issue,) = errors_of(write(tmp_path, text))
    assert (issue.line, issue.key, issue.message) == (2, key, message)


@pytest.mark.parametrize("key", ["api_key", "MODAL_API_KEY", "apiKey", "auth_token", "client_secret", "password"])
def test_secret_key_is_rejected_at_its_line(tmp_path: Path, key: str) -> None:
    text = f'[generation]\nmax_tokens = 5\n\n[service]\nendpoint = "https://x.example"\n{key} = "sk-123"\n'
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 6
    assert "secrets never live in project files" in issue.message and "MODAL_API_KEY" in issue.message


def test_secret_inside_an_unknown_table_is_still_called_a_secret(tmp_path: Path) -> None:
    issues = errors_of(write(tmp_path, '[auth]\nuser = "me"\ntoken = "t"\n'))
    assert {(i.line, "secret" in i.message) for i in issues} == {(1, False), (3, True)}


def test_schema_property_named_like_a_secret_is_not_a_secret(tmp_path: Path) -> None:
    text = '[[constraints]]\nname = "login"\njson_schema = { properties = { password = { type = "string" } } }\n'
    (constraint,) = load_config(write(tmp_path, text)).constraints
    assert "password" in (constraint.ir.json_schema or "")


def test_endpoint_with_credentials_is_rejected(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, '[service]\nendpoint = "https://me:hunter2@x.example"\n'))
    assert issue.line == 2 and "secrets never live" in issue.message


def test_bad_endpoint_url(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, '\n[service]\nendpoint = "ftp://x"\n'))
    assert issue.line == 3 and issue.message.startswith("service.endpoint: invalid service endpoint URL")
    # found by the fuzzer: a long value is shown cut, so the message stays one readable line
    (issue,) = errors_of(write(tmp_path, f'[service]\nendpoint = "{"x" * 1899}"\n'))
    assert "invalid service endpoint URL 'xxx" in issue.message and len(issue.message) < 400


def test_constraint_without_a_source(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, '[[constraints]]\nname = "empty"\nlanguages = ["python"]\n'))
    assert issue.line == 1
    assert "constraint 'empty' needs at least one of" in issue.message and "grammar_file" in issue.message


@pytest.mark.parametrize(("inline", "file"), [("json_schema", "json_schema_file"), ("grammar", "grammar_file")])
def test_inline_and_file_source_conflict(tmp_path: Path, inline: str, file: str) -> None:
    text = f'[[constraints]]\nname = "both"\n{inline} = "{{}}"\n{file} = "x"\n'
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 4 and f"set {inline} or {file}, not both" in issue.message


def test_duplicate_constraint_names(tmp_path: Path) -> None:
    text = '[[constraints]]\nname = "a"\nregex = "a"\n[[constraints]]\nname = "a"\nregex = "b"\n'
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 5 and "'a' is used twice" in issue.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "[generation]\ntemperature = -1.0\n[completion]\ndebounce_ms = 9000\n"
    assert [i.line for i in errors_of(write(tmp_path, text))] == [2, 4]


def test_missing_config_and_non_utf8_config(tmp_path: Path) -> None:
    (missing,) = errors_of(tmp_path / "nope.toml")
    assert missing.message == "file not found"
    bad = tmp_path / ".ananke.toml"
    bad.write_bytes('[generation]\nprofile = "été '.encode() + b'caf\xe9"\n')
    (issue,) = errors_of(bad)
    assert (issue.line, issue.column) == (2, 19)  # counted in characters, not bytes
    assert "not valid UTF-8" in issue.message


# -- *_file includes ---------------------------------------------------------------------------


def test_file_path_traversal_is_rejected(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(tmp_path, "{}", "outside.json")
    text = '[[constraints]]\nname = "escape"\njson_schema_file = "../outside.json"\n'
    (issue,) = errors_of(write(project, text))
    assert issue.line == 3
    assert "json_schema_file" in issue.message and "../outside.json" in issue.message and "outside" in issue.message


def test_symlink_escape_is_rejected(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(tmp_path, 'start: "x"', "elsewhere/g.lark")
    (project / "grammars").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / "g.lark", project / "grammars" / "g.lark")
    text = '[[constraints]]\nname = "linked"\n\ngrammar_file = "grammars/g.lark"\n'
    (issue,) = errors_of(write(project, text))
    assert issue.line == 4 and "grammar_file" in issue.message and "outside the config's directory" in issue.message


def test_symlink_inside_the_project_is_fine(tmp_path: Path) -> None:
    write(tmp_path, 'start: "x"', "real/g.lark")
    os.symlink(tmp_path / "real", tmp_path / "link")
    text = '[[constraints]]\nname = "ok"\ngrammar_file = "link/g.lark"\n'
    assert load_config(write(tmp_path, text)).constraints[0].ir.grammar == 'start: "x"'


def test_missing_and_undecodable_include(tmp_path: Path) -> None:
    (tmp_path / "bad.lark").write_bytes(b'start: "\xff"')
    text = (
        '[[constraints]]\nname = "gone"\njson_schema_file = "schemas/missing.json"\n'
        '[[constraints]]\nname = "binary"\ngrammar_file = "bad.lark"\n'
    )
    missing, binary = errors_of(write(tmp_path, text))
    assert missing.line == 3 and "'schemas/missing.json' not found" in missing.message
    assert binary.line == 6 and "not valid UTF-8" in binary.message


def test_include_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (issue,) = errors_of(write(tmp_path, '[[constraints]]\nname = "d"\njson_schema_file = "schemas"\n'))
    assert issue.line == 3 and "is a directory" in issue.message


# -- constraint lookup -------------------------------------------------------------------------


def names(irs: list) -> list[str]:
    return [ir.name for ir in irs]


def test_constraints_for_filters_by_language_files_and_action(full: ProjectConfig, tmp_path: Path) -> None:
    py = tmp_path / "src" / "pkg" / "mod.py"
    assert names(full.constraints_for(py, "python", "completion")) == ["ident", "inline_schema"]
    # actions: `ident` is for completions only, `string_schema` for generate only
    assert names(full.constraints_for(py, "python", "implement_function")) == ["inline_schema"]
    assert names(full.constraints_for(py, "python", "generate")) == ["inline_schema", "string_schema"]
    # languages
    assert names(full.constraints_for(py, "rust", "completion")) == ["inline_schema"]
    assert names(full.constraints_for(tmp_path / "a.json", "json", "completion")) == ["inline_schema", "from_files"]
    # files: `src/**/*.py` does not match a .py file elsewhere; `*.calc` matches at any depth
    assert names(full.constraints_for(tmp_path / "tools" / "x.py", "python", "completion")) == ["inline_schema"]
    assert "lark_file" in names(full.constraints_for(tmp_path / "a" / "b" / "c.calc", "calc", "completion"))
    # a file outside the project, or no file at all, matches no `files` glob
    outside = tmp_path.parent / "src" / "pkg" / "mod.py"
    assert names(full.constraints_for(outside, "python", "completion")) == ["inline_schema"]
    assert names(full.constraints_for(None, "python", "completion")) == ["inline_schema"]
    # a relative path is taken from the working directory, like any path
    assert full.constraints_for(py, None, "completion")[0].name == "inline_schema"


def test_constraints_for_rejects_unknown_action(full: ProjectConfig) -> None:
    with pytest.raises(ValueError, match="unknown action 'implement'"):
        full.constraints_for(None, None, "implement")


def test_constraints_for_returns_compilable_irs(full: ProjectConfig, tmp_path: Path) -> None:
    irs = full.constraints_for(tmp_path / "src" / "m.py", "python", "completion")
    compiled = compile_constraints(irs[:1])
    assert validate_text("abc", compiled).all_satisfied
    assert not validate_text("ab1", compiled).all_satisfied


# -- globs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/a/b/c.py", True),
        ("src/**/*.py", "lib/src/a.py", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/a/b.py", False),
        ("*.py", "a.py", True),
        ("*.py", "deep/down/a.py", True),
        ("*.py", "a.pyc", False),
        ("id_*", "keys/id_rsa", True),
        ("/top.txt", "top.txt", True),
        ("/top.txt", "sub/top.txt", False),
        ("**/tests/*.py", "tests/t.py", True),
        ("**/tests/*.py", "a/b/tests/t.py", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/y/c", False),
        ("secrets/**", "secrets/a/b.txt", True),
        ("secrets/**", "secrets", False),
        ("build/", "build/out/x.o", True),
        ("build/", "pkg/build/x.o", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("[abc].md", "b.md", True),
        ("[!abc].md", "b.md", False),
        ("**", "any/thing", True),
        ("a.b", "aXb", False),
        ("", "anything", False),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


# -- privacy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    [
        *(".env", ".env.local", "keys/server.pem", "secrets/a/b.txt", "id_rsa", "deploy/tls.key", "app/secrets/x"),
        *(".envrc", ".netrc", ".npmrc", ".pypirc", ".git-credentials", "gcp/credentials.json", "certs/client.p12"),
        *("certs/client.pfx", ".aws/credentials", "home/.aws/config", ".ssh/config", "u/.ssh/known_hosts"),
        *(".ENV", ".Env.Local", "KEYS/SERVER.PEM", "Secrets/a.txt", "ID_RSA", ".NETRC"),  # as macOS and Windows do
    ],
)
def test_default_excludes(tmp_path: Path, rel: str) -> None:
    assert ProjectConfig.default(tmp_path).is_excluded(tmp_path / rel)


@pytest.mark.parametrize("rel", ["src/main.py", "envs.py", "docs/secrets.md", "config/app.json", "key.txt"])
def test_ordinary_files_are_not_excluded(tmp_path: Path, rel: str) -> None:
    assert not ProjectConfig.default(tmp_path).is_excluded(tmp_path / rel)


def test_defaults_also_apply_outside_the_root(tmp_path: Path) -> None:
    config = ProjectConfig.default(tmp_path / "project")
    assert config.is_excluded(tmp_path / "elsewhere" / ".env")
    assert config.is_excluded(tmp_path / "elsewhere" / "server.pem")
    assert not config.is_excluded(tmp_path / "elsewhere" / "main.py")


def test_custom_excludes_add_to_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[privacy]\nexclude = ["data/customers/**", "*.sqlite", "private"]\n'))
    assert config.is_excluded(tmp_path / "data" / "customers" / "2024" / "list.csv")
    assert config.is_excluded(tmp_path / "db" / "app.sqlite")
    assert config.is_excluded(tmp_path / "lib" / "private" / "notes.txt")  # a matching directory covers its files
    assert config.is_excluded(tmp_path / ".env")  # defaults still hold
    assert not config.is_excluded(tmp_path / "data" / "public.csv")
    assert not config.is_excluded(tmp_path.parent / "db.sqlite")  # custom globs are relative to the root
    assert {".env", ".env.*", "*.pem", "*.key", "id_*", "secrets/**"} <= set(DEFAULT_EXCLUDES)


def test_exclude_glob_cannot_climb_out(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, '[privacy]\n\nexclude = ["ok/**", "../x"]\n'))
    assert issue.line == 3 and "'..'" in issue.message


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_nearest_wins_in_a_monorepo(tmp_path: Path) -> None:
    top = write(tmp_path, "")
    service = write(tmp_path, "", "packages/service/.ananke.toml")
    deep_file = tmp_path / "packages" / "service" / "src" / "api" / "x.py"
    deep_file.parent.mkdir(parents=True)
    deep_file.write_text("")
    other = tmp_path / "packages" / "web" / "index.ts"
    other.parent.mkdir(parents=True)
    assert find_config(deep_file) == service
    assert find_config(deep_file.parent) == service
    assert find_config(tmp_path / "packages" / "service") == service
    assert find_config(other) == top
    assert find_config(other, stop_at=tmp_path) == top


def test_discovery_stops_at_the_workspace_root(tmp_path: Path) -> None:
    write(tmp_path, "")
    workspace = tmp_path / "ws"
    file = workspace / "src" / "a.py"
    file.parent.mkdir(parents=True)
    assert find_config(file, stop_at=workspace) is None
    assert find_config(file, stop_at=tmp_path) == tmp_path / ".ananke.toml"
    write(workspace, "")
    assert find_config(file, stop_at=workspace) == workspace / ".ananke.toml"
    assert find_config(tmp_path / "other" / "b.py", stop_at=workspace) is None  # not inside the workspace


# -- compile check and `ananke check` ----------------------------------------------------------


def test_compile_check_reports_bad_regex_at_its_line(tmp_path: Path) -> None:
    text = (
        '[[constraints]]\nname = "fine"\nregex = "[a-z]+"\n\n'
        '[[constraints]]\nname = "broken"\nlanguages = ["python"]\nregex = "(unclosed"\n'
    )
    path = write(tmp_path, text)
    (issue,) = compile_check(load_config(path))
    assert (issue.file, issue.line, issue.column) == (str(path), 8, 1)
    assert issue.message.startswith("constraint 'broken': ")
    assert "unclosed" in issue.message
    assert issue.key == "constraints[1].regex"


def test_compile_check_finds_the_bad_pattern_in_a_list(tmp_path: Path) -> None:
    text = '[[constraints]]\nname = "list"\nregex = "ok"\nregex_patterns = [\n  "fine",\n  "a{2,1}",\n]\n'
    (issue,) = compile_check(load_config(write(tmp_path, text)))
    assert (issue.line, issue.column, issue.key) == (6, 3, "constraints[0].regex_patterns[1]")


def test_compile_check_reports_bad_grammar_file_and_schema(tmp_path: Path) -> None:
    write(tmp_path, "start: undefined_rule\n", "grammars/bad.lark")
    text = (
        '[[constraints]]\nname = "g"\ngrammar_file = "grammars/bad.lark"\n'
        '[[constraints]]\nname = "s"\njson_schema = "{not json"\n'
    )
    grammar, schema = compile_check(load_config(write(tmp_path, text)))
    assert grammar.line == 3 and grammar.message.startswith("constraint 'g': in grammars/bad.lark: ")
    assert schema.line == 6 and schema.message.startswith("constraint 's': not valid JSON")


def test_check_directory_and_file(tmp_path: Path) -> None:
    (issue,) = check(tmp_path)
    assert "no .ananke.toml found" in issue.message
    path = write(tmp_path, '[[constraints]]\nname = "r"\nregex = "("\n')
    (sub := tmp_path / "sub").mkdir()
    assert [i.line for i in check(sub)] == [3]  # found by walking up, then compiled
    path.write_text("[generation]\nmax_tokens = 0\n")
    assert [(i.line, i.message) for i in check(path)] == [(2, "generation.max_tokens: must be >= 1 (got 0)")]
    path.write_text("")
    assert check(path) == []


# -- the example project -----------------------------------------------------------------------


def test_example_project_loads_and_every_constraint_compiles() -> None:
    config = load_config(EXAMPLE / ".ananke.toml")
    assert check(EXAMPLE) == []
    assert compile_check(config) == []
    by_name = {c.spec.name: c for c in config.constraints}
    assert by_name["app_config"].spec.json_schema_file and by_name["app_config"].ir.json_schema
    assert by_name["calc_expressions"].spec.grammar_file and by_name["calc_expressions"].ir.grammar
    assert by_name["python_style"].ir.regex_patterns and by_name["point"].ir.json_schema
    for c in config.constraints:
        compile_constraints([c.ir])


def test_example_files_satisfy_their_constraints() -> None:
    config = load_config(EXAMPLE / ".ananke.toml")
    samples = {
        EXAMPLE / "config" / "app.json": ("json", ["app_config"]),
        EXAMPLE / "data" / "points" / "origin-offset.json": ("json", ["point"]),
        EXAMPLE / "calc" / "budget.calc": ("calc", ["calc_expressions"]),
    }
    for file, (language, expected) in samples.items():
        irs = config.constraints_for(file, language, "completion")
        assert names(irs) == expected
        result = validate_text(file.read_text().rstrip("\n"), compile_constraints(irs))
        assert result.all_satisfied, (file, result.errors)
    geometry = EXAMPLE / "src" / "geometry.py"
    python = compile_constraints(config.constraints_for(geometry, "python", "implement_function"))
    assert validate_text("    return math.pi * radius**2\n", python).all_satisfied
    assert not validate_text("\treturn 1\n", python).all_satisfied
    assert not validate_text("    return 1  \n", python).all_satisfied
    assert not config.is_excluded(EXAMPLE / "src" / "geometry.py")
    assert config.is_excluded(EXAMPLE / "data" / "customers" / "list.csv")


@pytest.mark.parametrize("model", ["/etc/passwd", "../outside.gguf", "model.gguf", "~/.cache/x.gguf"])
def test_a_project_file_cannot_choose_a_model_file(tmp_path: Path, model: str) -> None:
    config = write(tmp_path, f'[service]\nmodel = "{model}"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    (issue,) = raised.value.issues
    assert (issue.line, "only a pinned model") == (2, "only a pinned model") and "only a pinned model" in issue.message


@pytest.mark.parametrize("model", ["qwen2.5-coder-1.5b", "smollm2-135m", "auto", "default"])
def test_a_project_file_may_name_a_pinned_model(tmp_path: Path, model: str) -> None:
    config = load_config(write(tmp_path, f'[service]\nmodel = "{model}"\n'))
    assert config.local_model == (None if model == "default" else model)
