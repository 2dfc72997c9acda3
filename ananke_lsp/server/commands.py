"""Commands a user runs from the editor: health check, clear cache, cache stats, provenance."""

from __future__ import annotations

import json
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..config import ProjectConfig
from ..errors import EngineError
from ..selftest import self_test
from .app import AnankeServer
from .targets import path_of, workspace_root_of

HEALTH = "ananke.healthCheck"
CLEAR_CACHE = "ananke.clearCache"
CACHE_STATS = "ananke.cacheStats"
PROVENANCE = "ananke.showProvenance"
ALL = (HEALTH, CLEAR_CACHE, CACHE_STATS, PROVENANCE)


def _project_for(ls: AnankeServer, uri: object) -> ProjectConfig:
    """The configuration of ``uri``'s project, or of the workspace when no file is named."""
    if uri is not None and not isinstance(uri, str):  # the arguments are whatever the client sent
        raise JsonRpcInvalidParams(f"the argument must be a document URI (a string), not {type(uri).__name__}")
    path = path_of(uri) if uri else None
    root = (
        workspace_root_of(ls.workspace, path)
        if path
        else (Path(ls.workspace.root_path) if ls.workspace.root_path else None)
    )
    return ls.configs.for_file(path, root)


def register(ls: AnankeServer) -> None:
    @ls.command(HEALTH)
    async def health(server: AnankeServer, *uri: str) -> dict[str, object]:
        """Engine, model, and a constraint self-test on the engine that serves the (optional)
        file's project."""
        engine = server.engine_for(_project_for(server, uri[0] if uri else None))
        status = await engine.health()
        try:
            test = await self_test(engine, server.cache) if status.ok else None
        except EngineError as exc:  # up, but its generation fails: that is the health report
            status, test = status.model_copy(update={"ok": False, "detail": f"the self-test failed: {exc}"}), None
        report = {
            "ok": bool(status.ok and test and test.ok),
            "engine": status.engine,
            "model": status.model,
            "detail": status.detail or (test.detail if test else ""),
            "self_test": test.model_dump() if test else None,
        }
        kind = types.MessageType.Info if report["ok"] else types.MessageType.Error
        verdict = "healthy, constraints enforced" if report["ok"] else f"UNHEALTHY: {report['detail']}"
        server.tell(kind, f"{status.engine} / {status.model}: {verdict}")
        return report

    @ls.command(CLEAR_CACHE)
    def clear_cache(server: AnankeServer) -> dict[str, int]:
        server.cache.clear()
        server.suggestions.clear()
        return server.cache.stats()

    @ls.command(CACHE_STATS)
    async def cache_stats(server: AnankeServer, *uri: str) -> dict[str, object]:
        engine = server.engine_for(_project_for(server, uri[0] if uri else None))
        status = await engine.health()
        return {
            **server.cache.stats(),
            "hits": server.cache.hits,
            "misses": server.cache.misses,
            "suggestion_reuses": server.suggestions.hits,
            "engine_requests": server.generations,
            "engine_tokens_decoded": status.tokens_decoded,
        }

    @ls.command(PROVENANCE)
    def provenance(server: AnankeServer) -> dict[str, object] | None:
        if server.last_provenance is None:
            server.tell(types.MessageType.Info, "nothing generated yet")
            return None
        report = server.last_provenance.report()
        server.tell(types.MessageType.Info, json.dumps(report))
        return report
