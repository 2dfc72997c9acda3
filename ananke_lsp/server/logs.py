"""Logs go to stderr (stdout carries the protocol) and to the editor as `window/logMessage`;
API keys are masked wherever they would appear."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from ..errors import EngineError

log = logging.getLogger("ananke_lsp.server")
_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class RedactSecrets(logging.Filter):
    """Replaces known secret values (the environment's, the editor's api keys) in every record."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self._secrets():
            if secret and len(secret) >= 4:
                message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class EditorLog(logging.Handler):
    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        kind = _LEVELS.get(record.levelno, types.MessageType.Log)
        with contextlib.suppress(Exception):  # no client attached (yet, or any more): stderr still has it
            self.server.window_log_message(types.LogMessageParams(type=kind, message=self.format(record)))


def configure(server: LanguageServer, level: str, secrets: Callable[[], list[str]]) -> None:
    root = logging.getLogger("ananke_lsp")
    root.setLevel(level)
    redact = RedactSecrets(secrets)
    for handler in (logging.StreamHandler(), EditorLog(server)):
        handler.addFilter(redact)
        handler.setFormatter(
            logging.Formatter(
                "%(name)s: %(message)s" if isinstance(handler, EditorLog) else "%(levelname)s %(name)s: %(message)s"
            )
        )
        root.addHandler(handler)
    root.propagate = False


class EngineFailures:
    """An engine failure becomes the request's error response (the message alone: no traceback)
    and a log line; the user is told with window/showMessage when a failure starts or changes, not
    again on every keystroke of the same outage."""

    def __init__(self, tell: Callable[[types.MessageType, str], None]) -> None:
        self._tell = tell
        self._shown: str | None = None

    def failed(self, exc: EngineError) -> JsonRpcException:
        message = f"generation failed: {exc}"
        log.warning("%s", message)
        if message != self._shown:
            self._shown = message
            self._tell(types.MessageType.Error, message)
        return JsonRpcException(message=message, code=types.LSPErrorCodes.RequestFailed.value)

    def recovered(self) -> None:
        self._shown = None
