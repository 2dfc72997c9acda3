"""Service settings, from the environment (on Modal the token comes from a `modal.Secret`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

from ananke_lsp.constraints.compile import MAX_CONSTRAINT_BYTES


class ServiceSettings(BaseModel):
    token: str | None = Field(default=None, repr=False)  # bearer token; None = no auth (local use)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_tokens: int = Field(default=4096, ge=1)
    # schema + grammar + regexes of one constraint; never above what the compile is sized for
    max_constraint_bytes: int = Field(default=MAX_CONSTRAINT_BYTES, ge=64, le=MAX_CONSTRAINT_BYTES)
    cache_size: int = Field(default=1000, ge=0)
    self_test_interval_s: float = Field(default=300.0, ge=0)
    loading_retry_after_s: int = Field(default=5, ge=1)  # what a 503 during model load tells clients

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if env is None else env
        numbers = {
            "max_body_bytes": "ANANKE_MAX_BODY_BYTES",
            "max_tokens": "ANANKE_MAX_TOKENS",
            "max_constraint_bytes": "ANANKE_MAX_CONSTRAINT_BYTES",
            "cache_size": "ANANKE_CACHE_SIZE",
        }
        values: dict[str, object] = {k: int(env[v]) for k, v in numbers.items() if env.get(v)}
        return cls(token=env.get("ANANKE_SERVICE_TOKEN") or None, **values)
