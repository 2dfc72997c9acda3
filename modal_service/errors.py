"""Structured error responses: every failure is a JSON ``ErrorBody`` saying what is wrong."""

from __future__ import annotations

from starlette.responses import JSONResponse

from ananke_lsp.errors import AnankeError
from ananke_lsp.wire import ErrorBody, ErrorDetail


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
