"""Project configuration: ``.ananke.toml`` discovery, loading, validation and constraint lookup."""

from .check import check
from .discovery import CONFIG_NAME, find_config
from .globs import glob_match
from .load import compile_check, load_config
from .project import LoadedConstraint, ProjectConfig
from .schema import (
    ACTIONS,
    DEFAULT_EXCLUDES,
    CompletionSettings,
    ConstraintSpec,
    GenerationSettings,
    PrivacySettings,
    ProjectSettings,
    ServiceSettings,
)

__all__ = [
    "ACTIONS",
    "CONFIG_NAME",
    "DEFAULT_EXCLUDES",
    "CompletionSettings",
    "ConstraintSpec",
    "GenerationSettings",
    "LoadedConstraint",
    "PrivacySettings",
    "ProjectConfig",
    "ProjectSettings",
    "ServiceSettings",
    "check",
    "compile_check",
    "find_config",
    "glob_match",
    "load_config",
]
