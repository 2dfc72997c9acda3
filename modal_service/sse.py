"""Server-sent events, as both APIs stream them: ananke's named events and OpenAI's bare `data:`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse


def sse_event(data: str, event: str | None = None) -> bytes:
    named = f"event: {event}\n" if event else ""
    return f"{named}data: {data}\n\n".encode()


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    # no-cache and no proxy buffering: each event must reach the client as it is written
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
