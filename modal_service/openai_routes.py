"""OpenAI-compatible routes on the same service (`/v1/completions`, `/v1/chat/completions`,
`/v1/models`), with vLLM's `structured_outputs`: any OpenAI client, or ananke's own
OpenAI-compatible engine, can use `ananke serve`. Constraints are enforced the same way."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.errors import EngineError
from ananke_lsp.openai_wire import (
    ChatChoice,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Usage,
)
from ananke_lsp.types import PyConstraintIR

from .errors import ServiceError

if TYPE_CHECKING:
    from .server import _Service


def _constraints(body: CompletionRequest) -> list[PyConstraintIR]:
    so = body.structured_outputs
    if so is None or (so.json_ is None and so.regex is None and so.grammar is None):
        return []
    schema = so.json_ if isinstance(so.json_, str) or so.json_ is None else json.dumps(so.json_)
    return [
        PyConstraintIR(
            name="structured_outputs",
            json_schema=schema,
            grammar=so.grammar,
            regex_patterns=[so.regex] if so.regex else [],
        )
    ]


def _engine_request(body: CompletionRequest) -> EngineRequest:
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    common = {
        "constraints": _constraints(body),
        "max_tokens": body.max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "stop": stop,
        "seed": body.seed,
    }
    if isinstance(body, ChatRequest):
        system = "\n".join(m.content for m in body.messages if m.role == "system") or None
        user = "\n".join(m.content for m in body.messages if m.role != "system")
        return EngineRequest(prompt=user, chat=True, system=system, **common)
    return EngineRequest(prompt=body.prompt, chat=False, **common)


def routes(service: _Service) -> list[Route]:
    from .server import engine_failure, sse_response  # the server imports this module first

    async def completions(request: Request, shape: type[CompletionRequest]) -> Response:
        try:
            body, engine_request, compiled, lookup_ms = await service.prepare(request, shape, _engine_request)
        except ServiceError as exc:
            return exc.response()
        chat = shape is ChatRequest
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(time.time())
        model = service.engine.model
        if body.stream:
            return sse_response(
                _chunks(service.stream(engine_request, compiled, lookup_ms), ident, created, model, chat)
            )
        try:
            outcome = await service.complete(request, engine_request, compiled, lookup_ms)
        except EngineError as exc:
            return engine_failure(exc).response()
        if outcome is None:
            return Response(status_code=499)
        r = outcome.result
        usage = Usage(
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.tokens_generated,
            total_tokens=r.prompt_tokens + r.tokens_generated,
        )
        finish = "length" if r.finish_reason in ("length", "time") else "stop"
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
            reply = CompletionResponse(
                id=ident,
                created=created,
                model=model,
                usage=usage,
                choices=[CompletionChoice(text=r.text, finish_reason=finish)],
            )
        return JSONResponse(reply.model_dump())

    async def plain(request: Request) -> Response:
        return await completions(request, CompletionRequest)

    async def chat(request: Request) -> Response:
        return await completions(request, ChatRequest)

    async def models(request: Request) -> Response:
        try:
            service.authorize(request)
        except ServiceError as exc:
            return exc.response()
        return JSONResponse({"object": "list", "data": [{"id": service.engine.model, "object": "model"}]})

    return [
        Route("/v1/completions", plain, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ]


async def _chunks(
    stream: AsyncIterator[object], ident: str, created: int, model: str, chat: bool
) -> AsyncIterator[bytes]:
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str, finish: str | None, usage: dict[str, int] | None = None) -> bytes:
        choice = {"index": 0, "finish_reason": finish, **({"delta": {"content": text}} if chat else {"text": text})}
        body = {"id": ident, "object": kind, "created": created, "model": model, "choices": [choice]}
        if usage:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n".encode()

    try:
        async for item in stream:
            if isinstance(item, str):
                yield chunk(item, None)
            else:
                r = item.result  # type: ignore[attr-defined]
                usage = {
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.tokens_generated,
                    "total_tokens": r.prompt_tokens + r.tokens_generated,
                }
                yield chunk("", "length" if r.finish_reason in ("length", "time") else "stop", usage)
    except EngineError as exc:
        from .server import engine_failure

        error = {"message": str(exc), "type": engine_failure(exc).body.error.type}
        yield f"data: {json.dumps({'error': error})}\n\n".encode()
    yield b"data: [DONE]\n\n"
