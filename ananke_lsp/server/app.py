"""The language server: the parts every feature shares (documents and their configuration, the
engines, the constraint cache, what keystrokes do to requests, the last provenance) and the one
generation path every feature goes through. Which LSP methods it answers: ``server/main.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import BinaryIO

from lsprotocol import types
from pydantic import ValidationError
from pygls.lsp.server import LanguageServer

from .. import __version__, generation, profiles
from ..config import ProjectConfig
from ..constraints import ConstraintCache
from ..context.python_syntax import PythonSyntax
from ..engines.base import Engine, EngineRequest
from ..errors import EngineError
from . import transport
from .engine_pool import EnginePool
from .keystrokes import Debouncer, InFlight, SuggestionCache
from .logs import EngineFailures
from .project_configs import ProjectConfigs
from .protocol import AnankeProtocol
from .provenance import Provenance, PythonSyntaxNote
from .settings import EditorSettings
from .targets import Target, Targets

log = logging.getLogger("ananke_lsp.server")


class AnankeServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("ananke-lsp", __version__, protocol_cls=AnankeProtocol)
        self.cache = ConstraintCache()
        self.configs = ProjectConfigs(self._publish_config_issues)
        self.editor = EditorSettings()
        self.targets = Targets(self.configs)
        self.engines = EnginePool(self.tell)
        self.last_provenance: Provenance | None = None
        self.generations = 0  # engine requests started, observable through ananke.cacheStats
        self.in_flight = InFlight()
        self.debouncer = Debouncer()
        self.suggestions = SuggestionCache()
        self.failures = EngineFailures(self.tell)
        self._background: set[asyncio.Task[None]] = set()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        transport.run_stdio(self, stdin, stdout)

    def start_tcp(self, host: str, port: int) -> None:
        transport.run_tcp(self, host, port)

    def apply_settings(self, raw: object) -> None:
        """Editor settings from initializationOptions or workspace/configuration; a bad value is
        reported and the previous settings stay."""
        if not isinstance(raw, dict):
            return
        try:
            self.editor = EditorSettings.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self.tell(types.MessageType.Error, f"invalid ananke settings, keeping the previous ones: {problems}")
            return
        if isinstance(raw, dict) and ("logLevel" in raw or "log_level" in raw):
            logging.getLogger("ananke_lsp").setLevel(self.editor.log_level.upper())

    def tell(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"ananke: {message}"))

    def engine_for(self, project: ProjectConfig) -> Engine:
        return self.engines.engine_for(project, self.editor)

    def background(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` without awaiting it, holding the task so it is not collected midway."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def warm_up(self) -> None:
        """Load the local model in the background as soon as the editor is connected: the first
        completion then neither waits for it nor stalls the event loop counting tokens."""
        if not self.workspace.root_path:
            return
        root = Path(self.workspace.root_path)
        try:
            await asyncio.to_thread(self.engine_for(self.configs.for_file(None, root)).llg_tokenizer)
        except Exception as exc:  # the first request reports it properly
            log.warning("could not prepare the engine: %s", exc)

    def target(self, uri: str) -> Target:
        """The document and its configuration; ``Excluded`` when nothing from it may be sent."""
        return self.targets.target(self.workspace, uri)

    def sampling(self, target: Target, action: str) -> profiles.Sampling:
        """The sampling of ``action`` on ``target``: the editor's profile, else the project's."""
        return target.project.settings.generation.sampling(action, self.editor.profile)

    async def generate(self, target: Target, request: EngineRequest, profile: str | None = None) -> generation.Outcome:
        """``profile``: the execution profile ``request`` was sampled with, for the provenance."""
        self.generations += 1
        try:
            engine, repairs = self.engine_for(target.project), target.project.settings.generation.max_repairs
            outcome = (await generation.run(engine, self.cache, request, max_repairs=repairs)).cut_to_valid()
        except EngineError as exc:
            raise self.failures.failed(exc) from None
        self.failures.recovered()
        self.last_provenance = Provenance.of(str(target.path or target.uri), outcome, request, profile)
        return outcome

    def note_python_syntax(self, syntax: PythonSyntax | None, *, cut: int | None) -> None:
        """Adds to the last provenance how Python syntax was held (``PythonSyntaxNote``)."""
        if self.last_provenance is not None:
            self.last_provenance.python_syntax = PythonSyntaxNote.of(syntax, cut)

    def _publish_config_issues(self, config_file: Path, diagnostics: list[types.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=config_file.as_uri(), diagnostics=diagnostics)
        )
