"""Editor-level settings (initializationOptions, `workspace/configuration` section "ananke") and
which engine serves a project: the user decides where code may be sent, never a project file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..api_types import DEFAULT_MODEL, PyModalConfig
from ..config import ProjectConfig
from ..environment import ServiceEnvironment, from_environment
from ..errors import SettingsError
from ..profiles import ProfileName

EngineKind = Literal["embedded", "service", "openai"]


class EditorSettings(BaseModel):
    """What the user set in the editor; camelCase on the wire (`apiKey`, `trustedEndpoints`)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    engine: Literal["auto", "embedded", "service", "openai"] = "auto"
    endpoint: str | None = None  # set by the user: trusted
    api_key: str | None = Field(default=None, repr=False)  # for `endpoint` only
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)  # endpoint URL -> its key
    model: str | None = None
    trusted_endpoints: list[str] = Field(default_factory=list)
    inline_completion: bool = True
    debounce_ms: int | None = Field(default=None, ge=0, le=5000)
    # Every action's execution profile (*Regenerate* stays creative); None: the project's.
    profile: ProfileName | None = None
    log_level: Literal["error", "warning", "info", "debug"] = "info"

    def secrets(self) -> list[str]:
        """Every key set here, to mask in logs."""
        return [self.api_key or "", *self.api_keys.values()]


@dataclass(frozen=True)
class EngineChoice:
    kind: EngineKind
    model: str | None = None  # the model setting: the embedded engine's, or the one asked of the endpoint
    # A remote engine's connection: endpoint, model, key, timeout and retries, as the project and
    # the user set them (a new connection setting is added there and to the engines, not here).
    connection: PyModalConfig | None = None
    refused_endpoint: str | None = None  # named only by a project file and not trusted: not used

    @property
    def key(self) -> tuple[object, ...]:
        """Choices with equal keys share one engine."""
        return (self.kind, self.model, self.connection.model_dump_json() if self.connection else None)


def _normalized(url: str) -> str:
    return url.rstrip("/").lower()


def _key_for(endpoint: str, user_endpoint: str | None, editor: EditorSettings, env: ServiceEnvironment) -> str | None:
    """A key goes only where the user sent it: `apiKey` (or `MODAL_API_KEY`) to the endpoint the
    user chose, an `apiKeys` entry to its own URL. A trusted project endpoint is trusted with the
    code, not with the user's key for another server."""
    keys = {_normalized(url): key for url, key in editor.api_keys.items()}
    if _normalized(endpoint) in keys:
        return keys[_normalized(endpoint)]
    if endpoint == user_endpoint:
        return editor.api_key or env.api_key
    return None


def choose_engine(project: ProjectConfig, editor: EditorSettings, env: Mapping[str, str] | None = None) -> EngineChoice:
    """The user's own settings (editor, then environment) win; a project's `[service].endpoint` is
    used only when the user lists it as trusted, so opening an untrusted repository never sends
    its code to a server that repository chose."""
    environment = from_environment(ServiceEnvironment, env)
    service = project.settings.service
    trusted = {_normalized(u) for u in [*editor.trusted_endpoints, *environment.trusted_endpoints]}
    user_endpoint = editor.endpoint or environment.endpoint
    if editor.engine == "embedded":
        return EngineChoice("embedded", model=editor.model or project.local_model)
    endpoint, refused = user_endpoint, None
    if endpoint is None and service.endpoint is not None:
        if _normalized(service.endpoint) in trusted:
            endpoint = service.endpoint
        else:
            refused = service.endpoint
    if endpoint is None:
        return EngineChoice("embedded", model=editor.model or project.local_model, refused_endpoint=refused)
    kind: EngineKind = "openai" if editor.engine == "openai" else "service"
    model = editor.model or (service.model if service.model != "default" else None)
    try:
        connection = PyModalConfig(
            endpoint_url=endpoint,
            model=model or DEFAULT_MODEL,
            api_key=_key_for(endpoint, user_endpoint, editor, environment),
            timeout_secs=service.timeout_secs,
            max_retries=service.max_retries,
        )
    except ValidationError as exc:  # the editor's endpoint (a project's was checked when it loaded)
        raise SettingsError(f"the endpoint setting cannot be used: {exc.errors()[0]['msg']}") from None
    return EngineChoice(kind, model, connection)
