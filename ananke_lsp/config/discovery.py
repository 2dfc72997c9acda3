"""Find the ``.ananke.toml`` that governs a file: the nearest one above it, so each package of a
monorepo can carry its own."""

from __future__ import annotations

from pathlib import Path

CONFIG_NAME = ".ananke.toml"


def find_config(start: Path, stop_at: Path | None = None) -> Path | None:
    """The nearest ``.ananke.toml`` in ``start`` (a file's directory, or a directory) or above it,
    never looking above ``stop_at`` (the workspace root: a file further up belongs to someone
    else). None when there is none, or when ``start`` is not inside ``stop_at``."""
    start = Path(start).absolute()
    directory = start if start.is_dir() else start.parent
    limit = Path(stop_at).absolute() if stop_at is not None else None
    if limit is not None and not directory.is_relative_to(limit):
        directory, limit = directory.resolve(), limit.resolve()  # the two may differ only by a symlink
        if not directory.is_relative_to(limit):
            return None
    for candidate in (directory, *directory.parents):
        config = candidate / CONFIG_NAME
        if config.is_file():
            return config
        if candidate == limit:
            return None
    return None
