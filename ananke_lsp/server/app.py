"""The language server: state shared by every feature."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__, generation
from ..constraints import ConstraintCache
from ..engines.base import Engine, EngineRequest
from ..types import PyGenerationContext
from .project_configs import ProjectConfigs

log = logging.getLogger("ananke_lsp.server")


def buffer_context(uri: str, path: Path | None, language: str, root: Path) -> PyGenerationContext:
    return PyGenerationContext(current_file=str(path) if path else uri, language=language, project_root=str(root))


class AnankeServer(LanguageServer):
    def __init__(self, engine_factory: type[Engine] | None = None) -> None:
        super().__init__("ananke-lsp", __version__)
        self.cache = ConstraintCache()
        self.configs = ProjectConfigs(self._publish_config_issues)
        self.options: dict[str, object] = {}
        self.last_provenance: dict[str, object] | None = None
        self._engine: Engine | None = None
        self._inflight: dict[str, asyncio.Task[object]] = {}

    @property
    def engine(self) -> Engine:
        """Created on first use, so a misconfigured model is reported on a request, not at start."""
        if self._engine is None:
            from ..engines.embedded import EmbeddedEngine

            model = self.options.get("model")
            self._engine = EmbeddedEngine(str(model) if model else None)
        return self._engine

    def path_of(self, uri: str) -> Path | None:
        path = to_fs_path(uri)
        return Path(path) if path and uri.startswith("file:") else None

    def workspace_root_of(self, path: Path | None) -> Path | None:
        """The deepest workspace folder holding ``path`` (multi-root workspaces)."""
        if path is None:
            return None
        roots = [Path(p) for p in (to_fs_path(uri) for uri in self.workspace.folders) if p]
        if self.workspace.root_path:
            roots.append(Path(self.workspace.root_path))
        holding = [r for r in roots if path.is_relative_to(r)]
        return max(holding, key=lambda r: len(r.parts), default=None)

    def supersede(self, key: str) -> None:
        """A newer request for the same document replaces the one in flight: cancel it, which
        stops its generation, instead of queueing work nobody will see."""
        current = asyncio.current_task()
        previous = self._inflight.get(key)
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()
        if current is not None:
            self._inflight[key] = current

    async def generate(self, request: EngineRequest) -> generation.Outcome:
        outcome = await generation.run(self.engine, self.cache, request)
        self.last_provenance = {
            "model": outcome.result.model,
            "engine": outcome.result.engine,
            "constraints": outcome.validation.satisfied + outcome.validation.violated,
            "enforced": outcome.validation.enforced,
            "violated": outcome.validation.errors,
            "tokens": outcome.result.tokens_generated,
            "generation_ms": round(outcome.result.generation_ms, 1),
            "finish_reason": outcome.result.finish_reason,
        }
        return outcome

    def _publish_config_issues(self, config_file: Path, diagnostics: list[types.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=config_file.as_uri(), diagnostics=diagnostics)
        )
