"""Resilience patterns with an injected clock, sleep and chance: no real waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import pytest

from gateway.errors import ErrorCode, GatewayError, unavailable
from gateway.resilience import (
    BreakerState,
    BulkheadConfig,
    CircuitBreakerConfig,
    Resilience,
    ResilienceConfig,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make(
    config: ResilienceConfig | None = None, random: float = 1.0
) -> tuple[Resilience, FakeClock, RecordingSleep]:
    clock, sleep = FakeClock(), RecordingSleep()
    resilience = Resilience(
        config or ResilienceConfig(), "traces", clock=clock, sleep=sleep, random=lambda: random
    )
    return resilience, clock, sleep


def failing(error: Callable[[], GatewayError], calls: list[int]) -> Callable[[], Awaitable[str]]:
    async def attempt() -> str:
        calls.append(1)
        raise error()

    return attempt


def state_of(resilience: Resilience) -> BreakerState:
    return resilience.state


async def answer() -> str:
    return "ok"


def test_defaults_are_valid() -> None:
    config = ResilienceConfig()
    assert config.problems() == []
    assert config.timeout == timedelta(seconds=10)
    assert (config.retries, config.backoff_multiplier) == (2, 2.0)
    assert config.circuit_breaker.failure_threshold == 5
    assert (config.bulkhead.max_concurrent, config.bulkhead.max_waiting) == (16, 64)


def test_every_problem_is_reported_with_its_key_path() -> None:
    config = ResilienceConfig(
        timeout=timedelta(0),
        retries=-1,
        backoff_initial=timedelta(seconds=2),
        backoff_max=timedelta(seconds=1),
        backoff_multiplier=0.5,
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=0, open_duration=timedelta(0), half_open_requests=0
        ),
        bulkhead=BulkheadConfig(max_concurrent=0, max_waiting=-1),
    )
    assert {p.path: p.message for p in config.problems()} == {
        "timeout": "0s must be positive",
        "retries": "-1 must be at least 0",
        "backoff_max": "1s is below backoff_initial (2s)",
        "backoff_multiplier": "0.5 must be at least 1",
        "circuit_breaker::failure_threshold": "0 must be at least 1",
        "circuit_breaker::open_duration": "0s must be positive",
        "circuit_breaker::half_open_requests": "0 must be at least 1",
        "bulkhead::max_concurrent": "0 must be at least 1",
        "bulkhead::max_waiting": "-1 must be at least 0",
    }


async def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    resilience, _clock, sleep = make(ResilienceConfig(retries=6), random=1.0)
    calls: list[int] = []
    with pytest.raises(GatewayError) as raised:
        await resilience.call(failing(lambda: unavailable("traces", retryable=True), calls))
    assert raised.value.message == "the traces service is unavailable"
    assert len(calls) == 7
    assert sleep.waits == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0])


async def test_jitter_is_full_a_random_share_of_the_ceiling() -> None:
    resilience, _clock, sleep = make(random=0.25)
    with pytest.raises(GatewayError):
        await resilience.call(failing(lambda: unavailable("traces", retryable=True), []))
    assert sleep.waits == pytest.approx([0.0125, 0.025])


async def test_a_retryable_failure_then_success_answers() -> None:
    resilience, _clock, sleep = make()
    results: Iterator[GatewayError | str] = iter([unavailable("traces", retryable=True), "ok"])

    async def attempt() -> str:
        result = next(results)
        if isinstance(result, GatewayError):
            raise result
        return result

    assert await resilience.call(attempt) == "ok"
    assert len(sleep.waits) == 1
    assert state_of(resilience) is BreakerState.CLOSED


@pytest.mark.parametrize(
    "error",
    [
        lambda: GatewayError(ErrorCode.BAD_USER_INPUT, "limit: 'x' is not an integer"),
        lambda: unavailable("traces", retryable=False),  # e.g. a 500: retrying will not help
    ],
)
async def test_non_retryable_failures_are_not_retried(error: Callable[[], GatewayError]) -> None:
    resilience, _clock, sleep = make()
    calls: list[int] = []
    with pytest.raises(GatewayError):
        await resilience.call(failing(error, calls))
    assert (len(calls), sleep.waits) == (1, [])


async def test_non_idempotent_calls_are_not_retried() -> None:
    resilience, _clock, sleep = make()
    calls: list[int] = []
    with pytest.raises(GatewayError):
        await resilience.call(failing(lambda: unavailable("traces", retryable=True), calls), idempotent=False)
    assert (len(calls), sleep.waits) == (1, [])


async def test_retry_after_is_waited_when_short_and_ends_retries_when_long() -> None:
    resilience, _clock, sleep = make(random=0.0)
    calls: list[int] = []
    with pytest.raises(GatewayError):
        await resilience.call(failing(lambda: unavailable("traces", retryable=True, retry_after=0.5), calls))
    assert (len(calls), sleep.waits) == (3, [0.5, 0.5])

    calls.clear()
    resilience, _clock, sleep = make(random=0.0)
    with pytest.raises(GatewayError) as raised:
        await resilience.call(failing(lambda: unavailable("traces", retryable=True, retry_after=30), calls))
    assert (len(calls), sleep.waits, raised.value.retry_after) == (1, [], 30)


async def test_an_attempt_past_its_timeout_is_unavailable_and_retried() -> None:
    resilience, _clock, sleep = make(ResilienceConfig(timeout=timedelta(milliseconds=5), retries=1))
    calls: list[int] = []

    async def hang() -> str:
        calls.append(1)
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(GatewayError) as raised:
        await resilience.call(hang)
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert raised.value.message == "the traces service is unavailable: no answer within 5ms"
    assert (len(calls), len(sleep.waits)) == (2, 1)


def breaker_config(threshold: int = 3, probes: int = 1) -> ResilienceConfig:
    return ResilienceConfig(
        retries=0,
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=threshold, open_duration=timedelta(seconds=10), half_open_requests=probes
        ),
    )


async def test_breaker_opens_after_consecutive_failures_and_rejects_at_once() -> None:
    resilience, clock, _sleep = make(breaker_config())
    calls: list[int] = []
    attempt = failing(lambda: unavailable("traces", retryable=True), calls)
    for _ in range(3):
        with pytest.raises(GatewayError):
            await resilience.call(attempt)
    assert state_of(resilience) is BreakerState.OPEN
    clock.now += 2.5
    with pytest.raises(GatewayError) as raised:
        await resilience.call(attempt)
    assert len(calls) == 3
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert raised.value.message == "the traces service is unavailable: circuit open, retry in 8s"
    assert raised.value.retry_after == pytest.approx(7.5)
    assert raised.value.extensions() == {"code": "UPSTREAM_UNAVAILABLE", "service": "traces", "retryAfter": 8}


async def test_a_success_resets_the_count_of_failures() -> None:
    resilience, _clock, _sleep = make(breaker_config())
    attempt = failing(lambda: unavailable("traces"), [])
    for _ in range(2):
        with pytest.raises(GatewayError):
            await resilience.call(attempt)
    assert await resilience.call(answer) == "ok"
    for _ in range(2):
        with pytest.raises(GatewayError):
            await resilience.call(attempt)
    assert state_of(resilience) is BreakerState.CLOSED


async def test_the_callers_errors_do_not_open_the_breaker() -> None:
    resilience, _clock, _sleep = make(breaker_config())
    attempt = failing(lambda: GatewayError(ErrorCode.BAD_USER_INPUT, "bad"), [])
    for _ in range(5):
        with pytest.raises(GatewayError):
            await resilience.call(attempt)

    async def bug() -> str:
        raise ValueError("a bug in the gateway")

    for _ in range(5):
        with pytest.raises(ValueError, match="a bug"):
            await resilience.call(bug)
    assert state_of(resilience) is BreakerState.CLOSED


async def test_half_open_lets_probes_through_and_a_success_closes() -> None:
    resilience, clock, _sleep = make(breaker_config(threshold=1))
    with pytest.raises(GatewayError):
        await resilience.call(failing(lambda: unavailable("traces"), []))
    clock.now += 10
    assert state_of(resilience) is BreakerState.HALF_OPEN

    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_success() -> str:
        entered.set()
        await release.wait()
        return "ok"

    probe = asyncio.create_task(resilience.call(slow_success))
    await entered.wait()
    with pytest.raises(GatewayError, match="circuit open"):  # one probe at a time
        await resilience.call(answer)
    release.set()
    assert await probe == "ok"
    assert state_of(resilience) is BreakerState.CLOSED
    assert await resilience.call(answer) == "ok"


async def test_a_failing_probe_reopens_the_breaker() -> None:
    resilience, clock, _sleep = make(breaker_config(threshold=2))
    attempt = failing(lambda: unavailable("traces"), [])
    for _ in range(2):
        with pytest.raises(GatewayError):
            await resilience.call(attempt)
    clock.now += 10
    with pytest.raises(GatewayError, match=r"unavailable$"):
        await resilience.call(attempt)
    assert state_of(resilience) is BreakerState.OPEN
    with pytest.raises(GatewayError, match="retry in 10s"):
        await resilience.call(answer)


async def test_a_cancelled_probe_frees_its_slot() -> None:
    resilience, clock, _sleep = make(breaker_config(threshold=1))
    with pytest.raises(GatewayError):
        await resilience.call(failing(lambda: unavailable("traces"), []))
    clock.now += 10
    entered = asyncio.Event()

    async def hang() -> str:
        entered.set()
        await asyncio.Event().wait()
        return "never"

    probe = asyncio.create_task(resilience.call(hang))
    await entered.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert state_of(resilience) is BreakerState.HALF_OPEN
    assert await resilience.call(answer) == "ok"
    assert state_of(resilience) is BreakerState.CLOSED


async def test_bulkhead_queues_up_to_max_waiting_then_rejects() -> None:
    config = ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=2, max_waiting=1))
    resilience, _clock, _sleep = make(config)
    release = asyncio.Event()
    started: list[int] = []

    async def held() -> int:
        started.append(1)
        await release.wait()
        return len(started)

    tasks = [asyncio.create_task(resilience.call(held)) for _ in range(3)]
    while resilience.bulkhead.running < 2 or resilience.bulkhead.waiting < 1:  # noqa: ASYNC110
        await asyncio.sleep(0)
    with pytest.raises(GatewayError) as raised:
        await resilience.call(held)
    assert raised.value.message == "the traces service is unavailable: too many requests in flight"
    assert len(started) == 2
    release.set()
    assert sorted(await asyncio.gather(*tasks)) == [2, 2, 3]
    assert (resilience.bulkhead.running, resilience.bulkhead.waiting) == (0, 0)
    assert state_of(resilience) is BreakerState.CLOSED  # rejections are not the service's failures
