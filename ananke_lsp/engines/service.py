"""The client for this project's generation service (`modal_service`), on Modal or local."""

from __future__ import annotations

import json

import httpx
from pydantic import ValidationError

from ..api_types import PyModalConfig
from ..constraints import CompiledConstraints
from ..environment import ServiceEnvironment, from_environment
from ..errors import EngineError, HttpError
from ..transport.http import RetryingClient, advice, error_text
from ..transport.retry import RetryPolicy
from .base import EngineHealth, EngineRequest, EngineResult, EngineStream, WithoutTokenizer
from .service_wire import API_PREFIX, ErrorBody, GenerateRequest, GenerateResponse, HealthResponse


def _result(body: GenerateResponse) -> EngineResult:
    t = body.timings
    return EngineResult(
        text=body.code,
        finish_reason=body.finish_reason,
        tokens_generated=body.tokens_generated,
        prompt_tokens=body.prompt_tokens,
        prefill_ms=t.prefill_ms,
        decode_ms=t.decode_ms,
        compile_ms=t.constraint_compile_ms,
        model=body.model,
        engine=f"service:{body.engine}",
        enforced=body.enforced,
        closing_tokens=body.closing_tokens,
    )


async def _error(http: RetryingClient, response: httpx.Response) -> EngineError:
    status = response.status_code
    detail = error_text(await http.read(response)) or response.reason_phrase
    if status == 401:
        detail = f"{detail} (check MODAL_API_KEY / the api key setting)"
    elif status >= 500:
        detail = f"{detail}: {advice(status)}"
    return HttpError(status, f"generation service error {status}: {detail}")


class ServiceEngine(WithoutTokenizer):
    """Speaks `POST /v1/generate` (JSON or server-sent events) and `GET /v1/health`.
    The service picks the model; results say which one answered."""

    name = "service"

    def __init__(self, config: PyModalConfig, policy: RetryPolicy | None = None) -> None:
        self.config = config
        self.http = RetryingClient(
            config.endpoint_url,
            api_key=config.api_key,
            timeout_secs=config.timeout_secs,
            policy=policy or RetryPolicy(max_retries=config.max_retries),
            headers=from_environment(ServiceEnvironment).proxy_headers,
        )

    @property
    def model(self) -> str:
        return self.config.model

    def _payload(self, request: EngineRequest, stream: bool) -> dict[str, object]:
        return GenerateRequest.from_engine_request(request, stream=stream).model_dump(exclude_none=True)

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        async with self.http.send("POST", f"{API_PREFIX}/generate", self._payload(request, False)) as response:
            if response.status_code != 200:
                raise await _error(self.http, response)
            raw = await self.http.read(response)
        try:
            return _result(GenerateResponse.model_validate_json(raw))
        except ValidationError as exc:
            raise EngineError(f"the service sent a response this client does not understand: {exc}") from None

    async def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream:
        async with self.http.send("POST", f"{API_PREFIX}/generate", self._payload(request, True)) as response:
            if response.status_code != 200:
                raise await _error(self.http, response)
            event = ""
            async for line in self.http.lines(response):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                    if event == "delta":
                        yield json.loads(data)["text"]
                    elif event == "done":
                        yield _result(GenerateResponse.model_validate_json(data))
                        return
                    elif event == "error":
                        raise EngineError(f"generation failed: {ErrorBody.model_validate_json(data).error.message}")
        raise EngineError(f"the stream from {self.config.endpoint_url} ended without a result; try again")

    async def health(self) -> EngineHealth:
        try:
            async with self.http.send("GET", f"{API_PREFIX}/health", retry=False) as response:
                raw = await self.http.read(response)
        except EngineError as exc:
            return EngineHealth(ok=False, engine=self.name, model=self.model, detail=str(exc))
        try:
            body = HealthResponse.model_validate_json(raw)
        except ValidationError:  # an error body, or not this service at all
            detail = f"{response.request.url} answered {response.status_code}: {error_text(raw)}"
            return EngineHealth(ok=False, engine=self.name, model=self.model, detail=detail)
        ok = response.status_code == 200 and body.status == "ok" and bool(body.self_test and body.self_test.ok)
        detail = body.detail or (body.self_test.detail if body.self_test else "")
        if not ok and not detail:  # the service leaves it empty while its model loads
            detail = (
                "the service is still loading its model; try again shortly"
                if body.status == "loading"
                else f"the service reports {body.status!r} without a passing constraint self-test"
            )
        return EngineHealth(ok=ok, engine=f"service:{body.engine}", model=body.model, detail=detail)

    async def aclose(self) -> None:
        await self.http.aclose()
