"""Which GGUF file the embedded engine loads for a model setting.

A setting is ``auto`` (the default: the best code model this machine serves in time), a pinned
name (``qwen2.5-coder-0.5b``, ``qwen2.5-coder-1.5b``, ``smollm2-135m``), or a path to a local
GGUF the user chose. Pinned files are verified against their hash before every first load."""

from __future__ import annotations

import functools
from pathlib import Path

from ..environment import ModelEnvironment, from_environment
from ..errors import ModelError
from ..models import AUTO, MODELS, AutoChoice, model_path, pinned, verify
from ..models.choose import choose
from .calibrate import measure_suggestion_ms


def _runtime() -> str:
    try:
        import llama_cpp
    except ImportError:
        return "no-llama-cpp"
    return f"llama-cpp-python {llama_cpp.__version__}"


def _user_default() -> str | None:
    return from_environment(ModelEnvironment).model


@functools.cache
def auto_choice() -> AutoChoice:
    """What ``auto`` means on this machine (measured once, then remembered on disk)."""
    return choose(measure_suggestion_ms, model_path, _runtime())


def model_name(model: str | None) -> str:
    """The pinned name a setting stands for, or the path's stem for a file of the user's own.
    No setting means ``$ANANKE_MODEL`` (the user's own default), else ``auto``."""
    if not model or model == "default":
        model = _user_default() or AUTO
    if model == AUTO:
        return auto_choice().model
    return model if model in MODELS else Path(model).stem


def why_this_model(model: str | None) -> str:
    """Where the model setting came from, for health checks and ``ananke models``."""
    if model and model not in (AUTO, "default"):
        return f"model {model!r} as set"
    if (env := _user_default()) and env != AUTO:
        return f"model {env!r} from ANANKE_MODEL"
    choice = auto_choice()
    return f"auto chose {choice.model}: {choice.reason}"


def resolve_model_path(model: str | None) -> Path:
    """The verified file for a model setting; ``ModelError`` with the fix when it is unusable."""
    name = model_name(model)
    if name in MODELS:
        return _verified(name)
    path = Path(model or _user_default() or "").expanduser()
    if not path.is_file():
        known = ", ".join(MODELS)
        raise ModelError(f"model {model!r} is neither a known model ({known}) nor a .gguf file that exists")
    return path


@functools.cache
def _verified(name: str) -> Path:
    # once per process: the cached identity check is cheap, the first full hash is not
    return verify(pinned(name))
