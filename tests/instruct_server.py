"""A fake of an instruct model behind a real OpenAI-compatible HTTP server (run it with
``servers.serve_in_thread``): it answers `/v1/chat/completions` and `/v1/completions` with canned
text written the way chat models write (prose around markdown fences), streamed in pieces as
vLLM streams, and ignores `structured_outputs`, as a server without structured outputs does. Every
request body is kept, so a test can read what the client sent."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MODEL = "instruct-fake"


def last_user_message(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


class InstructServer:
    def __init__(self, answer: Callable[[dict], str]) -> None:
        """``answer(body)``: the text for one request body."""
        self.answer = answer
        self.bodies: list[dict] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._reply, methods=["POST"]),
                Route("/v1/completions", self._reply, methods=["POST"]),
            ]
        )

    async def _reply(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        text = self.answer(body)
        chat = "messages" in body
        pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
        events = []
        for piece in pieces:
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            events.append({"choices": [{**choice, "finish_reason": None}]})
        last = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        events.append({"choices": [{**last, "finish_reason": "stop"}]})
        events.append({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": len(pieces)}})
        stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return Response(stream, media_type="text/event-stream")
