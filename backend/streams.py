"""A service's live streams (log tails, live traces): how many may run at once, and ending them all."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Generic, Protocol, TypeVar


class TooManyStreamsError(Exception):
    """Every live stream slot of the service is taken (answered with 429)."""


class LiveStream(Protocol):
    task: asyncio.Task[Any] | None
    """The task serving the stream, once it runs (cancelled when the hub closes)."""


S = TypeVar("S", bound=LiveStream)


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


__all__ = ["LiveStream", "StreamHub", "TooManyStreamsError"]
