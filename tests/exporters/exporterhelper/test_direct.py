"""Without a queue, `consume` sends with retries and raises the final error to its caller."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from collector.errors import PermanentError, RetryableError
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.exporterhelper import new_exporter
from exporters.exporterhelper.config import QueueConfig, RetryConfig
from exporters.exporterhelper.retry import Timing
from tests.exporters.exporterhelper.fakes import (
    FakeHost,
    FakeTiming,
    ScriptedSender,
    config,
    counted,
    settings,
    spans,
)


async def test_consume_returns_after_the_batch_is_sent() -> None:
    registry, sender = MetricsRegistry(), ScriptedSender([RetryableError("busy")])
    exporter = new_exporter(
        settings(registry),
        config(queue=QueueConfig(enabled=False)),
        Signal.TRACES,
        sender,
        timing=FakeTiming(),
    )
    await exporter.start(FakeHost())
    await exporter.consume(spans(3))
    assert sender.attempts == 2 and len(sender.sent) == 1
    assert counted(registry, "sent") == 3
    await exporter.shutdown()
    assert sender.events == ["start", "sent", "shutdown"]


async def test_retryable_failure_reaches_the_caller_once_retries_run_out() -> None:
    registry, sender = MetricsRegistry(), ScriptedSender([RetryableError("busy", retry_after=0.02)] * 1000)
    exporter = new_exporter(
        settings(registry),
        config(queue=QueueConfig(enabled=False)),
        Signal.TRACES,
        sender,
        timing=FakeTiming(),
    )
    with pytest.raises(RetryableError, match=r"gave up after .* attempts .*: busy") as info:
        await exporter.consume(spans(4))
    assert info.value.retry_after == 0.02
    assert counted(registry, "send_failed") == 4  # once per request, not per attempt
    assert counted(registry, "sent") == 0


async def test_permanent_failure_reaches_the_caller_as_permanent() -> None:
    registry, sender = MetricsRegistry(), ScriptedSender([PermanentError("invalid span")])
    exporter = new_exporter(
        settings(registry),
        config(queue=QueueConfig(enabled=False)),
        Signal.TRACES,
        sender,
        timing=FakeTiming(),
    )
    with pytest.raises(PermanentError, match="invalid span"):
        await exporter.consume(spans(2))
    assert sender.attempts == 1
    assert counted(registry, "send_failed") == 2


async def test_shutdown_cuts_a_caller_short_in_its_backoff() -> None:
    sender = ScriptedSender([RetryableError("busy")])
    retry = RetryConfig(initial_interval=timedelta(seconds=30), max_interval=timedelta(seconds=30))
    exporter = new_exporter(
        settings(),
        config(queue=QueueConfig(enabled=False), retry=retry),
        Signal.TRACES,
        sender,
        timing=Timing(),
    )
    caller = asyncio.create_task(exporter.consume(spans(1)))
    await asyncio.sleep(0.02)
    started = time.monotonic()
    await exporter.shutdown()
    with pytest.raises(RetryableError, match="interrupted by shutdown"):
        await caller
    assert time.monotonic() - started < 0.5
    with pytest.raises(RetryableError, match="is shut down"):
        await exporter.consume(spans(1))


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    sender = ScriptedSender()
    exporter = new_exporter(settings(), config(queue=QueueConfig(enabled=False)), Signal.TRACES, sender)
    await exporter.shutdown()
    await exporter.shutdown()
    assert sender.events == ["shutdown"]
