"""``ananke check``: everything wrong with a project's ``.ananke.toml``, or nothing."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ConfigIssue
from .discovery import CONFIG_NAME, find_config
from .load import compile_check, load_config


def check(path: Path) -> list[ConfigIssue]:
    """Problems in the config at ``path``, or in the one found from directory ``path`` upwards;
    an empty list means it loads and every constraint compiles."""
    path = Path(path)
    if path.is_dir():
        found = find_config(path)
        if found is None:
            message = f"no {CONFIG_NAME} found in {path.absolute()} or any directory above it"
            return [ConfigIssue(file=str(path), line=1, column=1, message=message)]
        path = found
    try:
        config = load_config(path)
    except ConfigError as exc:
        return exc.issues
    return compile_check(config)
