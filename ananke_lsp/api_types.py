"""The public data types of the Ananke Python API (names, fields and defaults as the seed specifies)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .environment import ServiceEnvironment, from_environment
from .errors import SettingsError
from .profiles import ProfileName

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
MAX_SHOWN_URL = 200


class _SeedModel(BaseModel):
    """Pydantic model that also accepts its fields positionally, in declaration order,
    as the seed's constructor signatures allow (``PyConstraintIR("name", ...)``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} got multiple values for argument '{name}'")
            kwargs[name] = value
        super().__init__(**kwargs)


class _ReadOnly(_SeedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PyConstraintIR(_SeedModel):
    """One named constraint; every part that is set (schema, grammar, each regex) must hold."""

    name: str
    json_schema: str | None = None
    grammar: str | None = None
    regex_patterns: list[str] = Field(default_factory=list)
    # Text the grammar reads before the generated text, which continues it: the code before the
    # cursor from the start of its statement, so that a grammar of whole statements constrains a
    # suggestion that starts mid-statement. The text must then read through, not complete the
    # grammar (the code after the cursor does). Only with a grammar; not sent to engines that take
    # one structured output (they cannot start a grammar part-way), which validate it afterwards.
    prefix: str = ""

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("constraint name must not be empty")
        return value


class PyGenerationContext(_SeedModel):
    current_file: str | None = None
    language: str | None = None
    project_root: str | None = None


class PyGenerationRequest(_SeedModel):
    prompt: str
    constraints_ir: list[PyConstraintIR] = Field(default_factory=list)
    max_tokens: int = Field(default=2048, ge=1)
    temperature: float = Field(default=0.7, ge=0.0, le=1.0)
    context: PyGenerationContext | None = None
    # An execution profile (profiles.py): its temperature, top-p and seed, except a temperature
    # given here. None: ``temperature``, top-p 1, a fresh seed.
    profile: ProfileName | None = None


class PyRepair(_ReadOnly):
    """An answer that violated a constraint the engine could only validate, and was asked again
    with the error named (the final answer's check is the response's ``validation``)."""

    violated: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    extracted: bool = False  # judged after taking it out of fences or prose
    tokens_generated: int = 0


class PyProvenance(_ReadOnly):
    model: str
    timestamp: int
    constraints_applied: list[str] = Field(default_factory=list)
    original_intent: str
    # How it was sampled: the execution profile (None: none) and the values used.
    profile: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    # The text was taken out of an instruct model's markdown fence or prose before validation.
    extracted: bool = False
    # Earlier answers that violated a validated-only constraint and were asked again, in order.
    repairs: list[PyRepair] = Field(default_factory=list)


class PyValidationResult(_ReadOnly):
    """Outcome of checking the final text against every constraint of the request.

    ``enforced`` names the constraints the engine held token by token; the others were only
    checked afterwards. ``errors`` gives, per violated constraint, the reason."""

    all_satisfied: bool
    satisfied: list[str] = Field(default_factory=list)
    violated: list[str] = Field(default_factory=list)
    enforced: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)


class PyGenerationMetadata(_ReadOnly):
    tokens_generated: int
    generation_time_ms: int
    avg_token_time_us: int
    constraint_compile_time_ms: int
    prompt_tokens: int = 0
    finish_reason: str = "stop"
    engine: str = ""


class PyGenerationResponse(_ReadOnly):
    code: str
    provenance: PyProvenance
    validation: PyValidationResult
    metadata: PyGenerationMetadata


def check_endpoint_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host, else raise ``SettingsError``."""
    shown = url if len(url) <= MAX_SHOWN_URL else f"{url[:MAX_SHOWN_URL]}…"  # a message is one readable line
    problem = f"invalid service endpoint URL {shown!r}: expected http://HOST[:PORT] or https://HOST[:PORT]"
    if any(char <= " " or char == "\x7f" for char in url):  # no HTTP client accepts them; say so now
        raise SettingsError(problem)
    try:
        parsed = urlparse(url)
        _ = parsed.port  # raises for a port that is not a number in 0-65535
    except ValueError as exc:
        raise SettingsError(f"{problem} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(problem)
    return url


class PyModalConfig(_SeedModel):
    """Connection settings for a remote generation service."""

    endpoint_url: str
    model: str = DEFAULT_MODEL
    api_key: str | None = Field(default=None, repr=False)
    timeout_secs: int = Field(default=300, ge=1)
    max_retries: int = Field(default=3, ge=0)

    @field_validator("endpoint_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            return check_endpoint_url(value)
        except SettingsError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def from_env(cls) -> PyModalConfig:
        """Read ``MODAL_ENDPOINT`` (required), ``MODAL_API_KEY`` and ``MODAL_MODEL``."""
        env = from_environment(ServiceEnvironment)
        try:
            return cls(endpoint_url=env.require_endpoint(), api_key=env.api_key, model=env.model or DEFAULT_MODEL)
        except ValidationError as exc:
            raise SettingsError(f"invalid MODAL_ENDPOINT: {exc}") from None
