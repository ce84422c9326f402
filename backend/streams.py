"""A service's live streams (log tails, live traces): how many may run at once, and ending them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, TypeVar

from backend.logs.sse import comment, error_event, retry


class TooManyStreamsError(Exception):
    """Every live stream slot of the service is taken (answered with 429)."""


class LiveStream(Protocol):
    task: asyncio.Task[Any] | None
    """The task serving the stream, once it runs (cancelled when the hub closes)."""


S = TypeVar("S", bound=LiveStream)


class PolledStream(LiveStream, Protocol):
    """A live stream fed by polling its table (a log tail, live traces)."""

    async def prime(self) -> None:
        """Before the first poll: mark what is already there as seen (or start from a resumed event)."""
        ...

    async def poll(self) -> list[bytes]:
        """One poll: the SSE chunks of what is new."""
        ...

    def close(self) -> None:
        """Give the stream's slot back (idempotent)."""
        ...


async def polled_events(
    stream: PolledStream,
    closing: asyncio.Event,
    interval: float,
    keepalive: float,
    log: logging.Logger,
) -> AsyncIterator[bytes]:
    """SSE chunks of `stream`: a retry hint, then each poll's chunks every `interval` seconds and a
    keep-alive comment after `keepalive` quiet ones, until `closing`; a failed query ends the stream
    with an `event: error` (the client may resume)."""
    stream.task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    try:
        yield retry(max(1000, round(interval * 1000)))
        await stream.prime()
        quiet_since = loop.time()
        while not closing.is_set():
            chunks = await stream.poll()
            for chunk in chunks:
                yield chunk
            if chunks:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= keepalive:
                yield comment("keep-alive")
                quiet_since = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), interval)
    except Exception as err:
        log.warning("live stream ended: %s", err)
        yield error_event(err)
    finally:
        stream.close()


class StreamHub(Generic[S]):
    """At most `limit` streams at once; `close` asks them all to end (they watch `closing`)."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.streams: set[S] = set()
        self.closing = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    def admit(self, stream: S) -> S:
        """`stream`, counted until `release`; TooManyStreamsError when no slot is free."""
        if self.closing.is_set() or len(self.streams) >= self.limit:
            raise TooManyStreamsError(f"{len(self.streams)} {self.what} are open, the most allowed")
        self.streams.add(stream)
        self.idle.clear()
        return stream

    def release(self, stream: S) -> None:
        """Count `stream` no more."""
        self.streams.discard(stream)
        if not self.streams:
            self.idle.set()

    async def close(self, grace: float = 5.0) -> None:
        """Ask every stream to end, wait for them up to `grace` seconds, then cancel the rest."""
        self.closing.set()
        if not await self._idle_within(grace):
            for stream in list(self.streams):
                if stream.task is not None:
                    stream.task.cancel()
            await self._idle_within(grace)

    async def _idle_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), seconds)
        return self.idle.is_set()


__all__ = ["LiveStream", "PolledStream", "StreamHub", "TooManyStreamsError", "polled_events"]
