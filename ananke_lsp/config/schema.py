"""The ``.ananke.toml`` schema. Every model forbids unknown keys so that a typo is an error rather
than a setting silently ignored, and is strict so that ``temperature = "0.2"`` is not coerced."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..api_types import check_endpoint_url
from ..errors import SettingsError
from ..generation import DEFAULT_MAX_REPAIRS, MAX_REPAIRS
from ..models.catalog import AUTO, MODELS
from ..profiles import DEFAULT_PROFILES, GENERATION_ACTIONS, ProfileName, Sampling, resolve
from ..templates import NAMES as TEMPLATE_NAMES
from ..templates import check_template
from .globs import check_glob

Action = Literal["inline_completion", "completion", "implement_function", "generate", "add_docstring", "fill_json"]
ACTIONS: tuple[str, ...] = (
    "inline_completion",
    "completion",
    "implement_function",
    "generate",
    "add_docstring",
    "fill_json",
)
Profile = ProfileName  # the execution profiles of profiles.py

# Always excluded from what is sent anywhere, whatever [privacy].exclude says (matched ignoring
# case: `.ENV` is `.env` on the file systems of macOS and Windows).
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".env",
    ".env.*",
    ".envrc",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials.json",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_*",
    ".aws/**",
    ".ssh/**",
    "secrets/**",
)
# Every file opened is matched against every glob of its config, so their number is bounded.
MAX_GLOBS = 1000

_SECRET_WORDS = re.compile(r"api_?key|token|secret|password", re.IGNORECASE)
SECRET_MESSAGE = (
    "secrets never live in project files: set the API key in the environment (MODAL_API_KEY) "
    "or in the editor settings, and remove this key"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


NonEmptyStr = Annotated[str, Field(min_length=1)]


def _check_globs(values: list[str] | None) -> list[str] | None:
    for index, glob in enumerate(values or []):
        try:
            _check_glob(glob)
        except ValueError as exc:  # reported at the glob itself, not at its list
            raise PydanticCustomError("glob", "{problem}", {"problem": str(exc), "key": index}) from None
    return values


def _check_glob(glob: str) -> None:
    if not glob.strip():
        raise ValueError("a glob must not be empty")
    if ".." in glob.replace("\\", "/").split("/"):
        raise ValueError(f"glob {glob!r} uses '..': globs are relative to the config's directory")
    check_glob(glob)  # here, rather than on the first file the glob is matched against


def _glob_lists(data: Any) -> list[tuple[tuple[str | int, ...], list[Any]]]:
    """Where the document (not yet validated) holds lists of globs, and those lists."""
    found: list[tuple[tuple[str | int, ...], list[Any]]] = []
    privacy = data.get("privacy") if isinstance(data, dict) else None
    if isinstance(privacy, dict) and isinstance(privacy.get("exclude"), list):
        found.append((("privacy", "exclude"), privacy["exclude"]))
    constraints = data.get("constraints") if isinstance(data, dict) else None
    for index, spec in enumerate(constraints if isinstance(constraints, list) else []):
        if isinstance(spec, dict) and isinstance(spec.get("files"), list):
            found.append((("constraints", index, "files"), spec["files"]))
    return found


class ServiceSettings(_Section):
    """Where generation runs. Without ``endpoint`` the embedded CPU engine is used."""

    endpoint: str | None = None
    # Embedded engine: "default" (the user's choice, else auto) or a pinned model's name: a model
    # file is code (its chat template is a Jinja program), so a project file cannot pick a path.
    # Remote service: the model id the service should use.
    model: NonEmptyStr = "default"
    timeout_secs: int = Field(default=300, ge=1)
    max_retries: int = Field(default=3, ge=0)

    @field_validator("endpoint")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            check_endpoint_url(value)
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        if urlparse(value).password is not None:
            raise ValueError(f"the endpoint URL carries a password: {SECRET_MESSAGE}")
        return value

    @field_validator("model")
    @classmethod
    def _model_is_a_pinned_name(cls, value: str, info: ValidationInfo) -> str:
        if "\x00" in value:  # TOML allows "\u0000"; no model id holds it
            raise ValueError("the model must not contain a NUL character")
        if info.data.get("endpoint") is None and value not in ("default", AUTO, *MODELS):
            raise ValueError(
                f"a project file may name only a pinned model ({', '.join(MODELS)}, or default); "
                "to load another GGUF file, set `model` in your editor settings or ANANKE_MODEL"
            )
        return value


class ActionProfiles(_Section):
    """``[generation.profiles]``: an execution profile per action (profiles.py)."""

    inline_completion: Profile | None = None
    completion: Profile | None = None
    implement_function: Profile | None = None
    generate: Profile | None = None
    add_docstring: Profile | None = None
    fill_json: Profile | None = None


class GenerationSettings(_Section):
    max_tokens: int = Field(default=256, ge=1, le=8192)
    # Written in the file, it overrides the profile's temperature for the code actions.
    temperature: float = Field(default=0.2, ge=0.0, le=1.0)
    profile: Profile | None = None  # every action's, unless [generation.profiles] names its own
    profiles: ActionProfiles = Field(default_factory=ActionProfiles)
    # Asking a chat model again when its answer violates a constraint the engine could only
    # validate (an OpenAI-compatible server enforces one structured output): at most this many
    # follow-ups. 0: report it at once.
    max_repairs: int = Field(default=DEFAULT_MAX_REPAIRS, ge=0, le=MAX_REPAIRS)

    def sampling(self, action: str, chosen: ProfileName | None = None) -> Sampling:
        """The sampling of ``action`` in this project: ``chosen`` (the editor's setting), else
        ``[generation.profiles]`` for the action, else ``[generation] profile``, else the action's
        default; ``[generation] temperature``, when the file sets it, still wins for the code actions."""
        if action not in DEFAULT_PROFILES:
            raise ValueError(f"unknown action {action!r}; expected one of {', '.join(DEFAULT_PROFILES)}")
        per_action = getattr(self.profiles, action, None)
        name = chosen or per_action or self.profile
        explicit = "temperature" in self.model_fields_set and action in GENERATION_ACTIONS
        return resolve(name, action=action, temperature=self.temperature if explicit else None)


class CompletionSettings(_Section):
    enabled: bool = True
    debounce_ms: int = Field(default=150, ge=0, le=5000)
    prefix_lines: int = Field(default=256, ge=0)
    suffix_lines: int = Field(default=64, ge=0)
    # Budgets in the model's tokens, applied after the line windows (Continue caps prompts at 1024).
    prefix_tokens: int = Field(default=1024, ge=16)
    suffix_tokens: int = Field(default=256, ge=0)
    max_tokens: int = Field(default=64, ge=1, le=1024)
    # Milliseconds of decoding after which a suggestion ends at its next line end (llama.vim's
    # t_max_predict_ms): a long block that arrives after the user typed on is worth nothing.
    max_predict_ms: int = Field(default=1000, ge=50, le=60_000)
    # Other open files of the project shown first (the repository form of FIM), about this many
    # tokens in all; they come first so that they stay in the model's KV cache. 0: none.
    context_tokens: int = Field(default=512, ge=0, le=8192)
    # Python suggestions: "enforce" the statement grammar token by token and check that the file
    # still parses with the suggestion in it; "check" only the latter; "off" neither.
    python_syntax: Literal["enforce", "check", "off"] = "enforce"


class PrivacySettings(_Section):
    # Added to DEFAULT_EXCLUDES, never replacing them: a project file cannot opt back in to sending keys.
    exclude: list[str] = Field(default_factory=list)

    @field_validator("exclude")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        return _check_globs(value) or []


def _one_source(section: BaseModel, *names: str) -> None:
    """Each of ``names`` is set inline (``NAME``) or from a file (``NAME_file``), not both; the
    error is reported at the ``_file`` key."""
    for inline in names:
        file = f"{inline}_file"
        if getattr(section, inline) is not None and getattr(section, file) is not None:
            raise PydanticCustomError(
                "source_conflict", "set {inline} or {file}, not both", {"inline": inline, "file": file, "key": file}
            )


_SOURCES = ("regex", "regex_patterns", "json_schema", "json_schema_file", "grammar", "grammar_file")


class ConstraintSpec(_Section):
    """One ``[[constraints]]`` entry; every source that is set must hold."""

    name: NonEmptyStr
    languages: list[NonEmptyStr] | None = Field(default=None, min_length=1)
    files: list[str] | None = Field(default=None, min_length=1)
    actions: list[Action] | None = Field(default=None, min_length=1)
    regex: str | None = None
    regex_patterns: list[str] | None = None
    json_schema: Any = None  # a JSON string or an inline TOML table
    json_schema_file: NonEmptyStr | None = None
    grammar: str | None = None
    grammar_file: NonEmptyStr | None = None

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name must not be blank")
        return value

    @field_validator("files")
    @classmethod
    def _globs(cls, value: list[str] | None) -> list[str] | None:
        return _check_globs(value)

    @field_validator("json_schema")
    @classmethod
    def _schema_shape(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if not isinstance(value, dict):
            raise ValueError("json_schema must be a JSON string or an inline table")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError("json_schema holds a value JSON cannot express (a TOML date or time?)") from None
        return value

    @model_validator(mode="after")
    def _sources(self) -> ConstraintSpec:
        _one_source(self, "json_schema", "grammar")
        if all(getattr(self, key) in (None, []) for key in _SOURCES):
            keys = ", ".join(_SOURCES)
            raise PydanticCustomError(
                "no_source", "constraint '{name}' needs at least one of: {keys}", {"name": self.name, "keys": keys}
            )
        return self

    @property
    def all_regex_patterns(self) -> list[str]:
        return ([self.regex] if self.regex is not None else []) + list(self.regex_patterns or [])

    def applies_to(self, language: str | None, action: str) -> bool:
        # A restriction that cannot be confirmed (unknown language) does not apply.
        if self.languages is not None and language not in self.languages:
            return False
        return self.actions is None or action in self.actions


class TemplateSettings(_Section):
    """``[templates]``: the project's own prompt templates (templates.py), each inline (``NAME``)
    or read from a file inside the project (``NAME_file``), not both."""

    inline_completion: str | None = None
    inline_completion_file: NonEmptyStr | None = None
    implement_function: str | None = None
    implement_function_file: NonEmptyStr | None = None
    add_docstring: str | None = None
    add_docstring_file: NonEmptyStr | None = None
    generate_from_comment: str | None = None
    generate_from_comment_file: NonEmptyStr | None = None
    generate_from_selection: str | None = None
    generate_from_selection_file: NonEmptyStr | None = None
    fill_json: str | None = None
    fill_json_file: NonEmptyStr | None = None
    system: str | None = None
    system_file: NonEmptyStr | None = None

    @field_validator(*TEMPLATE_NAMES)
    @classmethod
    def _template_renders(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = None if value is None else check_template(str(info.field_name), value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_source_each(self) -> TemplateSettings:
        _one_source(self, *TEMPLATE_NAMES)
        return self

    def sources(self) -> dict[str, tuple[str, str]]:
        """Each template the file sets: ``("inline", text)`` or ``("file", path)``."""
        found: dict[str, tuple[str, str]] = {}
        for name in TEMPLATE_NAMES:
            if (text := getattr(self, name)) is not None:
                found[name] = ("inline", text)
            elif (path := getattr(self, f"{name}_file")) is not None:
                found[name] = ("file", path)
        return found


class ProjectSettings(_Section):
    """The whole file; every section has defaults, so an empty file is valid."""

    service: ServiceSettings = Field(default_factory=ServiceSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)

    @model_validator(mode="before")
    @classmethod
    def _few_enough_globs(cls, data: Any) -> Any:
        """Counted before any glob is compiled, at the list that goes past the bound."""
        lists = _glob_lists(data)
        total, seen = sum(len(globs) for _, globs in lists), 0
        for loc, globs in lists:
            seen += len(globs)
            if seen > MAX_GLOBS:
                raise PydanticCustomError(
                    "too_many_globs",
                    "{total} globs in this file ([privacy].exclude and every files list together); at most "
                    "{limit} globs are allowed, since every file opened is matched against all of them",
                    {"total": total, "limit": MAX_GLOBS, "at": list(loc)},
                )
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> ProjectSettings:
        seen: set[str] = set()
        for index, constraint in enumerate(self.constraints):
            if constraint.name in seen:
                raise PydanticCustomError(
                    "duplicate_name",
                    "constraint name '{name}' is used twice; names must be unique",
                    {"name": constraint.name, "at": ["constraints", index, "name"]},
                )
            seen.add(constraint.name)
        return self


def known_keys() -> frozenset[str]:
    """Every key the schema defines (so that ``max_tokens`` is not mistaken for a secret)."""
    models: list[type[BaseModel]] = [
        ProjectSettings,
        ServiceSettings,
        GenerationSettings,
        ActionProfiles,
        CompletionSettings,
        PrivacySettings,
        ConstraintSpec,
        TemplateSettings,
    ]
    return frozenset(name for model in models for name in model.model_fields)


def is_secret_key(name: str) -> bool:
    return name not in known_keys() and _SECRET_WORDS.search(name) is not None
