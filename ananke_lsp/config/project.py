"""A loaded ``.ananke.toml``: its settings, and which constraints and privacy rules apply to a file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePath, PurePosixPath
from typing import TypeVar

from ..api_types import PyConstraintIR
from ..templates import DEFAULT_TEMPLATES, PromptTemplates
from .globs import Globs
from .positions import KeyPositions
from .schema import ACTIONS, DEFAULT_EXCLUDES, ConstraintSpec, ProjectSettings

_T = TypeVar("_T")
_MEMO_LIMIT = 4096
_BUILT_IN = Globs(DEFAULT_EXCLUDES, ignore_case=True)
_NAME_MAX = 255  # no file system allows a longer name: such a path names no file to judge


@dataclass(frozen=True)
class LoadedConstraint:
    index: int  # position among the file's [[constraints]], for locating it in the text
    spec: ConstraintSpec
    ir: PyConstraintIR  # with *_file contents inlined, ready to compile

    @cached_property
    def files(self) -> Globs | None:
        return None if self.spec.files is None else Globs(self.spec.files)


@dataclass(frozen=True)
class ProjectConfig:
    settings: ProjectSettings
    root: Path  # the config's directory (absolute); globs and *_file paths are relative to it
    path: Path | None = None  # None for the built-in defaults (no file found)
    constraints: tuple[LoadedConstraint, ...] = ()
    positions: KeyPositions = field(default_factory=KeyPositions, repr=False, compare=False)
    # The prompt templates: the built-in ones, with the file's [templates] (inline or read from files).
    prompts: PromptTemplates = field(default=DEFAULT_TEMPLATES, repr=False, compare=False)
    # Answers per (question, file): asked on every keystroke, fixed for this loaded config.
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def _excludes(self) -> Globs:
        return Globs(self.settings.privacy.exclude)

    @classmethod
    def default(cls, root: Path) -> ProjectConfig:
        """The configuration used where no ``.ananke.toml`` applies."""
        return cls(settings=ProjectSettings(), root=Path(root).absolute())

    @property
    def local_model(self) -> str | None:
        """The pinned model the project asks the embedded engine for; None: the user's default."""
        service = self.settings.service
        if service.endpoint is not None or service.model == "default":
            return None
        return service.model

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
        return self._memo[key]  # type: ignore[return-value]  # a key is computed by one function: one type

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
            if not constraint.spec.applies_to(language, action):
                continue
            files = constraint.files
            if files is not None and (rel is None or not files.match(str(rel))):
                continue
            chosen.append(constraint.ir)
        return chosen

    def is_excluded(self, file: PurePath, *, located: bool = True) -> bool:
        """Whether privacy rules forbid sending ``file``'s content anywhere: the one check before
        a document, or a file read into a request, reaches any engine.

        Built-in patterns ignore case and match at any depth (``src/secrets/x`` too) and, for a
        file outside the root, against its absolute path; ``[privacy].exclude`` patterns are
        relative to the root and follow gitignore (a matching directory excludes everything
        inside it). A symlink is judged by its own path and by the file it leads to. With
        ``located=False``, ``file`` only names a document (the path of a ``git:`` or
        ``untitled:`` URI) and every pattern is matched at any depth."""
        return self._remember(("excluded", file, located), lambda: self._is_excluded(file, located))

    def _is_excluded(self, file: PurePath, located: bool) -> bool:
        if any(len(part) > _NAME_MAX for part in file.parts):
            return True
        if not located:
            parts = file.parts[1:] if file.anchor else file.parts
            return _BUILT_IN.covers(parts, anywhere=True) or self._excludes.covers(parts, anywhere=True)
        return any(self._excludes_file(path) for path in _with_target(Path(file)))

    def _excludes_file(self, file: Path) -> bool:
        rel = self.relative(file)
        parts = rel.parts if rel is not None else file.absolute().parts[1:]
        return _BUILT_IN.covers(parts, anywhere=True) or (rel is not None and self._excludes.covers(parts))


def _with_target(file: Path) -> set[Path]:
    """``file`` and, when it can be resolved, the file its symlinks lead to."""
    found = {file}
    with contextlib.suppress(OSError, RuntimeError, ValueError):  # a loop, a NUL: the name alone is judged
        found.add(file.resolve())
    return found
