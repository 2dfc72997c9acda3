"""JSON-RPC input that pygls cannot use still gets an answer. pygls drops a request whose params do
not fit its method, whose envelope is malformed, or that comes after ``shutdown``, without
replying (the editor waits forever); here each gets the JSON-RPC error that says why. A handler's
failure is answered with its message alone: pygls sends any exception's traceback to the editor.
Document text with lone surrogates (valid in a JSON escape, not in UTF-8, so no engine can take
it) is made valid where it enters."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import attrs
from cattrs import BaseValidationError, transform_error
from cattrs.v import format_exception
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
)
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger("ananke_lsp.server")
_MAX_DETAIL = 500
_AFTER_SHUTDOWN = "the server is shutting down: after 'shutdown' only 'exit' is accepted"
_PACKAGE = Path(__file__).resolve().parents[1]


class _Unusable(dict[str, Any]):
    """A message that does not fit its method. Still the original mapping: nested inside another
    message (pygls structures every object that has a ``jsonrpc`` key), it is plain data."""

    def __init__(self, data: Mapping[str, Any], problem: JsonRpcException) -> None:
        super().__init__(data)
        self.problem = problem


def _message_id(data: Mapping[str, Any]) -> int | str | None:
    msg_id = data.get("id")
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


def _id_and_method(message: Any) -> tuple[object, object]:
    if isinstance(message, Mapping):
        return message.get("id"), message.get("method")
    return getattr(message, "id", None), getattr(message, "method", None)


def _describe(exc: BaseException, cls: type | None) -> str:
    # lsprotocol's validators say what is wrong ("Position.line should be in range ..."): keep it
    return str(exc) if isinstance(exc, ValueError) and str(exc) else format_exception(exc, cls)


def _valid_unicode(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: one UTF-16 unit for another, so every
    position the client sends still points at the same place."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DETAIL]


def _meant_for_the_user(exc: BaseException) -> bool:
    """An error ananke raises on purpose: one of its own classes (engine, config, constraint,
    model errors), or a ``ValueError`` raised by its own code (a position outside the document,
    an action that no longer applies). Anything else is a bug, or the OS saying no."""
    if any(cls.__module__.startswith(f"{_PACKAGE.name}.") for cls in type(exc).__mro__):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return isinstance(exc, ValueError) and bool(frames) and Path(frames[-1].filename).is_relative_to(_PACKAGE)


def _failure_answer(exc: BaseException, what: str) -> JsonRpcException:
    """The error a failed request is answered with: a message, never a traceback (that goes to
    the log when the failure was not meant)."""
    if isinstance(exc, JsonRpcException):
        log.info("%s failed: %s", what, exc.message)
        return exc
    if _meant_for_the_user(exc):
        log.warning("%s failed: %s", what, exc)
        return JsonRpcException(message=_one_line(str(exc)), code=types.LSPErrorCodes.RequestFailed.value)
    log.error("%s failed unexpectedly", what, exc_info=exc)
    return JsonRpcInternalError(_one_line(f"internal error, details in the server's log: {type(exc).__name__}: {exc}"))


class AnankeProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            return _Unusable(data, self._problem(data, exc))

    def _problem(self, data: Mapping[str, Any], exc: JsonRpcException) -> JsonRpcException:
        method = data.get("method")
        if "method" in data and not isinstance(method, str):
            return JsonRpcInvalidRequest("'method' must be a string")
        if "id" in data and _message_id(data) is None:
            return JsonRpcInvalidRequest("'id' must be a string or an integer")
        if isinstance(method, str) and method not in self.fm.features and method not in self.fm.builtin_features:
            return JsonRpcMethodNotFound.of(method)  # whatever its params: nothing here would read them
        cause = exc.__cause__
        if isinstance(cause, BaseValidationError):
            detail = "; ".join(transform_error(cause, format_exception=_describe))
        else:
            detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return JsonRpcInvalidParams(f"invalid params for {method}: {detail[:_MAX_DETAIL]}")

    def handle_message(self, message: Any) -> None:
        msg_id, method = _id_and_method(message)
        if self._shutdown and msg_id is not None and method not in (None, types.EXIT):
            self._refuse({"id": msg_id, "method": method}, JsonRpcInvalidRequest(_AFTER_SHUTDOWN))
        elif isinstance(message, _Unusable):
            self._refuse(message, message.problem)
        elif not attrs.has(type(message)):  # JSON that is no JSON-RPC message: a list, a number, no "jsonrpc"
            data = message if isinstance(message, Mapping) else {}
            self._refuse(data, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
        elif (problem := self._envelope_problem(message)) is not None:
            data = {"id": getattr(message, "id", None), "method": getattr(message, "method", None)}
            self._refuse(data, JsonRpcInvalidRequest(problem))
        else:
            if isinstance(message, types.DidOpenTextDocumentNotification):
                message.params.text_document.text = _valid_unicode(message.params.text_document.text)
            elif isinstance(message, types.DidChangeTextDocumentNotification):
                for change in message.params.content_changes:
                    change.text = _valid_unicode(change.text)
            super().handle_message(message)

    def _envelope_problem(self, message: Any) -> str | None:
        """What makes a structured message no JSON-RPC 2.0 (pygls would drop it, or fail on it)."""
        if message.jsonrpc != self.VERSION:
            return f"'jsonrpc' must be {self.VERSION!r}"
        method = getattr(message, "method", None)
        if method is None:  # a response: its id is the one we sent
            return None
        if not isinstance(method, str):
            return "'method' must be a string"
        if hasattr(message, "id") and _message_id({"id": message.id}) is None:
            return "'id' must be a string or an integer"
        return None

    def _refuse(self, data: Mapping[str, Any], problem: JsonRpcException) -> None:
        method = data.get("method")
        log.warning("unusable JSON-RPC message (method %.80r, id %.40r): %s", method, data.get("id"), problem.message)
        if method is None:  # a response from the client: fail the request waiting for it
            ident = _message_id(data)
            future = self._request_futures.pop(ident, None) if ident is not None else None
            if future is not None and not future.done():
                future.set_exception(problem)
        elif "id" in data:  # a request: answered (with "id": null when its id is unusable); a notification is not
            self._answer_error(_message_id(data), problem)

    def refuse_unreadable(self, reason: str) -> None:
        """A frame that held no message: JSON-RPC's parse error, which has no id to answer."""
        log.warning("unreadable JSON-RPC input: %s", reason)
        self._answer_error(None, JsonRpcParseError(reason))

    def _answer_error(self, msg_id: int | str | None, problem: JsonRpcException) -> None:
        error = {"code": problem.code, "message": problem.message}
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "error": error})

    def _send_handler_result(self, future: Future[Any], *, msg_id: int | str) -> None:
        failure = None if future.cancelled() else future.exception()
        if failure is None:
            super()._send_handler_result(future, msg_id=msg_id)
            return
        self._request_futures.pop(msg_id, None)
        self._answer_error(msg_id, _failure_answer(failure, f"request {msg_id!r}"))

    def _check_handler_result(self, future: Future[Any]) -> None:
        failure = None if future.cancelled() else future.exception()
        if failure is not None:
            _failure_answer(failure, "a notification")  # for its log line: pygls shows the editor the message
        super()._check_handler_result(future)
