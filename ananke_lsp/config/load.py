"""Read a ``.ananke.toml`` into a ``ProjectConfig``; every problem becomes a ``ConfigIssue`` at the
line that causes it, in words a person understands."""

from __future__ import annotations

import difflib
import json
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..api_types import PyConstraintIR
from ..constraints.compile import compile_constraints
from ..errors import ConfigError, ConfigIssue, ConstraintError
from ..templates import PromptTemplates, check_template
from .positions import KeyPositions, Loc, scan_positions
from .project import LoadedConstraint, ProjectConfig
from .schema import (
    SECRET_MESSAGE,
    CompletionSettings,
    ConstraintSpec,
    GenerationSettings,
    PrivacySettings,
    ProjectSettings,
    ServiceSettings,
    TemplateSettings,
    is_secret_key,
)

MAX_INCLUDED_FILE_BYTES = 4 * 1024 * 1024  # a schema or grammar file; more is a mistake, not a grammar
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a .ananke.toml is a few KiB; parsing more only stalls the editor

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_WRAPPER_POSITION = re.compile(r"^at \d+\(\d+\): ")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")
_SECTIONS: dict[str, type[BaseModel]] = {
    "service": ServiceSettings,
    "generation": GenerationSettings,
    "completion": CompletionSettings,
    "privacy": PrivacySettings,
    "constraints": ConstraintSpec,
    "templates": TemplateSettings,
}


def load_config(path: Path) -> ProjectConfig:
    """Parse, validate and resolve ``path``; raise ``ConfigError`` listing every problem found."""
    path = Path(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_issue(str(path), text, exc)]) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and inline tables
        message = "invalid TOML: arrays or inline tables are nested too deeply"
        raise ConfigError([ConfigIssue(file=str(path), line=1, column=1, message=message)]) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit conversion limit
        message = f"invalid TOML: {exc}".split("; use sys.")[0]
        raise ConfigError([ConfigIssue(file=str(path), line=1, column=1, message=message)]) from None
    positions = scan_positions(text)
    secrets = _secret_locs(data)
    issues = [_secret_issue(str(path), positions, loc) for loc in secrets]
    try:
        settings = ProjectSettings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            if not (err["type"] == "extra_forbidden" and tuple(err["loc"]) in secrets):  # already reported
                issues.append(_validation_issue(str(path), positions, err))
    if issues:
        raise ConfigError(issues)
    root = path.absolute().parent
    constraints, issues = _resolve_constraints(str(path), root, settings, positions)
    prompts, template_issues = _resolve_templates(path, root, settings, positions)
    if issues or template_issues:
        raise ConfigError(issues + template_issues)
    return ProjectConfig(
        settings=settings, root=root, path=path, constraints=constraints, positions=positions, prompts=prompts
    )


def compile_check(config: ProjectConfig) -> list[ConfigIssue]:
    """Compile every constraint on its own; each that fails is an issue at the key that caused it."""
    issues = []
    for constraint in config.constraints:
        try:
            compile_constraints([constraint.ir])
        except ConstraintError as err:
            key = _offending_key(constraint, err.kind)
            loc: Loc = ("constraints", constraint.index, *key)
            line, column = config.positions.locate(loc)
            reason = err.reason
            if err.kind == "regex":  # llguidance's position is in its wrapper grammar, not the user's regex
                reason = _WRAPPER_POSITION.sub("", reason)
            if key and str(key[0]).endswith("_file"):
                reason = f"in {getattr(constraint.spec, str(key[0]))}: {reason}"
            issues.append(
                ConfigIssue(
                    file=str(config.path) if config.path is not None else str(config.root),
                    line=line,
                    column=column,
                    message=f"constraint '{constraint.spec.name}': {reason}",
                    key=_dotted(loc),
                )
            )
    return issues


# -- reading -----------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    def fail(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(file=str(path), line=1, column=1, message=message)])

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # reading a pipe or a device would block or never end
            raise fail("not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise fail(f"the file is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    except ValueError as exc:  # a path with a NUL character
        raise fail(f"cannot read the file: {exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        message = f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        raise ConfigError([ConfigIssue(file=str(path), line=line, column=column, message=message)]) from None


def _syntax_issue(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    message = str(exc)
    line, column = 1, 1
    if match := _TOML_POSITION.search(message):
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    elif match := _TOML_AT_END.search(message):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = message[: match.start()] + " at the end of the file"
    if message.startswith("Cannot overwrite a value"):
        message = "this key is already set earlier in the file"
    elif message.startswith("Cannot declare"):
        message = "this table is already defined earlier in the file"
    return ConfigIssue(file=file, line=line, column=column, message=f"invalid TOML: {message[:1].lower()}{message[1:]}")


# -- validation errors -------------------------------------------------------------------------


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _table_name(loc: Loc) -> str:
    if not loc:
        return "the top level"
    if loc[0] == "constraints" and len(loc) >= 2:
        return _dotted(loc)  # constraints[2], counting from 0 like the array it is
    return f"[{_dotted(loc)}]"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # enough to recognise it; a message is one line in an editor
        return json.dumps(value) if len(value) <= 60 else json.dumps(value[:60])[:-1] + '…"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int) and value.bit_length() > 64:  # str() refuses past 4300 digits (hex has no limit)
        return f"an integer of {value.bit_length()} bits"
    return str(value)


def _known_keys(loc: Loc) -> list[str]:
    section = loc[0] if loc else None
    model = ProjectSettings if section is None else _SECTIONS.get(str(section))
    if model is not None and len(loc) == 2 and isinstance(loc[1], str):  # a table inside a section
        inner = model.model_fields.get(loc[1])
        nested = inner.annotation if inner is not None else None
        model = nested if isinstance(nested, type) and issubclass(nested, BaseModel) else None
    return list(model.model_fields) if model is not None and len(loc) <= 2 else []


def _secret_locs(data: Any, loc: Loc = ()) -> list[Loc]:
    """Every key, at any depth, whose name says it holds a credential. The inside of an inline
    ``json_schema`` table is skipped: its keys name the properties of data, not settings."""
    if len(loc) == 3 and loc[0] == "constraints" and loc[2] == "json_schema":
        return []
    found: list[Loc] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key(key):
                found.append((*loc, key))
            found += _secret_locs(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _secret_locs(value, (*loc, index))
    return found


def _secret_issue(file: str, positions: KeyPositions, loc: Loc) -> ConfigIssue:
    line, column = positions.locate(loc)
    message = f"'{loc[-1]}' looks like a secret: {SECRET_MESSAGE}"
    return ConfigIssue(file=file, line=line, column=column, message=message, key=_dotted(loc))


def _unknown_key(loc: Loc) -> str:
    key, table = str(loc[-1]), loc[:-1]
    message = f"unknown key '{key}' in {_table_name(table)}"
    if not table:
        message = f"unknown section or key '{key}'"
    close = difflib.get_close_matches(key, _known_keys(table), n=1)
    return message + (f" (did you mean '{close[0]}'?)" if close else "")


def _describe(err: Any) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f" (got {_show(value)})"
    simple = {
        "int_type": "must be a whole number",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be an array",
        "model_type": "must be a table",
        "dict_type": "must be a table",
    }
    if kind in simple:
        return simple[kind] + got
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        op, bound = {
            "less_than_equal": ("<=", "le"),
            "greater_than_equal": (">=", "ge"),
            "less_than": ("<", "lt"),
            "greater_than": (">", "gt"),
        }[kind]
        return f"must be {op} {ctx[bound]}{got}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}{got}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty (leave the key out to apply to all)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    message = str(err["msg"])
    return message[:1].lower() + message[1:]


def _validation_issue(file: str, positions: KeyPositions, err: Any) -> ConfigIssue:
    loc: Loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    if "at" in ctx:  # a cross-field check names the key it is about
        loc = tuple(ctx["at"])
    elif "key" in ctx:
        loc = (*loc, ctx["key"])
    if err["type"] == "extra_forbidden":
        message = _unknown_key(loc)
    elif err["type"] == "missing":
        message = f"{_table_name(loc[:-1])} needs the key '{loc[-1]}'"
    elif err["type"] in ("no_source", "source_conflict", "duplicate_name"):
        message = f"{_dotted(loc[:2])}: {err['msg']}"
    else:
        message = f"{_dotted(loc)}: {_describe(err)}"
    line, column = positions.locate(loc)
    return ConfigIssue(file=file, line=line, column=column, message=message, key=_dotted(loc) or None)


# -- constraints -------------------------------------------------------------------------------


def _resolve_constraints(
    file: str, root: Path, settings: ProjectSettings, positions: KeyPositions
) -> tuple[tuple[LoadedConstraint, ...], list[ConfigIssue]]:
    loaded, issues = [], []
    private = ProjectConfig(settings=settings, root=root).is_excluded
    for index, spec in enumerate(settings.constraints):
        contents: dict[str, str | None] = {}
        for key in ("json_schema_file", "grammar_file"):
            relative = getattr(spec, key)
            if relative is None:
                continue
            loc: Loc = ("constraints", index, key)
            text, problem = read_project_file(root, relative, private)
            if problem is not None:
                line, column = positions.locate(loc)
                message = f"{_dotted(loc)}: {problem}"
                issues.append(ConfigIssue(file=file, line=line, column=column, message=message, key=_dotted(loc)))
            contents[key] = text
        schema = spec.json_schema if spec.json_schema_file is None else contents.get("json_schema_file")
        ir = PyConstraintIR(
            name=spec.name,
            json_schema=json.dumps(schema) if isinstance(schema, dict) else schema,
            grammar=spec.grammar if spec.grammar_file is None else contents.get("grammar_file"),
            regex_patterns=spec.all_regex_patterns,
        )
        loaded.append(LoadedConstraint(index=index, spec=spec, ir=ir))
    return tuple(loaded), issues


def _resolve_templates(
    path: Path, root: Path, settings: ProjectSettings, positions: KeyPositions
) -> tuple[PromptTemplates, list[ConfigIssue]]:
    """The project's prompt templates; a ``NAME_file`` is read as a schema file is (inside the
    project, no private file) and checked as an inline template is, at its key."""
    overrides, issues = {}, []
    private = ProjectConfig(settings=settings, root=root).is_excluded
    for name, (kind, value) in settings.templates.sources().items():
        if kind == "inline":  # checked while validating
            overrides[name] = value
            continue
        text, problem = read_project_file(root, value, private)
        if text is not None and (problem := check_template(name, text)) is not None:
            problem = f"in {value}: {problem}"
        if problem is not None:
            loc: Loc = ("templates", f"{name}_file")
            line, column = positions.locate(loc)
            message = f"{_dotted(loc)}: {problem}"
            issues.append(ConfigIssue(file=str(path), line=line, column=column, message=message, key=_dotted(loc)))
        elif text is not None:
            overrides[name] = text
    return PromptTemplates(overrides, origin=str(path)), issues


def read_project_file(
    root: Path, relative: str | Path, is_private: Callable[[Path], bool]
) -> tuple[str | None, str | None]:
    """The text of ``root/relative``, to be sent in a request, or why it cannot be used. Symlinks
    are resolved first, so neither ``..`` nor a link can make a project file read something outside
    its directory, and a file ``is_private`` says is excluded is never read."""
    if "\x00" in str(relative):
        return None, f"{str(relative)!r} contains a NUL character"
    target = root / relative
    try:
        resolved, real_root = target.resolve(), root.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        return None, f"'{relative}' cannot be resolved: {exc}"
    if not resolved.is_relative_to(real_root):
        return None, f"'{relative}' resolves to {resolved}, outside the config's directory {real_root}"
    if is_private(target):
        return None, f"'{relative}' matches a privacy rule, so its content is never sent: use a file that does not"
    try:
        info = resolved.stat()
        if stat.S_ISDIR(info.st_mode):
            return None, f"'{relative}' is a directory, not a file"
        if not stat.S_ISREG(info.st_mode):  # a pipe would block the reader forever
            return None, f"'{relative}' is not a regular file"
        if info.st_size > MAX_INCLUDED_FILE_BYTES:
            return None, f"'{relative}' is larger than {MAX_INCLUDED_FILE_BYTES // (1024 * 1024)} MiB"
        raw = resolved.read_bytes()
    except FileNotFoundError:
        return None, f"file '{relative}' not found (looked for {target})"
    except OSError as exc:
        return None, f"cannot read '{relative}': {exc.strerror or exc}"
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, f"'{relative}' is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"


def _offending_key(constraint: LoadedConstraint, kind: str) -> tuple[str | int, ...]:
    """The key in the file behind a compile error of ``kind`` (a bad regex: which one)."""
    spec = constraint.spec
    if kind == "json_schema":
        return ("json_schema_file",) if spec.json_schema_file is not None else ("json_schema",)
    if kind == "grammar":
        return ("grammar_file",) if spec.grammar_file is not None else ("grammar",)
    if kind == "regex":
        if spec.regex is not None and not _regex_compiles(spec.name, spec.regex):
            return ("regex",)
        for n, pattern in enumerate(spec.regex_patterns or []):
            if not _regex_compiles(spec.name, pattern):
                return ("regex_patterns", n)
        return ("regex_patterns",) if spec.regex_patterns else ("regex",)
    return ()


def _regex_compiles(name: str, pattern: str) -> bool:
    try:
        compile_constraints([PyConstraintIR(name=name, regex_patterns=[pattern])])
    except ConstraintError:
        return False
    return True
