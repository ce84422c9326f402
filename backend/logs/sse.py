"""Server-Sent Events: the text/event-stream framing and an ASGI response that stops on disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events on at once
]


def event(data: str, id: str | None = None, name: str | None = None) -> bytes:
    """One event; `data` must be a single line (JSON from json.dumps is)."""
    lines = [f"event: {name}"] if name else []
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


def error_event(err: Exception) -> bytes:
    """The `event: error` ending a failed stream: a query timeout says so; other failures (whose text
    may hold SQL) only say that the query failed; the service's log has the details."""
    from backend.service import BadRequestError, QueryTimeoutError

    if isinstance(err, QueryTimeoutError | BadRequestError):
        message = str(err)
    else:
        message = "the query failed; the service's log has the details"
    return event(json.dumps({"error": message}), name="error")


def comment(text: str) -> bytes:
    """A comment line: ignored by clients, it keeps idle connections open."""
    return f": {text}\n\n".encode()


def retry(milliseconds: int) -> bytes:
    """How long a client should wait before reconnecting."""
    return f"retry: {milliseconds}\n\n".encode()


class EventStream(Response):
    """A response sending `events` as they come; ends with them, or as soon as the client leaves (the
    producer is cancelled then). `on_close` runs once, however the stream ends."""

    def __init__(self, events: AsyncIterator[bytes], on_close: Callable[[], None] | None = None) -> None:
        super().__init__(media_type="text/event-stream")
        self.events = events
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            producer = asyncio.create_task(self._produce(send), name="sse producer")
            watcher = asyncio.create_task(_disconnected(receive), name="sse disconnect watch")
            try:
                await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (producer, watcher):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
        finally:
            with contextlib.suppress(Exception):
                aclose = getattr(self.events, "aclose", None)
                if aclose is not None:
                    await aclose()
            if self.on_close is not None:
                self.on_close()

    async def _produce(self, send: Send) -> None:
        async for chunk in self.events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


__all__ = ["HEADERS", "EventStream", "comment", "event", "retry"]
