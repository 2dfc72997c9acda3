"""Structured error responses: every failure is a JSON ``ErrorBody`` saying what is wrong."""

from __future__ import annotations

from starlette.responses import JSONResponse

from ananke_lsp.wire import ErrorBody, ErrorDetail


class ServiceError(Exception):
    def __init__(
        self, status: int, kind: str, message: str, *, constraint: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=ErrorDetail(type=kind, message=message, constraint=constraint))
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        if self.status == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        return JSONResponse(self.body.model_dump(exclude_none=True), status_code=self.status, headers=headers)
