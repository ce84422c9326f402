"""Admission control on request bytes in flight, modelled on otel-arrow's bounded queue.

A request's bytes are held from receipt until the next consumer returns. One that does not fit
waits (first come, first served) while the bytes waiting stay under the waiting limit; otherwise it
is refused at once, retryably, so memory stays bounded however many clients send.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from collector.errors import PermanentError, RetryableError

__all__ = [
    "ADMISSION_RETRY_AFTER_SECONDS",
    "AdmissionQueue",
    "AdmissionRefusedError",
    "RequestTooLargeError",
    "Reservation",
]

MIB = 1024 * 1024
# How long a refused client is asked to wait before retrying.
ADMISSION_RETRY_AFTER_SECONDS = 1.0


class AdmissionRefusedError(RetryableError):
    """Too many request bytes are in flight and waiting; the client should retry later."""


class RequestTooLargeError(PermanentError):
    """One request is larger than everything the receiver admits at once; it can never be taken."""


@dataclass
class _Waiter:
    size: int
    admitted: asyncio.Future[None]


class AdmissionQueue:
    """At most `request_limit` bytes admitted at once and `waiting_limit` bytes waiting for room."""

    def __init__(self, request_limit: int, waiting_limit: int, what: str = "admission") -> None:
        self.request_limit = request_limit
        self.waiting_limit = waiting_limit
        self.what = what
        self.admitted = 0
        self.waiting = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def enabled(self) -> bool:
        """Whether requests are limited at all (a request limit of 0 turns admission off)."""
        return self.request_limit > 0

    async def acquire(self, size: int) -> None:
        """Hold `size` bytes, waiting for room (until cancelled); refuse when no room is to be had."""
        if not self.enabled or size <= 0:
            return
        if size > self.request_limit:
            raise RequestTooLargeError(
                f"rejecting request, {size} bytes is larger than the {self.what} limit "
                f"of {self.request_limit} bytes in flight"
            )
        if not self._waiters and self.admitted + size <= self.request_limit:
            self.admitted += size
            return
        if self.waiting + size > self.waiting_limit:
            raise AdmissionRefusedError(
                f"rejecting request, too much pending data ({self.admitted} bytes in flight, "
                f"{self.waiting} waiting; {self.what})",
                retry_after=ADMISSION_RETRY_AFTER_SECONDS,
            )
        waiter = _Waiter(size, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self.waiting += size
        try:
            await waiter.admitted
        except BaseException:
            if waiter.admitted.done() and not waiter.admitted.cancelled():
                self.release(size)  # admitted as the wait was cut short: no one else gives it back
            else:
                self._waiters.remove(waiter)
                self.waiting -= size
                self._admit_waiters()
            raise

    def release(self, size: int) -> None:
        """Give back `size` bytes taken by `acquire` and admit the waiters that now fit."""
        if not self.enabled or size <= 0:
            return
        self.admitted -= size
        self._admit_waiters()

    def _admit_waiters(self) -> None:
        while self._waiters and self.admitted + self._waiters[0].size <= self.request_limit:
            waiter = self._waiters.popleft()
            self.waiting -= waiter.size
            self.admitted += waiter.size
            waiter.admitted.set_result(None)

    def reservation(self) -> Reservation:
        """An empty holding of bytes that can grow as a request's size becomes known."""
        return Reservation(self)


class Reservation:
    """Bytes one request holds; `release` (idempotent) gives them back."""

    def __init__(self, queue: AdmissionQueue) -> None:
        self.queue = queue
        self.size = 0

    async def hold(self, size: int) -> None:
        """Hold at least `size` bytes; growing gives the old holding back first, so no one waits holding."""
        if size <= self.size:
            return
        self.release()
        await self.queue.acquire(size)
        self.size = size

    def release(self) -> None:
        """Give the bytes back."""
        size, self.size = self.size, 0
        self.queue.release(size)
