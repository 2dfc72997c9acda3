"""OpenAI-compatible routes on the same service (`/v1/completions`, `/v1/chat/completions`,
`/v1/models`), with vLLM's `structured_outputs` (the shapes are `ananke_lsp.engines.openai_wire`): any
OpenAI client, or ananke's own OpenAI-compatible engine, can use `ananke serve`. Constraints are
enforced the same way."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ananke_lsp import generation
from ananke_lsp.engines.openai_wire import (
    ChatChoice,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    OpenAIFinishReason,
    Usage,
    to_openai_finish,
)
from ananke_lsp.errors import EngineError

from .errors import engine_failure
from .service import GenerationService
from .sse import sse_event, sse_response


async def _completions(request: Request, shape: type[CompletionRequest]) -> Response:
    service = GenerationService.of(request)
    body, job = await service.prepare(request, shape)
    chat = shape is ChatRequest
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    model = service.engine.model
    if body.stream:
        return sse_response(_chunks(service.stream(job), ident, created, model, chat))
    r = (await service.complete(request, job)).result
    usage = Usage.from_result(r)
    finish = to_openai_finish(r.finish_reason)
    if chat:
        message = ChatMessage(role="assistant", content=r.text)
        reply: ChatResponse | CompletionResponse = ChatResponse(
            id=ident,
            created=created,
            model=model,
            usage=usage,
            choices=[ChatChoice(message=message, finish_reason=finish)],
        )
    else:
        choice = CompletionChoice(text=r.text, finish_reason=finish)
        reply = CompletionResponse(id=ident, created=created, model=model, usage=usage, choices=[choice])
    return JSONResponse(reply.model_dump())


async def completions(request: Request) -> Response:
    return await _completions(request, CompletionRequest)


async def chat_completions(request: Request) -> Response:
    return await _completions(request, ChatRequest)


async def models(request: Request) -> Response:
    model = GenerationService.of(request).engine.model
    return JSONResponse({"object": "list", "data": [{"id": model, "object": "model"}]})


async def _chunks(
    stream: AsyncIterator[str | generation.Outcome], ident: str, created: int, model: str, chat: bool
) -> AsyncIterator[bytes]:
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str, finish: OpenAIFinishReason | None, usage: Usage | None = None) -> bytes:
        choice = {"index": 0, "finish_reason": finish, **({"delta": {"content": text}} if chat else {"text": text})}
        body = {"id": ident, "object": kind, "created": created, "model": model, "choices": [choice]}
        if usage is not None:
            body["usage"] = usage.model_dump()
        return sse_event(json.dumps(body))

    try:
        async for item in stream:
            if isinstance(item, str):
                yield chunk(item, None)
            else:
                r = item.result
                yield chunk("", to_openai_finish(r.finish_reason), Usage.from_result(r))
    except EngineError as exc:
        error = {"message": str(exc), "type": engine_failure(exc).body.error.type}
        yield sse_event(json.dumps({"error": error}))
    yield sse_event("[DONE]")


ENDPOINTS = [
    ("/v1/completions", completions, ["POST"]),
    ("/v1/chat/completions", chat_completions, ["POST"]),
    ("/v1/models", models, ["GET"]),
]
