"""Initialization, editor settings, and `.ananke.toml` reloads."""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types

from ..config import CONFIG_NAME
from .app import AnankeServer
from .targets import path_of

log = logging.getLogger("ananke_lsp.server")


def _config_path(uri: str) -> Path | None:
    path = path_of(uri)
    return path if path is not None and path.name == CONFIG_NAME else None


async def _pull_settings(ls: AnankeServer) -> None:
    """`workspace/configuration`, section "ananke", where the client supports it."""
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    params = types.ConfigurationParams(items=[types.ConfigurationItem(section="ananke")])
    try:
        [settings] = await ls.workspace_configuration_async(params)
    except Exception as exc:  # a client that fails here must not take the server down
        log.warning("workspace/configuration failed: %s", exc)
        return
    ls.apply_settings(settings)


def register(ls: AnankeServer) -> None:
    @ls.feature(types.INITIALIZE)
    def on_initialize(server: AnankeServer, params: types.InitializeParams) -> None:
        server.apply_settings(params.initialization_options)

    @ls.feature(types.INITIALIZED)
    async def on_initialized(server: AnankeServer, params: types.InitializedParams) -> None:
        watched = server.client_capabilities.workspace
        if watched and watched.did_change_watched_files and watched.did_change_watched_files.dynamic_registration:
            options = types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern=f"**/{CONFIG_NAME}")]
            )
            registration = types.Registration(
                id="ananke-config-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
            )
            try:
                await server.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
            except Exception as exc:  # reloads still happen on open and save
                log.warning("could not register a watcher for %s: %s", CONFIG_NAME, exc)
        await _pull_settings(server)
        server.background(server.warm_up())

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(server: AnankeServer, params: types.DidChangeConfigurationParams) -> None:
        pushed = params.settings.get("ananke") if isinstance(params.settings, dict) else None
        if pushed is not None:
            server.apply_settings(pushed)
        else:
            await _pull_settings(server)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(server: AnankeServer, params: types.DidOpenTextDocumentParams) -> None:
        if (config := _config_path(params.text_document.uri)) is not None:
            server.configs.reload(config)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(server: AnankeServer, params: types.DidSaveTextDocumentParams) -> None:
        if (config := _config_path(params.text_document.uri)) is not None:
            server.configs.reload(config)

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched(server: AnankeServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            if (config := _config_path(change.uri)) is not None:
                server.configs.reload(config)
