"""The HTTP server's settings, from the environment (on Modal the token comes from a `modal.Secret`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

from ananke_lsp.constraints.compile import MAX_CONSTRAINT_BYTES


class ServerSettings(BaseModel):
    """What the service enforces (not `.ananke.toml`'s `[service]`, which says where a client sends)."""

    token: str | None = Field(default=None, repr=False)  # bearer token; None = no auth (local use)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_tokens: int = Field(default=4096, ge=1)
    # schema + grammar + regexes of one constraint; never above what the compile is sized for
    max_constraint_bytes: int = Field(default=MAX_CONSTRAINT_BYTES, ge=64, le=MAX_CONSTRAINT_BYTES)
    cache_size: int = Field(default=1000, ge=0)
    self_test_interval_s: float = Field(default=300.0, ge=0)
    loading_retry_after_s: int = Field(default=5, ge=1)  # what a 503 during model load tells clients
    # Slow clients (docs/reliability.md): a request's head must arrive within head_timeout_s of
    # the connection (or of the previous answer on it), its body within body_timeout_s of the head.
    head_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Open connections and requests in flight at once (uvicorn's limit_concurrency): beyond it, a
    # request gets a 503. Each holds at most its body (max_body_bytes) until the deadlines.
    max_connections: int = Field(default=256, ge=1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        numbers = {
            "max_body_bytes": "ANANKE_MAX_BODY_BYTES",
            "max_tokens": "ANANKE_MAX_TOKENS",
            "max_constraint_bytes": "ANANKE_MAX_CONSTRAINT_BYTES",
            "cache_size": "ANANKE_CACHE_SIZE",
            "max_connections": "ANANKE_MAX_CONNECTIONS",
        }
        seconds = {"head_timeout_s": "ANANKE_HEAD_TIMEOUT_S", "body_timeout_s": "ANANKE_BODY_TIMEOUT_S"}
        values: dict[str, object] = {k: int(env[v]) for k, v in numbers.items() if env.get(v)}
        values |= {k: float(env[v]) for k, v in seconds.items() if env.get(v)}
        return cls(token=env.get("ANANKE_SERVICE_TOKEN") or None, **values)
