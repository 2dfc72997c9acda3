"""The generation service's HTTP contract, shared by `modal_service` and the client engines.

POST /v1/generate  body ``GenerateRequest`` → ``GenerateResponse``; with ``"stream": true`` a
text/event-stream of ``delta`` events ({"text": ...}) and one ``done`` event (a
``GenerateResponse``), or an ``error`` event (an ``ErrorBody``).
GET /v1/health → ``HealthResponse`` (503 while the model loads or when the self-test fails).
Errors are ``ErrorBody`` with a 4xx/5xx status."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..api_types import PyConstraintIR, PyGenerationContext, PyValidationResult
from .base import MAX_CONTEXT_FILES, MAX_STOP_CHARS, MAX_STOPS, EngineRequest, FinishReason
from .fim import ContextFile
from .line_stops import LineStops

API_PREFIX = "/v1"
_SERVICE_FIELDS = {"stream", "model"}  # how the service answers and which model it must be: not the engine's


class GenerateRequest(BaseModel):
    """The body of POST /v1/generate. Its fields are the public part of an ``EngineRequest``, listed
    here (same names, defaults and bounds) so that a field added to the engine's request stays
    internal until this contract names it; the conversions below are the only way across."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    chat: bool = True
    system: str | None = None
    constraints: list[PyConstraintIR] = Field(default_factory=list)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[Annotated[str, Field(max_length=MAX_STOP_CHARS)]] = Field(default_factory=list, max_length=MAX_STOPS)
    seed: int | None = None
    context: PyGenerationContext | None = None
    suffix: str | None = None
    line_stops: LineStops | None = None
    max_predict_ms: float | None = Field(default=None, gt=0)
    files: list[ContextFile] = Field(default_factory=list, max_length=MAX_CONTEXT_FILES)
    stream: bool = False
    model: str | None = None  # must name the served model when given

    @classmethod
    def from_engine_request(cls, request: EngineRequest, *, stream: bool = False) -> GenerateRequest:
        """The body a client sends for ``request``: its public fields only."""
        public = cls.model_fields.keys() - _SERVICE_FIELDS
        return cls.model_validate({**request.model_dump(include=public), "stream": stream})

    def to_engine_request(self) -> EngineRequest:
        """The engine request the service runs for this body."""
        return EngineRequest.model_validate(self.model_dump(exclude=_SERVICE_FIELDS))


class Timings(BaseModel):
    generation_ms: float
    prefill_ms: float
    decode_ms: float
    per_token_us: float
    constraint_compile_ms: float


class GenerateResponse(BaseModel):
    code: str
    finish_reason: FinishReason
    tokens_generated: int
    prompt_tokens: int
    timings: Timings
    model: str
    engine: str
    enforced: list[str] = Field(default_factory=list)  # held token by token
    validated: list[str] = Field(default_factory=list)  # only checked after generation
    validation: PyValidationResult
    closing_tokens: int = 0  # placed by the engine to finish inside max_tokens (not sampled)


class ErrorDetail(BaseModel):
    type: str  # auth | bad_request | too_large | limit | constraint_error | loading | engine_error | not_found
    message: str
    constraint: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class SelfTest(BaseModel):
    ok: bool
    output: str = ""
    detail: str = ""


class HealthResponse(BaseModel):
    status: Literal["ok", "loading", "unhealthy"]
    model: str
    engine: str
    version: str
    self_test: SelfTest | None = None
    detail: str = ""


class StatsResponse(BaseModel):
    requests: int
    in_flight: int
    cancelled: int
    engine_tokens_decoded: int | None = None
