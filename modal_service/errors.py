"""The service's answers that are not results: ``ServiceError`` (a status and a JSON ``ErrorBody``
saying what is wrong), what an engine failure becomes, and ``ClientGone``."""

from __future__ import annotations

from starlette.responses import JSONResponse

from ananke_lsp.engines.service_wire import ErrorBody, ErrorDetail
from ananke_lsp.errors import AnankeError, ConstraintError, EngineError, PromptTooLongError


class ServiceError(AnankeError):
    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        constraint: str | None = None,
        retry_after: int | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=ErrorDetail(type=kind, message=message, constraint=constraint))
        self.retry_after = retry_after
        self.close = close  # the connection ends with this answer (the rest of the request is not read)

    def response(self) -> JSONResponse:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if self.close:
            headers["Connection"] = "close"
        return JSONResponse(self.body.model_dump(exclude_none=True), status_code=self.status, headers=headers or None)


class ClientGone(AnankeError):
    """The client left before its answer was ready; the engine has been stopped."""


def engine_failure(exc: EngineError) -> ServiceError:
    """A prompt the model's context cannot hold, or a constraint this engine refuses, is the
    request's fault: a 400 naming it. Any other engine failure is the service's: a 500."""
    if isinstance(exc, PromptTooLongError):
        return ServiceError(400, "limit", str(exc))
    if isinstance(exc, ConstraintError):  # an engine that cannot take this constraint (vLLM's limits)
        return ServiceError(400, "constraint_error", str(exc), constraint=exc.constraint)
    return ServiceError(500, "engine_error", str(exc))
