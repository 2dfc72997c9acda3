"""The environment: the one module that reads environment variables. Each settings model names its
variables as its fields' aliases; ``from_environment`` reads them (a blank value is unset) and a
value that does not fit is a ``SettingsError`` naming the variable. Nothing else reads
``os.environ``, so this module and the models below are the whole list::

    MODAL_ENDPOINT, MODAL_API_KEY, MODAL_MODEL     the generation service the user chose (ServiceEnvironment)
    MODAL_PROXY_KEY, MODAL_PROXY_SECRET            Modal's proxy auth in front of it
    ANANKE_CACHE_SIZE                              compiled constraints kept (ApiEnvironment; the service's too)
    ANANKE_TRUSTED_ENDPOINTS                       project endpoints the user trusts, comma-separated
    ANANKE_MODEL, ANANKE_MODEL_CACHE               the local model and where models are kept (ModelEnvironment)
    ANANKE_KV_REUSE                                "0": no KV cache reuse (a benchmark's baseline)
    XDG_CACHE_HOME                                 the cache's parent when ANANKE_MODEL_CACHE is unset
    ANANKE_SERVICE_TOKEN, ANANKE_MAX_*, ...        `ananke serve` (modal_service.settings.ServerSettings)
    ANANKE_GPU, ANANKE_SCALEDOWN_SECS, ...         `modal deploy` (modal_service.modal_app.DeploySettings)

In a Modal container, ``ANANKE_MODEL`` names the deployed vLLM model (it is a deploy setting
there); no embedded engine runs in that container to read it as a local model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SettingsError

_Settings = TypeVar("_Settings", bound=BaseModel)
# Values that must never reach a log: masked wherever they would appear.
SECRET_VARIABLES = ("MODAL_API_KEY", "MODAL_PROXY_SECRET", "ANANKE_SERVICE_TOKEN")


def from_environment(model: type[_Settings], env: Mapping[str, str] | None = None) -> _Settings:
    """``model`` from the environment variables its fields name as aliases; unset fields keep
    their defaults. ``env``: another mapping than ``os.environ`` (tests, a container's copy)."""
    env = os.environ if env is None else env
    names = [field.alias for field in model.model_fields.values() if field.alias]
    values = {name: env[name] for name in names if env.get(name, "").strip()}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0] if e['loc'] else model.__name__}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid environment ({problems})") from None


def secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the environment holds (see ``SECRET_VARIABLES``), to mask in logs."""
    env = os.environ if env is None else env
    return [value for name in SECRET_VARIABLES if (value := env.get(name, ""))]


class _Variables(BaseModel):
    # by alias from the environment, by name in code
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class ServiceEnvironment(_Variables):
    """The generation service the user chose, for `Ananke.from_env`, `PyModalConfig.from_env`
    and the language server (the user's choice wins over a project's, which must be trusted)."""

    endpoint: str | None = Field(default=None, alias="MODAL_ENDPOINT")
    api_key: str | None = Field(default=None, alias="MODAL_API_KEY", repr=False)
    model: str | None = Field(default=None, alias="MODAL_MODEL")
    proxy_key: str | None = Field(default=None, alias="MODAL_PROXY_KEY", repr=False)
    proxy_secret: str | None = Field(default=None, alias="MODAL_PROXY_SECRET", repr=False)
    trusted_endpoints: list[str] = Field(default_factory=list, alias="ANANKE_TRUSTED_ENDPOINTS")

    @field_validator("trusted_endpoints", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value

    def require_endpoint(self) -> str:
        if not self.endpoint:
            raise SettingsError("MODAL_ENDPOINT is not set: export MODAL_ENDPOINT=https://your-app.modal.run")
        return self.endpoint

    @property
    def proxy_headers(self) -> dict[str, str]:
        """Modal proxy auth (a deployment with `ANANKE_PROXY_AUTH=1`): the `Modal-Key` and
        `Modal-Secret` headers, when both are set."""
        if self.proxy_key and self.proxy_secret:
            return {"Modal-Key": self.proxy_key, "Modal-Secret": self.proxy_secret}
        return {}


class ApiEnvironment(ServiceEnvironment):
    """`Ananke.from_env`: the service, and how many compiled constraints the client keeps."""

    cache_size: int | None = Field(default=None, alias="ANANKE_CACHE_SIZE")


class ModelEnvironment(_Variables):
    """The user's default local model and where pinned models are kept."""

    model: str | None = Field(default=None, alias="ANANKE_MODEL")
    model_cache: Path | None = Field(default=None, alias="ANANKE_MODEL_CACHE")
    xdg_cache_home: Path | None = Field(default=None, alias="XDG_CACHE_HOME")
    # "0": every request reads its whole prompt again (bench/latency's baseline without KV reuse)
    kv_reuse: bool = Field(default=True, alias="ANANKE_KV_REUSE")

    @property
    def cache_dir(self) -> Path:
        """``$ANANKE_MODEL_CACHE``, else ``ananke-lsp/models`` in ``$XDG_CACHE_HOME`` or ``~/.cache``."""
        if self.model_cache is not None:
            return self.model_cache.expanduser()
        return (self.xdg_cache_home or Path.home() / ".cache") / "ananke-lsp" / "models"
