"""The language server: state shared by every feature."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from .. import __version__, generation, profiles
from ..config import ProjectConfig
from ..constraints import ConstraintCache
from ..context.python_syntax import PythonSyntax
from ..engines.base import Engine, EngineRequest
from ..errors import EngineError, Excluded
from ..types import DEFAULT_MODEL, PyGenerationContext, PyModalConfig
from . import transport
from .logs import EngineFailures
from .project_configs import ProjectConfigs
from .protocol import AnankeProtocol
from .settings import EditorSettings, EngineChoice, choose_engine
from .typing_state import Debouncer, SuggestionCache

log = logging.getLogger("ananke_lsp.server")


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

    def constraints(self, action: str) -> list:
        return self.project.constraints_for(self.path, self.doc.language_id, action)


def _build(choice: EngineChoice) -> Engine:
    if choice.kind == "embedded":
        from ..engines.embedded import EmbeddedEngine

        return EmbeddedEngine(choice.model)
    assert choice.endpoint is not None
    if choice.kind == "openai":
        from ..engines.openai_compat import OpenAICompatibleEngine

        if not choice.model:
            raise EngineError("an OpenAI-compatible endpoint needs a model name: set ananke.model")
        return OpenAICompatibleEngine(
            choice.endpoint, choice.model, api_key=choice.api_key, timeout_secs=choice.timeout_secs
        )
    from ..engines.service import ServiceEngine

    config = PyModalConfig(
        endpoint_url=choice.endpoint,
        model=choice.model or DEFAULT_MODEL,
        api_key=choice.api_key,
        timeout_secs=choice.timeout_secs,
        max_retries=choice.max_retries,
    )
    return ServiceEngine(config)


class AnankeServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("ananke-lsp", __version__, protocol_cls=AnankeProtocol)
        self.cache = ConstraintCache()
        self.configs = ProjectConfigs(self._publish_config_issues)
        self.editor = EditorSettings()
        self.last_provenance: dict[str, object] | None = None
        self._engines: dict[tuple[object, ...], Engine] = {}
        self._warned: set[str] = set()
        self._inflight: dict[str, asyncio.Task[object]] = {}
        self.generations = 0  # engine requests started, observable through ananke.cacheStats
        self.debouncer = Debouncer()
        self.suggestions = SuggestionCache()
        self.failures = EngineFailures(self.tell)
        self._located: dict[str, tuple[Path | None, PurePath | None, Path | None]] = {}
        self._located_for: tuple[object, ...] = ()
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
        choice = choose_engine(project, self.editor)
        if choice.refused_endpoint and choice.refused_endpoint not in self._warned:
            self._warned.add(choice.refused_endpoint)
            self.tell(
                types.MessageType.Warning,
                f"{project.path} names the endpoint {choice.refused_endpoint}, which you have not trusted: "
                "generating on the local engine. To use it, add it to the ananke.trustedEndpoints setting "
                "or ANANKE_TRUSTED_ENDPOINTS.",
            )
        if choice.key not in self._engines:
            self._engines[choice.key] = _build(choice)
        return self._engines[choice.key]

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
            prepare = getattr(self.engine_for(self.configs.for_file(None, root)), "llg_tokenizer", None)
            if prepare is not None:
                await asyncio.to_thread(prepare)
        except Exception as exc:  # the first request reports it properly
            log.warning("could not prepare the engine: %s", exc)

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

    def _locate(self, uri: str) -> tuple[Path | None, PurePath | None, Path | None]:
        """The file (of a `file:` URI), the path the URI names whatever its scheme, and the
        workspace root holding it; remembered per URI while the folders stay the same."""
        folders = (tuple(self.workspace.folders), self.workspace.root_path)
        if self._located_for != folders:
            self._located.clear()
            self._located_for = folders
        if uri not in self._located:
            path = self.path_of(uri)
            named = path or _named_path(uri)
            self._located[uri] = (path, named, self.workspace_root_of(_on_disk(named)))
        return self._located[uri]

    def target(self, uri: str) -> Target:
        """The document and its configuration; raises ``Excluded`` for a private file, and for a
        URI that names no path to judge, whatever its scheme."""
        doc = self.workspace.text_documents.get(unquote(uri))
        if doc is None:  # pygls would read the file from disk instead: a pipe or /dev/zero never ends
            raise JsonRpcInvalidParams(f"{uri} is not open: ananke works on the documents the editor has opened")
        path, named, root = self._locate(uri)
        project = self.configs.for_file(_on_disk(named), root)
        if named is None:
            raise Excluded(f"{uri} names no file whose privacy rules could be checked: nothing from it is sent")
        if project.is_excluded(named, located=path is not None):
            raise Excluded(f"{named.name} matches a privacy rule: nothing from it is sent")
        return Target(uri, doc, path, project)

    def supersede(self, key: str) -> None:
        """A newer request for the same document replaces the one in flight: cancel it, which
        stops its generation, instead of queueing work nobody will see."""
        current = asyncio.current_task()
        previous = self._inflight.get(key)
        if previous is not None and previous is not current and not previous.done():
            previous.cancel()
        if current is not None:
            self._inflight[key] = current

    def sampling(self, target: Target, action: str) -> profiles.Sampling:
        """The sampling of ``action`` on ``target``: the editor's profile, else the project's."""
        return profiles.for_action(target.project.settings.generation, action, self.editor.profile)

    async def generate(self, target: Target, request: EngineRequest, profile: str | None = None) -> generation.Outcome:
        """``profile``: the execution profile ``request`` was sampled with, for the provenance."""
        self.generations += 1
        try:
            engine, repairs = self.engine_for(target.project), target.project.settings.generation.max_repairs
            outcome = (await generation.run(engine, self.cache, request, max_repairs=repairs)).cut_to_valid()
        except EngineError as exc:
            raise self.failures.failed(exc) from None
        self.failures.recovered()
        self.last_provenance = {
            "file": str(target.path or target.uri),
            "model": outcome.result.model,
            "engine": outcome.result.engine,
            "constraints": outcome.validation.satisfied + outcome.validation.violated,
            "enforced": outcome.validation.enforced,
            "violated": outcome.validation.errors,
            "tokens": outcome.result.tokens_generated,
            "prompt_tokens": outcome.result.prompt_tokens,
            "prefilled_tokens": outcome.result.prefilled_tokens,
            "generation_ms": round(outcome.result.generation_ms, 1),
            "decode_ms": round(outcome.result.decode_ms, 1),
            "mask_us": round(outcome.result.mask_us_total),  # checking and masking tokens, in all
            "compile_ms": round(outcome.compile_ms, 2),
            "finish_reason": outcome.result.finish_reason,
            "profile": profile,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "extracted": outcome.extracted,  # taken out of an instruct model's fences or prose
            "repairs": [r.model_dump() for r in outcome.repairs],  # answers asked again, and why
        }
        return outcome

    def note_python_syntax(self, syntax: PythonSyntax | None, *, cut: int | None) -> None:
        """Adds to the last provenance how Python syntax was held: whether the grammar was
        enforced (from which line, or why not; None: the settings ask only for the parse check),
        and how many characters the parse check cut off (None: the file is too large to parse)."""
        if self.last_provenance is not None:
            enforced = None if syntax is None else syntax.constraint is not None
            detail = None if syntax is None else syntax.reason
            self.last_provenance["python_syntax"] = {"grammar": enforced, "detail": detail, "cut_chars": cut}

    def _publish_config_issues(self, config_file: Path, diagnostics: list[types.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=config_file.as_uri(), diagnostics=diagnostics)
        )
