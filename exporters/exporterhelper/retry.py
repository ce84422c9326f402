"""Retries with exponential backoff and jitter, as the collector's retry sender (`retry_on_failure`)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from logging import Logger
from typing import TYPE_CHECKING

from collector.errors import PermanentError, RetryableError
from collector.pdata import MalformedData

if TYPE_CHECKING:
    from collector.pdata import Batch
    from exporters.exporterhelper.config import RetryConfig
    from exporters.exporterhelper.sender import Sender

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass
class Timing:
    """Where retries get time and chance from; tests inject a recording `sleep` and a fake `clock`."""

    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    random: Callable[[], float] = random.random


class Backoff:
    """Exponential intervals: initial * multiplier^n capped at max_interval, each scaled by [1-f, 1+f]."""

    def __init__(self, config: RetryConfig, rand: Callable[[], float]) -> None:
        self.interval = config.initial_interval.total_seconds()
        self.multiplier = config.multiplier
        self.max_interval = config.max_interval.total_seconds()
        self.factor = config.randomization_factor
        self.rand = rand

    def next(self) -> float:
        """The next wait in seconds (jittered), advancing the schedule."""
        wait = self.interval * (1 - self.factor + 2 * self.factor * self.rand())
        self.interval = min(self.interval * self.multiplier, self.max_interval)
        return wait


class Interruption:
    """Shared by every retry loop of one exporter: shutdown sets a `deadline` for waits, or stops them all."""

    def __init__(self) -> None:
        self.deadline = math.inf  # on the Timing clock: no backoff wait may end after it
        self.stopped = False
        self._changed = asyncio.Event()

    def drain_until(self, deadline: float) -> None:
        """Let waits go on only if they end by `deadline`."""
        self.deadline = deadline
        self._notify()

    def stop(self) -> None:
        """End every wait now."""
        self.stopped = True
        self._notify()

    def allows(self, end: float) -> bool:
        """Whether a wait ending at `end` may go on."""
        return not self.stopped and end <= self.deadline

    async def changed(self) -> None:
        """Return at the next `drain_until` or `stop`."""
        await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()


class RetryingSender:
    """Sends one batch with a per-attempt timeout, retrying retryable failures until success or give-up.

    `send` returns on success and raises PermanentError (never retried) or RetryableError (retries
    exhausted, disabled, or interrupted by shutdown; `retry_after` carries the destination's last hint).
    """

    def __init__(
        self,
        sender: Sender,
        config: RetryConfig,
        timeout: float,
        logger: Logger,
        label: str,
        timing: Timing | None = None,
    ) -> None:
        self.sender, self.config, self.timeout = sender, config, timeout
        self.logger, self.label = logger, label
        self.timing = timing or Timing()
        self.max_elapsed = config.max_elapsed_time.total_seconds()
        self.interruption = Interruption()

    async def _attempt(self, batch: Batch) -> None:
        if self.timeout <= 0:  # 0: no timeout, as in the collector
            await self.sender.send(batch, math.inf)
            return
        async with asyncio.timeout(self.timeout):
            await self.sender.send(batch, self.timeout)

    async def send(self, batch: Batch) -> None:
        """Deliver `batch` or raise the final error (see the class docstring)."""
        clock = self.timing.clock
        backoff: Backoff | None = None
        start = clock()
        attempts = 0
        while True:
            attempts += 1
            try:
                await self._attempt(batch)
                return
            except PermanentError:
                raise
            except MalformedData as err:  # the data itself is bad: no attempt can succeed
                raise PermanentError(f"malformed data: {err}") from err
            except RetryableError as err:
                error = err
            except TimeoutError:
                error = RetryableError(f"the attempt timed out after {self.timeout:g}s")
            except Exception as err:
                self.logger.warning("%s: sending failed unexpectedly: %r (retrying)", self.label, err)
                error = RetryableError(f"{type(err).__name__}: {err}")
            if not self.config.enabled:
                raise error
            backoff = backoff or Backoff(self.config, self.timing.random)
            # As the collector: the destination's hint is honoured fully, but never below the backoff.
            wait = backoff.next()
            if error.retry_after is not None:
                wait = max(wait, error.retry_after)
            now = clock()
            if self.max_elapsed > 0 and now - start + wait > self.max_elapsed:
                raise _gave_up(error, f"gave up after {attempts} attempts in {now - start:.3g}s")
            if not self.interruption.allows(now + wait):
                raise _gave_up(error, f"interrupted by shutdown after {attempts} attempts")
            self.logger.debug(
                "%s: attempt %d failed (%s); retrying in %.3gs", self.label, attempts, error, wait
            )
            if not await self._wait(wait):
                raise _gave_up(error, f"interrupted by shutdown after {attempts} attempts")

    async def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False when shutdown cut the wait short."""
        end = self.timing.clock() + seconds
        sleeper = asyncio.ensure_future(self.timing.sleep(seconds))
        try:
            while not sleeper.done():
                if not self.interruption.allows(end):
                    return False
                waker = asyncio.ensure_future(self.interruption.changed())
                try:
                    await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waker.cancel()
        finally:
            sleeper.cancel()
        return not self.interruption.stopped


class GaveUpError(RetryableError):
    """Retries ended without success; `cause` is the last attempt's error."""

    def __init__(self, message: str, cause: RetryableError) -> None:
        super().__init__(message, cause.retry_after)
        self.cause = cause


def _gave_up(error: RetryableError, how: str) -> GaveUpError:
    return GaveUpError(f"{how}: {error}", error)
