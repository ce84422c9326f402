"""The in-memory sending queue: accept at once, bounded capacity, workers with retries, drain at shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest

from collector.errors import PermanentError, RetryableError
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.exporterhelper import new_exporter
from exporters.exporterhelper.config import BatchConfig, QueueConfig, RetryConfig
from exporters.exporterhelper.exporter import QueuedExporter
from exporters.exporterhelper.retry import Timing
from tests.exporters.exporterhelper.fakes import (
    FakeHost,
    FakeTiming,
    ScriptedSender,
    config,
    counted,
    ms,
    names,
    settings,
    spans,
    until,
)


def queued(
    sender: ScriptedSender,
    registry: MetricsRegistry | None = None,
    *,
    timing: Timing | None = None,
    retry: RetryConfig | None = None,
    drain_timeout: float = 2.0,
    **queue: object,
) -> QueuedExporter:
    exporter = new_exporter(
        settings(registry),
        config(queue=QueueConfig(**queue), retry=retry),  # type: ignore[arg-type]
        Signal.TRACES,
        sender,
        timing=timing or FakeTiming(),
        drain_timeout=drain_timeout,
    )
    assert isinstance(exporter, QueuedExporter)
    return exporter


async def test_consume_returns_before_sending_and_workers_deliver() -> None:
    gate = asyncio.Event()
    registry, sender = MetricsRegistry(), ScriptedSender([gate])
    exporter = queued(sender, registry)
    await exporter.start(FakeHost())
    await asyncio.wait_for(exporter.consume(spans(3)), 0.5)
    await until(lambda: sender.in_flight == 1)
    assert sender.sent == []
    gate.set()
    await until(lambda: len(sender.sent) == 1)
    assert counted(registry, "sent") == 3
    await exporter.shutdown()


async def test_a_full_queue_refuses_with_a_retryable_error_and_counts_it() -> None:
    gate = asyncio.Event()
    registry, sender = MetricsRegistry(), ScriptedSender([gate])
    exporter = queued(sender, registry, queue_size=2, num_consumers=1)
    await exporter.start(FakeHost())
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)  # the first is being sent, two more fill the queue
    await exporter.consume(spans(1))
    await exporter.consume(spans(1))
    with pytest.raises(RetryableError, match=r"sending queue is full \(2 of 2 requests\)"):
        await exporter.consume(spans(5))
    assert counted(registry, "enqueue_failed") == 5
    gate.set()
    await until(lambda: len(sender.sent) == 3)
    await exporter.shutdown()


async def test_the_items_sizer_measures_capacity_in_items() -> None:
    gate = asyncio.Event()
    sender = ScriptedSender([gate])
    exporter = queued(sender, queue_size=10, num_consumers=1, sizer="items")
    await exporter.start(FakeHost())
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)
    await exporter.consume(spans(6))
    await exporter.consume(spans(4))
    with pytest.raises(RetryableError, match=r"\(10 of 10 items\)"):
        await exporter.consume(spans(1))
    gate.set()
    await exporter.shutdown()


async def test_block_on_overflow_waits_for_room() -> None:
    gate = asyncio.Event()
    sender = ScriptedSender([gate])
    exporter = queued(sender, queue_size=1, num_consumers=1, block_on_overflow=True)
    await exporter.start(FakeHost())
    await exporter.consume(spans(1, "a"))
    await until(lambda: sender.in_flight == 1)
    await exporter.consume(spans(1, "b"))
    blocked = asyncio.create_task(exporter.consume(spans(1, "c")))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    gate.set()
    await asyncio.wait_for(blocked, 1)
    await until(lambda: len(sender.sent) == 3)
    assert sender.sent_names() == ["a0", "b0", "c0"]
    await exporter.shutdown()


async def test_a_producer_blocked_at_shutdown_is_refused() -> None:
    gate = asyncio.Event()
    sender = ScriptedSender([gate])
    exporter = queued(sender, queue_size=1, num_consumers=1, block_on_overflow=True, drain_timeout=0.05)
    await exporter.start(FakeHost())
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)
    await exporter.consume(spans(1))
    blocked = asyncio.create_task(exporter.consume(spans(1)))
    await asyncio.sleep(0.01)
    await exporter.shutdown()
    with pytest.raises(RetryableError, match="is shut down"):
        await blocked


async def test_num_consumers_bounds_concurrent_sends() -> None:
    gate = asyncio.Event()
    sender = ScriptedSender([gate] * 10)
    exporter = queued(sender, num_consumers=3)
    await exporter.start(FakeHost())
    for _ in range(10):
        await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 3)
    await asyncio.sleep(0.02)
    assert sender.in_flight == 3 and exporter.queue.size == 7
    gate.set()
    await until(lambda: len(sender.sent) == 10)
    assert sender.most_in_flight == 3
    await exporter.shutdown()


async def test_retryable_failures_are_retried_by_the_worker() -> None:
    registry, timing = MetricsRegistry(), FakeTiming()
    sender = ScriptedSender([RetryableError("busy"), RetryableError("busy", retry_after=0.5)])
    exporter = queued(sender, registry, timing=timing)
    await exporter.start(FakeHost())
    await exporter.consume(spans(2))
    await until(lambda: len(sender.sent) == 1)
    assert sender.attempts == 3 and timing.waits == [pytest.approx(0.01), 0.5]
    assert counted(registry, "sent") == 2 and counted(registry, "send_failed") == 0
    await exporter.shutdown()


async def test_a_batch_whose_retries_run_out_is_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    registry = MetricsRegistry()
    sender = ScriptedSender([RetryableError("busy")] * 1000)
    exporter = queued(sender, registry)  # 10 ms apart, for 1 s of fake time
    await exporter.start(FakeHost())
    with caplog.at_level(logging.ERROR):
        await exporter.consume(spans(4))
        await until(lambda: counted(registry, "send_failed") == 4)
    assert sender.sent == [] and sender.attempts == 101
    assert "dropped 4 items: gave up after 101 attempts" in caplog.text
    await exporter.shutdown()


async def test_a_permanent_failure_is_dropped_without_retrying(caplog: pytest.LogCaptureFixture) -> None:
    registry = MetricsRegistry()
    sender = ScriptedSender([PermanentError("invalid span")])
    exporter = queued(sender, registry)
    await exporter.start(FakeHost())
    await exporter.consume(spans(2))
    await exporter.consume(spans(3))
    await until(lambda: len(sender.sent) == 1)
    assert sender.attempts == 2
    assert counted(registry, "send_failed") == 2 and counted(registry, "sent") == 3
    assert "dropped 2 items: permanent error: invalid span" in caplog.text
    await exporter.shutdown()


async def test_shutdown_drains_what_is_queued() -> None:
    gate = asyncio.Event()
    registry, sender = MetricsRegistry(), ScriptedSender([gate, RetryableError("busy")])
    exporter = queued(sender, registry, num_consumers=1)
    await exporter.start(FakeHost())
    for i in range(5):
        await exporter.consume(spans(1, f"b{i}."))
    await until(lambda: sender.in_flight == 1)
    asyncio.get_running_loop().call_later(0.02, gate.set)
    await exporter.shutdown()
    assert sender.sent_names() == ["b0.0", "b1.0", "b2.0", "b3.0", "b4.0"]
    assert sender.events[-1] == "shutdown" and counted(registry, "sent") == 5
    with pytest.raises(RetryableError, match="is shut down"):
        await exporter.consume(spans(1))


async def test_what_the_drain_timeout_leaves_is_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    registry, sender = MetricsRegistry(), ScriptedSender([asyncio.Event()])
    exporter = queued(sender, registry, num_consumers=1, timing=Timing(), drain_timeout=0.05)
    await exporter.start(FakeHost())
    for _ in range(3):
        await exporter.consume(spans(2))
    await until(lambda: sender.in_flight == 1)
    started = time.monotonic()
    await exporter.shutdown()
    assert time.monotonic() - started < 0.5
    assert counted(registry, "send_failed") == 6  # the batch cut short and the two still queued
    assert "dropped 2 queued batches (4 items) not sent within the 0.05s drain" in caplog.text
    assert sender.events[-1] == "shutdown"


async def test_backoff_waits_past_the_drain_deadline_give_up_at_once() -> None:
    registry = MetricsRegistry()
    sender = ScriptedSender([RetryableError("busy")] * 10)
    retry = RetryConfig(initial_interval=timedelta(seconds=30), max_interval=timedelta(seconds=30))
    exporter = queued(sender, registry, retry=retry, timing=Timing(), drain_timeout=5)
    await exporter.start(FakeHost())
    await exporter.consume(spans(2))
    await until(lambda: sender.attempts == 1)
    started = time.monotonic()
    await exporter.shutdown()
    assert time.monotonic() - started < 0.5
    assert counted(registry, "send_failed") == 2


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    sender = ScriptedSender()
    exporter = queued(sender)
    await exporter.shutdown()
    await exporter.shutdown()
    assert sender.events == ["shutdown"]
    started = queued(sender := ScriptedSender())
    await started.start(FakeHost())
    await started.shutdown()
    await started.shutdown()
    assert sender.events == ["start", "shutdown"]


async def test_queue_gauges_report_size_in_the_sizer_unit_and_capacity() -> None:
    gate = asyncio.Event()
    registry, sender = MetricsRegistry(), ScriptedSender([gate])
    exporter = queued(sender, registry, queue_size=50, num_consumers=1, sizer="items")
    await exporter.start(FakeHost())
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)
    await exporter.consume(spans(7))
    await exporter.consume(spans(5))
    labels = {"exporter": "otlp/backend", "data_type": "traces"}
    assert registry.get("otelcol_exporter_queue_size").value(**labels) == 12
    assert registry.get("otelcol_exporter_queue_capacity").value(**labels) == 50
    gate.set()
    await until(lambda: len(sender.sent) == 3)
    assert registry.get("otelcol_exporter_queue_size").value(**labels) == 0
    await exporter.shutdown()


async def test_batching_merges_queued_batches_up_to_min_size() -> None:
    registry, sender = MetricsRegistry(), ScriptedSender()
    exporter = queued(
        sender, registry, num_consumers=1, batch=BatchConfig(min_size=6, flush_timeout=timedelta(seconds=5))
    )
    await exporter.start(FakeHost())
    for i in range(4):
        await exporter.consume(spans(3, f"b{i}."))
    await until(lambda: len(sender.sent) == 2)
    assert [len(b) for b in sender.sent] == [6, 6]
    assert counted(registry, "sent") == 12
    await exporter.shutdown()


async def test_batching_flushes_a_partial_batch_at_flush_timeout() -> None:
    sender = ScriptedSender()
    exporter = queued(sender, batch=BatchConfig(min_size=100, flush_timeout=ms(30)))
    await exporter.start(FakeHost())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await exporter.consume(spans(2))
    await exporter.consume(spans(3))
    await until(lambda: len(sender.sent) == 1)
    assert 0.03 <= loop.time() - started < 1
    assert [len(b) for b in sender.sent] == [5]
    await exporter.shutdown()


async def test_batching_splits_above_max_size() -> None:
    sender = ScriptedSender()
    exporter = queued(sender, batch=BatchConfig(min_size=4, max_size=4))
    await exporter.start(FakeHost())
    await exporter.consume(spans(10))
    await until(lambda: len(sender.sent) == 3)
    assert [len(b) for b in sender.sent] == [4, 4, 2]
    assert sender.sent_names() == [f"s{i}" for i in range(10)]
    await exporter.shutdown()


async def test_batching_by_requests_counts_batches() -> None:
    sender = ScriptedSender()
    exporter = queued(sender, num_consumers=1, batch=BatchConfig(min_size=3, max_size=3, sizer="requests"))
    await exporter.start(FakeHost())
    for _ in range(6):
        await exporter.consume(spans(5))
    await until(lambda: len(sender.sent) == 2)
    assert [len(b) for b in sender.sent] == [15, 15]
    await exporter.shutdown()


async def test_batched_data_keeps_its_metadata_when_it_agrees() -> None:
    sender = ScriptedSender()
    exporter = queued(sender, num_consumers=1, batch=BatchConfig(min_size=4))
    await exporter.start(FakeHost())
    for _ in range(2):
        batch = spans(2)
        batch.metadata = {"x-tenant": ("a",)}
        await exporter.consume(batch)
    await until(lambda: len(sender.sent) == 1)
    assert sender.sent[0].metadata == {"x-tenant": ("a",)} and names(sender.sent[0]) == ["s0", "s1"] * 2
    await exporter.shutdown()
