"""Which document a request is about, where it is, and which configuration applies to it: a URI
becomes a ``Target``, or ``Excluded`` when privacy rules say nothing from it may be sent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import unquote, urlsplit

from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from ..api_types import PyConstraintIR, PyGenerationContext
from ..config import ProjectConfig
from ..errors import Excluded
from .project_configs import ProjectConfigs


@dataclass(frozen=True)
class Target:
    """A document being worked on, with the configuration that applies to it."""

    uri: str
    doc: TextDocument
    path: Path | None
    project: ProjectConfig

    @property
    def python_syntax(self) -> str:
        """How Python syntax is held here ([completion] python_syntax; "off" for other languages)."""
        return self.project.settings.completion.python_syntax if self.doc.language_id == "python" else "off"

    @property
    def context(self) -> PyGenerationContext:
        return PyGenerationContext(
            current_file=str(self.path) if self.path else self.uri,
            language=self.doc.language_id,
            project_root=str(self.project.root),
        )

    def constraints(self, action: str) -> list[PyConstraintIR]:
        return self.project.constraints_for(self.path, self.doc.language_id, action)


def path_of(uri: str) -> Path | None:
    """The file a `file:` URI names; None for any other scheme."""
    path = to_fs_path(uri)
    return Path(path) if path and uri.startswith("file:") else None


def _named_path(uri: str) -> PurePosixPath | None:
    """The path a URI of any scheme names (`git:/p/.env?{…}`, `fugitive:///p/.git//0/.env`,
    `untitled:.env`), or None where it names none to judge."""
    try:
        path = unquote(urlsplit(uri).path)
    except ValueError:  # a malformed authority
        return None
    return PurePosixPath(path) if path.strip("/") else None


def _on_disk(named: PurePath | None) -> Path | None:
    """Where a named path is on disk, for finding its configuration: only an absolute one says."""
    return Path(named) if named is not None and named.is_absolute() else None


def workspace_root_of(workspace: Workspace, path: Path | None) -> Path | None:
    """The deepest workspace folder holding ``path`` (multi-root workspaces)."""
    if path is None:
        return None
    roots = [Path(p) for p in (to_fs_path(uri) for uri in workspace.folders) if p]
    if workspace.root_path:
        roots.append(Path(workspace.root_path))
    holding = [r for r in roots if path.is_relative_to(r)]
    return max(holding, key=lambda r: len(r.parts), default=None)


class Targets:
    """Resolves URIs to targets, remembering where each URI is while the workspace folders stay
    the same (a request per keystroke would otherwise parse and search paths each time)."""

    def __init__(self, configs: ProjectConfigs) -> None:
        self.configs = configs
        self._located: dict[str, tuple[Path | None, PurePath | None, Path | None]] = {}
        self._located_for: tuple[object, ...] = ()

    def _locate(self, workspace: Workspace, uri: str) -> tuple[Path | None, PurePath | None, Path | None]:
        """The file (of a `file:` URI), the path the URI names whatever its scheme, and the
        workspace root holding it."""
        folders = (tuple(workspace.folders), workspace.root_path)
        if self._located_for != folders:
            self._located.clear()
            self._located_for = folders
        if uri not in self._located:
            path = path_of(uri)
            named = path or _named_path(uri)
            self._located[uri] = (path, named, workspace_root_of(workspace, _on_disk(named)))
        return self._located[uri]

    def target(self, workspace: Workspace, uri: str) -> Target:
        """The document and its configuration; raises ``Excluded`` for a private file, and for a
        URI that names no path to judge, whatever its scheme."""
        doc = workspace.text_documents.get(unquote(uri))
        if doc is None:  # pygls would read the file from disk instead: a pipe or /dev/zero never ends
            raise JsonRpcInvalidParams(f"{uri} is not open: ananke works on the documents the editor has opened")
        path, named, root = self._locate(workspace, uri)
        project = self.configs.for_file(_on_disk(named), root)
        if named is None:
            raise Excluded(f"{uri} names no file whose privacy rules could be checked: nothing from it is sent")
        if project.is_excluded(named, located=path is not None):
            raise Excluded(f"{named.name} matches a privacy rule: nothing from it is sent")
        return Target(uri, doc, path, project)
