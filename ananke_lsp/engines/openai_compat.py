"""Any server speaking OpenAI's `/v1/completions` and `/v1/chat/completions` with vLLM's
`structured_outputs` (a user's own `vllm serve`, SGLang, `ananke serve`). Such a server takes one
structured output, so `structured_plan` decides what it enforces; the caller validates the text
against every constraint afterwards, so a server that ignores the field is caught, not trusted."""

from __future__ import annotations

import json
import time

from pydantic import ValidationError

from ..api_types import PyModalConfig
from ..constraints import CompiledConstraints
from ..constraints.plan import structured_plan
from ..errors import EngineError, HttpError
from ..transport.http import RetryingClient, advice, error_text
from ..transport.retry import RetryPolicy
from .base import EngineHealth, EngineRequest, EngineResult, EngineStream, WithoutTokenizer, collect
from .openai_wire import from_openai_finish


def completion_payload(request: EngineRequest, model: str, compiled: CompiledConstraints | None, stream: bool) -> dict:
    """The JSON body for one request: pure data, so it can be checked without a server."""
    plan = structured_plan(compiled)
    body: dict[str, object] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}  # token counts arrive in the last chunk
    if request.chat:
        body["messages"] = [
            {"role": "system", "content": request.system_prompt()},
            {"role": "user", "content": request.prompt},
        ]
    else:
        body["prompt"] = request.prompt
    if request.stop:
        body["stop"] = request.stop
    if request.seed is not None:
        body["seed"] = request.seed
    if plan.kind is not None:
        body["structured_outputs"] = {plan.kind: plan.value}
    return body


class OpenAICompatibleEngine(WithoutTokenizer):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_secs: float = 300,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._model = model
        self.http = RetryingClient(base_url, api_key=api_key, timeout_secs=timeout_secs, policy=policy or RetryPolicy())

    @classmethod
    def connect(cls, config: PyModalConfig) -> OpenAICompatibleEngine:
        """An engine for ``config``'s endpoint and model, with its key, timeout and retries."""
        policy = RetryPolicy(max_retries=config.max_retries)
        return cls(
            config.endpoint_url, config.model, api_key=config.api_key, timeout_secs=config.timeout_secs, policy=policy
        )

    @property
    def model(self) -> str:
        return self._model

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream:
        path = "/v1/chat/completions" if request.chat else "/v1/completions"
        body = completion_payload(request, self._model, compiled, stream=True)
        started = time.perf_counter()
        first_at: float | None = None
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, int] = {}
        async with self.http.send("POST", path, body) as response:
            if response.status_code != 200:
                status, said = response.status_code, error_text(await self.http.read(response))
                raise HttpError(status, f"{self.http.base_url}{path} answered {status} ({said}): {advice(status)}")
            async for line in self.http.lines(response):
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                    choice = chunk["choices"][0] if chunk.get("choices") else {}
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise EngineError(f"{self.http.base_url} sent a malformed stream chunk: {exc}") from None
                usage = chunk.get("usage") or usage
                text = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if text:
                    first_at = first_at or time.perf_counter()
                    pieces.append(text)
                    yield text
        done = time.perf_counter()
        first = first_at or done
        plan = structured_plan(compiled)
        yield EngineResult(
            text="".join(pieces),
            finish_reason=from_openai_finish(finish),
            tokens_generated=int(usage.get("completion_tokens", len(pieces))),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            prefill_ms=(first - started) * 1000,
            decode_ms=(done - first) * 1000,
            compile_ms=0.0,
            model=self._model,
            engine=self.name,
            enforced=plan.enforced,
        )

    async def health(self) -> EngineHealth:
        try:
            async with self.http.send("GET", "/v1/models", retry=False) as response:
                ok = response.status_code == 200
                listed = json.loads(await self.http.read(response)).get("data", []) if ok else []
        except (EngineError, ValidationError, json.JSONDecodeError) as exc:
            return EngineHealth(ok=False, engine=self.name, model=self._model, detail=str(exc))
        served = [m.get("id") for m in listed if isinstance(m, dict)]
        if self._model not in served:
            return EngineHealth(ok=False, engine=self.name, model=self._model, detail=f"server lists {served}")
        return EngineHealth(ok=True, engine=self.name, model=self._model)
