"""The engines the language server holds: one per choice (the embedded model, a service endpoint),
built on first use and kept, so a model loads once and a connection pool is reused. The user is
warned once per endpoint that a project names without the user's trust."""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

from ..config import ProjectConfig
from ..engines.base import Engine
from ..errors import EngineError
from .settings import EditorSettings, EngineChoice, choose_engine


def build_engine(choice: EngineChoice) -> Engine:
    if choice.connection is None:
        from ..engines.embedded import EmbeddedEngine

        return EmbeddedEngine(choice.model)
    if choice.kind == "openai":
        from ..engines.openai_compat import OpenAICompatibleEngine

        if not choice.model:
            raise EngineError("an OpenAI-compatible endpoint needs a model name: set ananke.model")
        return OpenAICompatibleEngine.connect(choice.connection)
    from ..engines.service import ServiceEngine

    return ServiceEngine(choice.connection)


class EnginePool:
    def __init__(self, tell: Callable[[types.MessageType, str], None]) -> None:
        self._tell = tell
        self._engines: dict[tuple[object, ...], Engine] = {}
        self._warned: set[str] = set()

    def engine_for(self, project: ProjectConfig, editor: EditorSettings) -> Engine:
        choice = choose_engine(project, editor)
        if choice.refused_endpoint and choice.refused_endpoint not in self._warned:
            self._warned.add(choice.refused_endpoint)
            self._tell(
                types.MessageType.Warning,
                f"{project.path} names the endpoint {choice.refused_endpoint}, which you have not trusted: "
                "generating on the local engine. To use it, add it to the ananke.trustedEndpoints setting "
                "or ANANKE_TRUSTED_ENDPOINTS.",
            )
        if choice.key not in self._engines:
            self._engines[choice.key] = build_engine(choice)
        return self._engines[choice.key]
