"""Per-file `.ananke.toml` lookup for the server: nearest config wins, a broken file is reported
as diagnostics on itself while the last good version stays in use."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

from ..config import ProjectConfig, compile_check, find_config, load_config
from ..errors import ConfigError, ConfigIssue

log = logging.getLogger("ananke_lsp.server")
Publish = Callable[[Path, list[types.Diagnostic]], None]


def _diagnostic(issue: ConfigIssue) -> types.Diagnostic:
    start = types.Position(line=max(issue.line - 1, 0), character=max(issue.column - 1, 0))
    return types.Diagnostic(
        range=types.Range(start=start, end=types.Position(line=start.line, character=start.character + 1_000)),
        message=issue.message,
        severity=types.DiagnosticSeverity.Error,
        source="ananke",
    )


# Which config governs a directory is looked up on every keystroke's request; remembering it
# briefly saves the walk up the tree. Any config event clears it, and the short life bounds how
# long a config created outside the editor (with no file watcher) goes unnoticed.
DISCOVERY_TTL_S = 2.0


def _nearest_config(start: Path, workspace_root: Path | None) -> Path | None:
    """The config governing ``start``, looked up from the nearest directory the OS can look at. A
    document's URI is the editor's word: its path may be one no file can have (a name too long,
    ENAMETOOLONG) or lie in a directory this process may not read. Such a directory holds no config
    for us, but those above it still may."""
    for directory in (start, *start.parents):
        try:
            return find_config(directory, stop_at=workspace_root)
        except OSError as exc:
            log.debug("no config lookup in %.200s: %s", directory, exc.strerror)
    return None


class ProjectConfigs:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._good: dict[Path, ProjectConfig] = {}
        self._stamp: dict[Path, float] = {}
        self._found: dict[tuple[Path | None, Path | None], tuple[float, Path | None]] = {}
        self._defaults: dict[Path, ProjectConfig] = {}

    def for_file(self, path: Path | None, workspace_root: Path | None) -> ProjectConfig:
        start = path.parent if path is not None else workspace_root
        key = (start, workspace_root)
        now = time.monotonic()
        at, found = self._found.get(key, (-DISCOVERY_TTL_S, None))
        if now - at >= DISCOVERY_TTL_S:
            found = _nearest_config(start, workspace_root) if start is not None else None
            self._found[key] = (now, found)
        if found is None:
            return self._default(workspace_root or (path.parent if path else Path.cwd()))
        return self._load(found)

    def _default(self, root: Path) -> ProjectConfig:
        if root not in self._defaults:
            self._defaults[root] = ProjectConfig.default(root)
        return self._defaults[root]

    def reload(self, config_file: Path) -> None:
        """Re-read after a change (save, watched-file event) and publish what is wrong."""
        self._found.clear()  # a config may have appeared or gone: look again
        self._stamp.pop(config_file, None)
        self._load(config_file)

    def _load(self, config_file: Path) -> ProjectConfig:
        try:
            stamp = config_file.stat().st_mtime_ns
        except OSError:
            stamp = -1
        if self._stamp.get(config_file) == stamp and config_file in self._good:
            return self._good[config_file]
        self._stamp[config_file] = stamp
        try:
            loaded = load_config(config_file)
            issues = compile_check(loaded)
        except ConfigError as exc:
            loaded, issues = None, exc.issues
        self._publish(config_file, [_diagnostic(i) for i in issues])
        if loaded is not None and not issues:
            self._good[config_file] = loaded
        elif issues:
            log.warning("%s has %d problem(s); keeping the last good configuration", config_file, len(issues))
        return self._good.get(config_file) or self._default(config_file.parent)
