"""The sending queue's working set: entries waiting for a worker, bounded in the sizer's unit."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.pdata import Batch


@dataclass(slots=True)
class Entry:
    """A queued batch, its size in the queue's unit, and the durable-log records it stands for."""

    batch: Batch
    size: int
    seqs: tuple[int, ...] = ()


class QueueClosedError(Exception):
    """The queue no longer takes entries (the exporter is shutting down)."""


class SendingQueue:
    """A FIFO of entries whose total `size` is kept within `capacity` by reserving room before pushing.

    Room is reserved first and the entry pushed later, so a persistent queue can write the record to
    disk in between without over-committing. One entry larger than the capacity fits an empty queue.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0  # reserved or queued, in the sizer's unit
        self.closed = False
        self._entries: deque[Entry] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def _fits(self, size: int) -> bool:
        return self.size + size <= self.capacity or self.size == 0

    def try_reserve(self, size: int) -> bool:
        """Reserve room for `size` now; False when full. Raises QueueClosedError once closed."""
        if self.closed:
            raise QueueClosedError
        if self._putters or not self._fits(size):  # first come, first served behind blocked producers
            return False
        self.size += size
        return True

    async def reserve(self, size: int) -> None:
        """Wait until `size` fits, then reserve it. Raises QueueClosedError if the queue closes meanwhile."""
        if self.try_reserve(size):
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._putters.append(waiter)  # in arrival order; a producer woken too early keeps its place
        try:
            while True:
                try:
                    await waiter
                finally:
                    self._putters.remove(waiter)
                if self.closed:
                    raise QueueClosedError
                if self._fits(size):
                    self.size += size
                    return
                waiter = loop.create_future()
                self._putters.appendleft(waiter)
        finally:
            self._wake(self._putters)  # whatever happened here, the next producer checks the room left

    def release(self, size: int) -> None:
        """Give back room reserved for an entry that will not be pushed (or was taken out)."""
        self.size -= size
        self._wake(self._putters)

    def push(self, entry: Entry, *, reserved: bool = True) -> None:
        """Append `entry`; its room is already reserved unless `reserved` is False (replay, requeue)."""
        if not reserved:
            self.size += entry.size
        self._entries.append(entry)
        self._wake(self._getters)

    async def get(self, deadline: float | None = None) -> Entry | None:
        """The oldest entry; None when closed and empty, or at `deadline` (loop time)."""
        while not self._entries:
            if self.closed:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                if deadline is None:
                    await waiter
                else:
                    async with asyncio.timeout_at(deadline):
                        await waiter
            except TimeoutError:
                return None
            finally:
                self._getters.remove(waiter)
                if waiter.done() and not waiter.cancelled() and self._entries:
                    self._wake(self._getters)  # hand a wake-up we may not use to the next consumer
        entry = self._entries.popleft()
        self.release(entry.size)
        return entry

    def close(self) -> None:
        """Refuse new entries and wake everyone waiting; entries already queued stay to be drained."""
        self.closed = True
        for waiters in (self._getters, self._putters):
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def take_all(self) -> list[Entry]:
        """Remove and return every queued entry (what is left at a hard stop)."""
        entries = list(self._entries)
        self._entries.clear()
        self.release(sum(e.size for e in entries))
        return entries

    @staticmethod
    def _wake(waiters: deque[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                return
