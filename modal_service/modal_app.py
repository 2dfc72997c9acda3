"""The generation service on Modal: the service app (`modal_service.server`) over vLLM on a GPU.

Deploy: `ANANKE_GPU=H100 ANANKE_MODEL=Qwen/Qwen2.5-Coder-7B-Instruct modal deploy modal_service/modal_app.py`
(see docs/modal.md). Deploy-time settings come from `ANANKE_*` environment variables; they are
copied into the container's environment so that the container, which imports this module again,
sees the same settings (and serves the same model) as the deploy did.

Importing this module needs `modal` and `ananke_lsp` (whose `environment` reads the settings), not
vLLM: vLLM and the service are imported inside the web function, in the container."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import modal
from pydantic import BaseModel, ConfigDict, Field

from ananke_lsp.environment import from_environment
from modal_service import versions


def require_modal(installed: str) -> None:
    """An older `modal` client fails on this file with an AttributeError or a TypeError; say instead
    which release is needed and why."""
    if versions.release(installed) < versions.release(versions.MODAL_FLOOR):
        raise RuntimeError(
            f"modal_app.py needs modal>={versions.MODAL_FLOOR} (Image.uv_pip_install, env= on @app.function); "
            f"this is modal {installed}: pip install -U 'modal>={versions.MODAL_FLOOR}'"
        )


require_modal(modal.__version__)

APP_NAME = "ananke-inference"
WEIGHTS_PATH = "/weights"
VOLUME_NAME = "ananke-weights"
SECRET_NAME = "ananke-service"  # provides ANANKE_SERVICE_TOKEN, the bearer token the app checks

IMAGE_PACKAGES: tuple[str, ...] = (
    *versions.GPU_PACKAGES,  # exact pins, checked against their source by tests/test_vllm_contract.py
    # this project's runtime dependencies (pyproject.toml)
    "pydantic>=2.7",
    "cachetools>=5.3",
    "numpy>=1.26",
    "httpx>=0.27",
    "starlette>=0.37",
    "uvicorn>=0.30",
    "pygls>=2.0,<3",
    "lsprotocol>=2025.0.0",
)
IMAGE_ENV: dict[str, str] = {
    "HF_HOME": f"{WEIGHTS_PATH}/hf",  # weights download once, into the volume
    "VLLM_CACHE_ROOT": f"{WEIGHTS_PATH}/vllm",  # compile caches too: faster cold starts
    # vLLM waits this long for its engine to start (default 600 s). The first start of a container
    # downloads the weights inside that wait: 15 GB for a 7B model, 65 GB for a 32B one.
    "VLLM_ENGINE_READY_TIMEOUT_S": "1800",
}


class DeploySettings(BaseModel):
    """What `modal deploy` builds, from ``ANANKE_*`` environment variables."""

    # by alias from the environment (ananke_lsp.environment), by name in code
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # a Modal GPU spec: "H100", "A100-80GB", "H100:2"
    gpu: str = Field(default="H100", min_length=1, alias="ANANKE_GPU")
    model: str = Field(default="Qwen/Qwen2.5-Coder-7B-Instruct", min_length=1, alias="ANANKE_MODEL")
    # Modal's limits for scaledown_window
    scaledown_secs: int = Field(default=300, ge=2, le=3600, alias="ANANKE_SCALEDOWN_SECS")
    min_containers: int = Field(default=0, ge=0, alias="ANANKE_MIN_CONTAINERS")
    # concurrent requests per container (vLLM batches them)
    max_inputs: int = Field(default=32, ge=1, alias="ANANKE_MAX_INPUTS")
    # also require Modal-Key / Modal-Secret headers (Modal's proxy auth)
    proxy_auth: bool = Field(default=False, alias="ANANKE_PROXY_AUTH")
    # one request, start to end of its stream
    timeout_secs: int = Field(default=600, ge=10, le=86400, alias="ANANKE_TIMEOUT_SECS")
    max_model_len: int | None = Field(default=None, ge=256, alias="ANANKE_MAX_MODEL_LEN")
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0, alias="ANANKE_GPU_MEMORY_UTILIZATION")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploySettings:
        return from_environment(cls, env)

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings (empty ones left out)."""
        values = self.model_dump(by_alias=True, exclude_none=True)
        return {var: ("1" if v else "0") if isinstance(v, bool) else str(v) for var, v in values.items()}

    @property
    def gpu_count(self) -> int:
        """GPUs per container ("H100:2" → 2): vLLM shards the model over all of them."""
        _, _, count = self.gpu.partition(":")
        return int(count) if count.isdigit() else 1


def build_image() -> modal.Image:
    return (
        modal.Image.debian_slim(python_version=versions.PYTHON)
        .uv_pip_install(*IMAGE_PACKAGES)
        .env(IMAGE_ENV)
        .add_local_python_source("ananke_lsp", "modal_service")  # last: mounted at container start
    )


def function_options(settings: DeploySettings) -> dict[str, Any]:
    """The `@app.function` arguments that depend on the deploy settings."""
    return {
        "gpu": settings.gpu,
        "scaledown_window": settings.scaledown_secs,
        "min_containers": settings.min_containers,
        "timeout": settings.timeout_secs,
        "env": settings.to_env(),
    }


SETTINGS = DeploySettings.from_env()
app = modal.App(APP_NAME)
weights = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)
service_secret = modal.Secret.from_name(SECRET_NAME)


@app.function(
    image=build_image(),
    volumes={WEIGHTS_PATH: weights},
    secrets=[service_secret],
    **function_options(SETTINGS),
)
@modal.concurrent(max_inputs=SETTINGS.max_inputs)
@modal.asgi_app(requires_proxy_auth=SETTINGS.proxy_auth)
def web() -> Any:
    """The service's ASGI app. The model loads in the background after start-up; until it has
    loaded and passed the constraint self-test, /v1/health says "loading"."""
    from modal_service.server import create_app
    from modal_service.settings import ServerSettings
    from modal_service.vllm_engine import VLLMEngine

    engine = VLLMEngine(
        SETTINGS.model,
        gpu_memory_utilization=SETTINGS.gpu_memory_utilization,
        max_model_len=SETTINGS.max_model_len,
        tensor_parallel_size=SETTINGS.gpu_count,
    )
    return create_app(engine, ServerSettings.from_env())
