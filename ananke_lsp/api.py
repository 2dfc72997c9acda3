"""``Ananke``: the seed's Python API over any ``Engine``."""

from __future__ import annotations

import asyncio
from typing import Any

from . import generation, profiles
from .api_types import (
    DEFAULT_MODEL,
    PyConstraintIR,
    PyGenerationRequest,
    PyGenerationResponse,
    PyModalConfig,
    check_endpoint_url,
)
from .constraints import ConstraintCache
from .engines.base import Engine, EngineRequest
from .environment import ApiEnvironment, from_environment
from .errors import EngineError, SettingsError


class Ananke:
    """Constrained code generation. ``Ananke(modal_endpoint=...)`` targets a remote service,
    ``Ananke.local()`` the embedded CPU engine, ``Ananke.with_engine(engine)`` any ``Engine``."""

    def __init__(
        self,
        modal_endpoint: str,
        modal_api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout_secs: int = 300,
        enable_cache: bool = True,
        cache_size: int = 1000,
        max_retries: int = 3,
    ) -> None:
        check_endpoint_url(modal_endpoint)
        try:
            self.config: PyModalConfig | None = PyModalConfig(
                endpoint_url=modal_endpoint,
                model=model,
                api_key=modal_api_key,
                timeout_secs=timeout_secs,
                max_retries=max_retries,
            )
        except ValueError as exc:
            raise SettingsError(f"invalid Ananke configuration: {exc}") from None
        from .engines.service import ServiceEngine

        self._setup(ServiceEngine(self.config), enable_cache, cache_size)

    def _setup(self, engine: Engine, enable_cache: bool, cache_size: int) -> None:
        self.engine = engine
        self._cache = ConstraintCache(enabled=enable_cache, limit=cache_size)

    def __repr__(self) -> str:  # never shows the API key
        return f"Ananke(engine={self.engine.name!r}, model={self.engine.model!r})"

    @classmethod
    def with_engine(cls, engine: Engine, *, enable_cache: bool = True, cache_size: int = 1000) -> Ananke:
        self = cls.__new__(cls)
        self.config = None
        self._setup(engine, enable_cache, cache_size)
        return self

    @classmethod
    def local(
        cls, model: str | None = None, *, enable_cache: bool = True, cache_size: int = 1000, n_ctx: int = 4096
    ) -> Ananke:
        """The embedded engine on the CPU: ``model`` is a GGUF path, None for the offline default."""
        from .engines.embedded import EmbeddedEngine

        return cls.with_engine(EmbeddedEngine(model, n_ctx=n_ctx), enable_cache=enable_cache, cache_size=cache_size)

    @classmethod
    def from_env(cls, **overrides: Any) -> Ananke:
        """``MODAL_ENDPOINT`` (required), ``MODAL_API_KEY``, ``MODAL_MODEL``, ``ANANKE_CACHE_SIZE``;
        keyword arguments override them."""
        env = from_environment(ApiEnvironment)
        cache = {} if env.cache_size is None else {"cache_size": env.cache_size}
        settings: dict[str, Any] = {
            "modal_api_key": env.api_key,
            "model": env.model or DEFAULT_MODEL,
            **cache,
            **overrides,
        }
        settings["modal_endpoint"] = settings.get("modal_endpoint") or env.require_endpoint()
        return cls(**settings)

    async def generate(
        self, request: PyGenerationRequest, *, max_repairs: int = generation.DEFAULT_MAX_REPAIRS
    ) -> PyGenerationResponse:
        """``max_repairs``: how many times an answer that violates a constraint the engine could
        only validate is asked again, naming the error (0 to 5; the embedded engine enforces
        every constraint, so it never is). ``provenance.repairs`` lists those answers."""
        generation.check_max_repairs(max_repairs)
        sampling = _sampling(request)
        engine_request = EngineRequest(
            prompt=request.prompt,
            chat=True,
            context=request.context,
            constraints=request.constraints_ir,
            max_tokens=request.max_tokens,
            **sampling.fields(),
        )
        try:
            outcome = await generation.run(self.engine, self._cache, engine_request, max_repairs=max_repairs)
        except (RuntimeError, TimeoutError):
            raise  # already say what went wrong (ConstraintError, EngineError, timeouts)
        except Exception as exc:  # the seed's API promises a RuntimeError for any other failure
            raise EngineError(f"generation failed: {exc}") from exc
        return PyGenerationResponse(
            code=outcome.result.text,
            provenance=outcome.provenance(request.prompt).model_copy(
                update={"profile": sampling.profile, **sampling.fields()}
            ),
            validation=outcome.validation,
            metadata=outcome.metadata(),
        )

    async def compile_constraints(self, constraints: list[PyConstraintIR]) -> dict[str, Any]:
        compiled, _ = await asyncio.to_thread(self._cache.get, constraints)
        return {"hash": compiled.hash, "compiled_at": compiled.compiled_at, "schema": compiled.schema}

    async def health_check(self) -> bool:
        return (await self.engine.health()).ok

    async def clear_cache(self) -> None:
        self._cache.clear()

    async def cache_stats(self) -> dict[str, int]:
        return self._cache.stats()


def _sampling(request: PyGenerationRequest) -> profiles.Sampling:
    """The request's profile, with its own temperature when one was given; without a profile,
    its temperature (0.7 unless given), top-p 1 and a fresh seed, as before profiles."""
    if request.profile is None:
        return profiles.Sampling(None, request.temperature, 1.0, profiles.fresh_seed())
    explicit = request.temperature if "temperature" in request.model_fields_set else None
    return profiles.resolve(request.profile, temperature=explicit)
