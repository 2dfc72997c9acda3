"""Models by name: the pinned catalog, the verified cache, and the `auto` choice."""

from .catalog import AUTO, MODELS, PinnedModel
from .choose import SUGGESTION_BUDGET_MS, AutoChoice
from .store import cache_dir, install, is_installed, model_path, pinned, verify

__all__ = [
    "AUTO",
    "MODELS",
    "SUGGESTION_BUDGET_MS",
    "AutoChoice",
    "PinnedModel",
    "cache_dir",
    "install",
    "is_installed",
    "model_path",
    "pinned",
    "verify",
]
