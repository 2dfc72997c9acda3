"""The HTTP server's settings, from the environment (on Modal the token comes from a `modal.Secret`);
each field with an alias is read from the variable it names (`ananke_lsp.environment`)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from ananke_lsp.constraints.compile import MAX_CONSTRAINT_BYTES
from ananke_lsp.environment import from_environment


class ServerSettings(BaseModel):
    """What the service enforces (not `.ananke.toml`'s `[service]`, which says where a client sends)."""

    model_config = ConfigDict(populate_by_name=True)

    # bearer token; None = no auth (local use)
    token: str | None = Field(default=None, repr=False, alias="ANANKE_SERVICE_TOKEN")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, alias="ANANKE_MAX_BODY_BYTES")
    max_tokens: int = Field(default=4096, ge=1, alias="ANANKE_MAX_TOKENS")
    # schema + grammar + regexes of one constraint; never above what the compile is sized for
    max_constraint_bytes: int = Field(
        default=MAX_CONSTRAINT_BYTES, ge=64, le=MAX_CONSTRAINT_BYTES, alias="ANANKE_MAX_CONSTRAINT_BYTES"
    )
    cache_size: int = Field(default=1000, ge=0, alias="ANANKE_CACHE_SIZE")
    self_test_interval_s: float = Field(default=300.0, ge=0)
    loading_retry_after_s: int = Field(default=5, ge=1)  # what a 503 during model load tells clients
    # Slow clients (docs/reliability.md): a request's head must arrive within head_timeout_s of
    # the connection (or of the previous answer on it), its body within body_timeout_s of the head.
    head_timeout_s: float = Field(default=10.0, gt=0, alias="ANANKE_HEAD_TIMEOUT_S")
    body_timeout_s: float = Field(default=30.0, gt=0, alias="ANANKE_BODY_TIMEOUT_S")
    # Open connections and requests in flight at once (uvicorn's limit_concurrency): beyond it, a
    # request gets a 503. Each holds at most its body (max_body_bytes) until the deadlines.
    max_connections: int = Field(default=256, ge=1, alias="ANANKE_MAX_CONNECTIONS")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        return from_environment(cls, env)
