"""Initialization options and `.ananke.toml` reloads."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from .app import AnankeServer

CONFIG_NAME = ".ananke.toml"


def _config_path(ls: AnankeServer, uri: str) -> Path | None:
    path = ls.path_of(uri)
    return path if path is not None and path.name == CONFIG_NAME else None


def register(ls: AnankeServer) -> None:
    @ls.feature(types.INITIALIZE)
    def on_initialize(server: AnankeServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            server.options.update(options)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(server: AnankeServer, params: types.DidOpenTextDocumentParams) -> None:
        if (config := _config_path(server, params.text_document.uri)) is not None:
            server.configs.reload(config)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(server: AnankeServer, params: types.DidSaveTextDocumentParams) -> None:
        if (config := _config_path(server, params.text_document.uri)) is not None:
            server.configs.reload(config)

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched(server: AnankeServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            if (config := _config_path(server, change.uri)) is not None:
                server.configs.reload(config)
