"""Retries: exponential backoff with jitter, the destination's retry_after, give-up, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta

import pytest

from collector.errors import PermanentError, RetryableError
from collector.pdata import MalformedData
from exporters.exporterhelper.config import RetryConfig
from exporters.exporterhelper.retry import Backoff, GaveUpError, RetryingSender, Timing
from tests.exporters.exporterhelper.fakes import FakeTiming, ScriptedSender, ms, spans

LOG = logging.getLogger("test.retry")


def retrying(sender: ScriptedSender, timing: Timing, timeout: float = 1.0, **retry: object) -> RetryingSender:
    config = RetryConfig(**retry)  # type: ignore[arg-type]
    return RetryingSender(sender, config, timeout, LOG, "exporter otlp (traces)", timing)


def fails(n: int, retry_after: float | None = None) -> list[BaseException | asyncio.Event | None]:
    return [RetryableError("unavailable", retry_after) for _ in range(n)]


def test_backoff_grows_by_the_multiplier_up_to_max_interval_within_jitter() -> None:
    config = RetryConfig(
        initial_interval=timedelta(seconds=1), multiplier=2, max_interval=timedelta(seconds=5)
    )
    low, high = Backoff(config, lambda: 0.0), Backoff(config, lambda: 1.0)
    assert [low.next() for _ in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [high.next() for _ in range(5)] == [1.5, 3.0, 6.0, 7.5, 7.5]


async def test_retryable_failures_are_retried_with_exponential_backoff() -> None:
    timing = FakeTiming()
    timing.random = random.random  # real jitter: every wait within its bounds
    sender = ScriptedSender(fails(5))
    r = retrying(sender, timing, initial_interval=ms(100), multiplier=2, max_interval=ms(500))
    await r.send(spans(1))
    assert sender.attempts == 6 and len(sender.sent) == 1
    intervals = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert len(timing.waits) == 5
    for wait, interval in zip(timing.waits, intervals, strict=True):
        assert interval * 0.5 <= wait <= interval * 1.5


async def test_retry_after_is_honoured_fully_even_above_max_interval() -> None:
    timing = FakeTiming(rand=0.5)
    sender = ScriptedSender(fails(1, retry_after=60))
    await retrying(sender, timing, initial_interval=ms(100), max_interval=ms(500)).send(spans(1))
    assert timing.waits == [60]


async def test_a_retry_after_shorter_than_the_backoff_waits_the_backoff() -> None:
    timing = FakeTiming(rand=0.5)  # no jitter at 0.5
    sender = ScriptedSender(fails(1, retry_after=0.01))
    await retrying(sender, timing, initial_interval=ms(100), max_interval=ms(500)).send(spans(1))
    assert timing.waits == [pytest.approx(0.1)]


async def test_gives_up_after_max_elapsed_time_with_the_last_error() -> None:
    timing = FakeTiming()
    sender = ScriptedSender(fails(100, retry_after=None))
    r = retrying(
        sender,
        timing,
        initial_interval=timedelta(seconds=1),
        randomization_factor=0,
        multiplier=1,
        max_elapsed_time=timedelta(seconds=3),
    )
    with pytest.raises(GaveUpError, match=r"gave up after 4 attempts in 3s: unavailable") as info:
        await r.send(spans(1))
    assert isinstance(info.value, RetryableError)
    assert sender.attempts == 4 and timing.waits == [1, 1, 1]


async def test_max_elapsed_time_zero_retries_until_success() -> None:
    timing = FakeTiming()
    sender = ScriptedSender(fails(50))
    r = retrying(sender, timing, initial_interval=timedelta(seconds=30), max_elapsed_time=timedelta(0))
    await r.send(spans(1))
    assert sender.attempts == 51 and len(sender.sent) == 1


async def test_the_last_retry_after_travels_with_the_final_error() -> None:
    sender = ScriptedSender(fails(100, retry_after=2))
    r = retrying(sender, FakeTiming(), initial_interval=ms(10), max_elapsed_time=timedelta(seconds=5))
    with pytest.raises(RetryableError) as info:
        await r.send(spans(1))
    assert info.value.retry_after == 2


async def test_permanent_errors_are_not_retried() -> None:
    timing = FakeTiming()
    sender = ScriptedSender([PermanentError("bad data")])
    with pytest.raises(PermanentError, match="bad data"):
        await retrying(sender, timing).send(spans(1))
    assert sender.attempts == 1 and timing.waits == []


async def test_unexpected_exceptions_are_retried_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    sender = ScriptedSender([ConnectionResetError("peer reset")])
    await retrying(sender, FakeTiming()).send(spans(1))
    assert sender.attempts == 2 and len(sender.sent) == 1
    assert "sending failed unexpectedly: ConnectionResetError('peer reset')" in caplog.text


async def test_disabled_retries_raise_the_first_error() -> None:
    sender = ScriptedSender(fails(3))
    with pytest.raises(RetryableError, match=r"^unavailable$"):
        await retrying(sender, FakeTiming(), enabled=False).send(spans(1))
    assert sender.attempts == 1


async def test_each_attempt_gets_the_timeout_and_is_bounded_by_it() -> None:
    sender = ScriptedSender([asyncio.Event()])
    r = retrying(sender, Timing(), timeout=0.02, enabled=False)
    started = time.monotonic()
    with pytest.raises(RetryableError, match=r"timed out after 0.02s"):
        await r.send(spans(1))
    assert time.monotonic() - started < 0.5
    assert sender.timeouts == [0.02] and sender.sent == []


async def test_a_timed_out_attempt_is_retried() -> None:
    sender = ScriptedSender([asyncio.Event()])
    await retrying(sender, FakeTiming(), timeout=0.02).send(spans(1))
    assert sender.attempts == 2 and len(sender.sent) == 1


async def test_shutdown_interrupts_a_backoff_wait() -> None:
    sender = ScriptedSender(fails(1))
    r = retrying(sender, Timing(), initial_interval=timedelta(seconds=30), max_interval=timedelta(seconds=30))
    task = asyncio.create_task(r.send(spans(1)))
    await asyncio.sleep(0.02)
    started = time.monotonic()
    r.interruption.stop()
    with pytest.raises(RetryableError, match="interrupted by shutdown after 1 attempts: unavailable"):
        await task
    assert time.monotonic() - started < 0.5


async def test_a_wait_past_the_shutdown_deadline_is_not_started() -> None:
    timing = FakeTiming()
    sender = ScriptedSender(fails(3))
    r = retrying(sender, timing, initial_interval=timedelta(seconds=1), randomization_factor=0, multiplier=1)
    r.interruption.drain_until(timing.now + 2.5)
    with pytest.raises(RetryableError, match="interrupted by shutdown after 3 attempts"):
        await r.send(spans(1))
    assert timing.waits == [1, 1]


async def test_malformed_data_is_a_permanent_error() -> None:
    sender = ScriptedSender([MalformedData("not a traces request")])
    with pytest.raises(PermanentError, match="malformed data: not a traces request"):
        await retrying(sender, FakeTiming()).send(spans(1))
    assert sender.attempts == 1
