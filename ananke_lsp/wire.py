"""The generation service's HTTP contract, shared by `modal_service` and the client engines.

POST /v1/generate  body ``GenerateRequest`` → ``GenerateResponse``; with ``"stream": true`` a
text/event-stream of ``delta`` events ({"text": ...}) and one ``done`` event (a
``GenerateResponse``), or an ``error`` event (an ``ErrorBody``).
GET /v1/health → ``HealthResponse`` (503 while the model loads or when the self-test fails).
Errors are ``ErrorBody`` with a 4xx/5xx status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .engines.base import EngineRequest, FinishReason
from .types import PyValidationResult

API_PREFIX = "/v1"


class GenerateRequest(EngineRequest):
    stream: bool = False
    model: str | None = None  # must name the served model when given


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
