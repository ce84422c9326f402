"""How the gateway calls a query service: a bulkhead, a circuit breaker, retries with backoff, timeouts.

`Resilience.call` runs one call as bulkhead → breaker → retries (exponential backoff, full jitter, only
for retryable failures of idempotent calls) → a timeout per attempt. Time and chance are injected, so
tests drive the breaker with a fake clock and the backoff with a recording sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random as random_
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

from collector.configstruct import format_duration
from collector.errors import ConfigError, Problem
from gateway.errors import ErrorCode, GatewayError, unavailable

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

log = logging.getLogger("airis.gateway")


def _positive(problems: list[Problem], path: str, value: timedelta) -> None:
    if value <= timedelta(0):
        problems.append(Problem(path, f"{format_duration(value)} must be positive"))


def _at_least(problems: list[Problem], path: str, value: float, minimum: float) -> None:
    if value < minimum:
        problems.append(Problem(path, f"{value:g} must be at least {minimum:g}"))


@dataclass
class CircuitBreakerConfig:
    """`circuit_breaker`: open after `failure_threshold` failures in a row, probe after `open_duration`."""

    failure_threshold: int = 5
    """Consecutive calls failing with the service unavailable that open the circuit."""
    open_duration: timedelta = timedelta(seconds=10)
    """How long an open circuit rejects calls before letting probes through (half-open)."""
    half_open_requests: int = 1
    """How many probe calls a half-open circuit lets through at once."""

    def problems(self) -> list[Problem]:
        """Every mistake, with paths relative to `circuit_breaker`."""
        problems: list[Problem] = []
        _at_least(problems, "failure_threshold", self.failure_threshold, 1)
        _positive(problems, "open_duration", self.open_duration)
        _at_least(problems, "half_open_requests", self.half_open_requests, 1)
        return problems


@dataclass
class BulkheadConfig:
    """`bulkhead`: at most `max_concurrent` calls run and `max_waiting` wait; more are refused at once."""

    max_concurrent: int = 16
    """Calls to the service running at once."""
    max_waiting: int = 64
    """Calls waiting for a free slot; 0: refuse as soon as every slot is taken."""

    def problems(self) -> list[Problem]:
        """Every mistake, with paths relative to `bulkhead`."""
        problems: list[Problem] = []
        _at_least(problems, "max_concurrent", self.max_concurrent, 1)
        _at_least(problems, "max_waiting", self.max_waiting, 0)
        return problems


@dataclass
class ResilienceConfig:
    """Timeout, retries and backoff of one service's calls, and its circuit breaker and bulkhead."""

    timeout: timedelta = timedelta(seconds=10)
    """How long one attempt may take (for a stream: until its first byte of headers)."""
    retries: int = 2
    """Further attempts after a retryable failure (connect error, timeout, 502/503/504) of a read."""
    backoff_initial: timedelta = timedelta(milliseconds=50)
    """The ceiling of the first wait before a retry (each wait is random below its ceiling)."""
    backoff_max: timedelta = timedelta(seconds=1)
    """The highest ceiling a wait grows to."""
    backoff_multiplier: float = 2.0
    """How much the ceiling grows from one retry to the next."""
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    bulkhead: BulkheadConfig = field(default_factory=BulkheadConfig)

    def validate(self) -> None:
        if problems := self.problems():
            raise ConfigError(problems)

    def problems(self) -> list[Problem]:
        """Every mistake, with key paths (`circuit_breaker::open_duration`)."""
        problems: list[Problem] = []
        _positive(problems, "timeout", self.timeout)
        _at_least(problems, "retries", self.retries, 0)
        _positive(problems, "backoff_initial", self.backoff_initial)
        if self.backoff_max < self.backoff_initial:
            problems.append(
                Problem(
                    "backoff_max",
                    f"{format_duration(self.backoff_max)} is below backoff_initial "
                    f"({format_duration(self.backoff_initial)})",
                )
            )
        _at_least(problems, "backoff_multiplier", self.backoff_multiplier, 1)
        for name, nested in (("circuit_breaker", self.circuit_breaker), ("bulkhead", self.bulkhead)):
            problems.extend(Problem(f"{name}::{p.path}", p.message) for p in nested.problems())
        return problems


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → open after `failure_threshold` failures in a row → half-open after `open_duration`
    (`half_open_requests` probes) → closed by a success, open again by a failure."""

    def __init__(self, config: CircuitBreakerConfig, service: str, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.service = service
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self.clock() >= self._opened_at + self.config.open_duration.total_seconds()
        ):
            self._state, self._probes = BreakerState.HALF_OPEN, 0
        return self._state

    def admit(self) -> bool:
        """Let a call through (True: as a half-open probe), or raise UPSTREAM_UNAVAILABLE at once."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and self._probes < self.config.half_open_requests:
            self._probes += 1
            return True
        wait = max(0.0, self._opened_at + self.config.open_duration.total_seconds() - self.clock())
        raise unavailable(
            self.service, f"circuit open, retry in {max(1, math.ceil(wait))}s", retry_after=wait
        )

    def succeeded(self, probe: bool) -> None:
        """The service answered (even with the caller's error): a half-open circuit closes."""
        if self._state is BreakerState.OPEN:
            return  # a straggler admitted before the circuit opened
        if self._state is BreakerState.HALF_OPEN:
            log.info("%s service: circuit closed", self.service)
        self._state, self._failures, self._probes = BreakerState.CLOSED, 0, 0

    def failed(self, probe: bool) -> None:
        """The service was unavailable: count it, and open the circuit at the threshold or after a probe."""
        if self._state is BreakerState.OPEN:
            return
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.config.failure_threshold:
            log.warning(
                "%s service: circuit open for %s after %d failures",
                self.service,
                format_duration(self.config.open_duration),
                self._failures,
            )
            self._state, self._opened_at, self._probes = BreakerState.OPEN, self.clock(), 0

    def abandoned(self, probe: bool) -> None:
        """The call ended without an answer either way (cancelled, or a bug): free its probe slot."""
        if probe and self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)


class Bulkhead:
    """At most `max_concurrent` calls run and `max_waiting` wait for a slot; more are refused at once."""

    def __init__(self, config: BulkheadConfig, service: str) -> None:
        self.config = config
        self.service = service
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(config.max_concurrent)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; UPSTREAM_UNAVAILABLE at once when running and waiting are full."""
        if self.running + self.waiting >= self.config.max_concurrent + self.config.max_waiting:
            raise unavailable(self.service, "too many requests in flight")
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


class Resilience:
    """One service's calls: `call(attempt)` runs `attempt` under the bulkhead, breaker, retries and timeout."""

    def __init__(
        self,
        config: ResilienceConfig,
        service_name: str,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random_.random,
    ) -> None:
        self.config = config
        self.service_name = service_name
        self.sleep = sleep
        self.random = random
        self.breaker = CircuitBreaker(config.circuit_breaker, service_name, clock)
        self.bulkhead = Bulkhead(config.bulkhead, service_name)

    @property
    def state(self) -> BreakerState:
        """The circuit breaker's state."""
        return self.breaker.state

    async def call(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """The result of `attempt`, retried if `idempotent`; GatewayError when the service cannot answer."""
        async with self.bulkhead.slot():
            probe = self.breaker.admit()
            try:
                result = await self._attempts(attempt, idempotent)
            except GatewayError as err:
                if err.code is ErrorCode.UPSTREAM_UNAVAILABLE:
                    self.breaker.failed(probe)
                else:
                    self.breaker.succeeded(probe)
                raise
            except BaseException:
                self.breaker.abandoned(probe)
                raise
            self.breaker.succeeded(probe)
            return result

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (0-based): random below the grown, capped ceiling."""
        ceiling = min(
            self.config.backoff_max.total_seconds(),
            self.config.backoff_initial.total_seconds() * self.config.backoff_multiplier**retry,
        )
        return self.random() * ceiling

    async def _attempts(self, attempt: Callable[[], Awaitable[T]], idempotent: bool) -> T:
        timeout = self.config.timeout.total_seconds()
        retry = 0
        while True:
            try:
                async with asyncio.timeout(timeout):
                    return await attempt()
            except TimeoutError:
                error = unavailable(
                    self.service_name,
                    f"no answer within {format_duration(self.config.timeout)}",
                    retryable=True,
                )
            except GatewayError as err:
                error = err
            if not (idempotent and error.retryable and retry < self.config.retries):
                raise error
            wait = self.backoff(retry)
            if error.retry_after is not None:
                if error.retry_after > self.config.backoff_max.total_seconds():
                    raise error  # the service asks for a longer pause than a caller should wait
                wait = max(wait, error.retry_after)
            retry += 1
            log.debug("%s service: %s; retry %d in %.3fs", self.service_name, error.message, retry, wait)
            await self.sleep(wait)


__all__ = [
    "BreakerState",
    "Bulkhead",
    "BulkheadConfig",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "Resilience",
    "ResilienceConfig",
]
