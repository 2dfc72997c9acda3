"""A loaded ``.ananke.toml``: its settings, and which constraints and privacy rules apply to a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ..types import PyConstraintIR
from .globs import glob_match
from .positions import KeyPositions
from .schema import ACTIONS, DEFAULT_EXCLUDES, ConstraintSpec, ProjectSettings

_T = TypeVar("_T")
_MEMO_LIMIT = 4096


@dataclass(frozen=True)
class LoadedConstraint:
    index: int  # position among the file's [[constraints]], for locating it in the text
    spec: ConstraintSpec
    ir: PyConstraintIR  # with *_file contents inlined, ready to compile


@dataclass(frozen=True)
class ProjectConfig:
    settings: ProjectSettings
    root: Path  # the config's directory (absolute); globs and *_file paths are relative to it
    path: Path | None = None  # None for the built-in defaults (no file found)
    constraints: tuple[LoadedConstraint, ...] = ()
    positions: KeyPositions = field(default_factory=KeyPositions, repr=False, compare=False)
    # Answers per (question, file): asked on every keystroke, fixed for this loaded config.
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def default(cls, root: Path) -> ProjectConfig:
        """The configuration used where no ``.ananke.toml`` applies."""
        return cls(settings=ProjectSettings(), root=Path(root).absolute())

    @property
    def model_path(self) -> Path | None:
        """The embedded engine's GGUF file, or None for its default model (or a remote service)."""
        service = self.settings.service
        if service.endpoint is not None or service.model == "default":
            return None
        return self.root / Path(service.model).expanduser()

    def relative(self, file: Path) -> PurePosixPath | None:
        """``file`` relative to the root, or None when it lies outside."""
        file = Path(file).absolute()
        if file.is_relative_to(self.root):  # the common case, without touching the filesystem
            return PurePosixPath(file.relative_to(self.root).as_posix())
        try:
            resolved, root = file.resolve(), self.root.resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the path: not in the project
            return None
        return PurePosixPath(resolved.relative_to(root).as_posix()) if resolved.is_relative_to(root) else None

    def _remember(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        if key not in self._memo:
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    def constraints_for(self, file: Path | None, language: str | None, action: str) -> list[PyConstraintIR]:
        """The constraints that apply to ``action`` on ``file`` (in ``language``), in file order.

        A ``languages`` or ``files`` restriction that cannot be confirmed (unknown language, no
        file, a file outside the root) does not apply."""
        key = ("constraints", file, language, action)
        return list(self._remember(key, lambda: self._constraints_for(file, language, action)))

    def _constraints_for(self, file: Path | None, language: str | None, action: str) -> list[PyConstraintIR]:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        rel = self.relative(file) if file is not None else None
        chosen = []
        for constraint in self.constraints:
            spec = constraint.spec
            if not spec.applies_to(language, action):
                continue
            if spec.files is not None and (rel is None or not any(glob_match(g, str(rel)) for g in spec.files)):
                continue
            chosen.append(constraint.ir)
        return chosen

    def is_excluded(self, file: Path) -> bool:
        """Whether privacy rules forbid sending ``file``'s content anywhere.

        Built-in patterns match at any depth (``src/secrets/x`` too) and, for a file outside the
        root, against its absolute path; ``[privacy].exclude`` patterns are relative to the root
        and follow gitignore (a matching directory excludes everything inside it)."""
        return self._remember(("excluded", file), lambda: self._is_excluded(file))

    def _is_excluded(self, file: Path) -> bool:
        rel = self.relative(file)
        parts = rel.parts if rel is not None else Path(file).absolute().parts[1:]
        # Every run of consecutive components: a pattern matching a directory covers its contents.
        spans = ["/".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
        if any(glob_match(pattern, span) for pattern in DEFAULT_EXCLUDES for span in spans):
            return True
        if rel is None:
            return False
        prefixes = ["/".join(parts[:j]) for j in range(1, len(parts) + 1)]
        return any(glob_match(pattern, prefix) for pattern in self.settings.privacy.exclude for prefix in prefixes)
