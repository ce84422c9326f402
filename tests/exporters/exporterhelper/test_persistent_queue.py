"""The persistent sending queue: write-ahead to a durable log, ack after delivery, replay after a restart."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from collector.component import ComponentId, Kind
from collector.errors import ConfigError, PermanentError, RetryableError
from collector.pdata import MalformedData
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.exporterhelper import new_exporter
from exporters.exporterhelper.config import BatchConfig, QueueConfig
from exporters.exporterhelper.exporter import QueuedExporter
from extensions.file_storage.extension import FileStorage
from extensions.file_storage.factory import FileStorageConfig
from tests.exporters.exporterhelper.fakes import (
    FakeHost,
    FakeTiming,
    MemoryStorage,
    ScriptedSender,
    config,
    counted,
    settings,
    spans,
    until,
)

STORAGE = ComponentId("file_storage")
OWNER = "exporter/otlp/backend/traces"


def persistent(
    sender: ScriptedSender, registry: MetricsRegistry | None = None, **queue: object
) -> QueuedExporter:
    queue.setdefault("storage", "file_storage")
    exporter = new_exporter(
        settings(registry),
        config(queue=QueueConfig(**queue)),  # type: ignore[arg-type]
        Signal.TRACES,
        sender,
        timing=FakeTiming(),
    )
    assert isinstance(exporter, QueuedExporter)
    return exporter


async def test_consume_returns_only_once_the_record_is_appended() -> None:
    storage, sender = MemoryStorage(), ScriptedSender()
    exporter = persistent(sender)
    await exporter.start(FakeHost({STORAGE: storage}))
    log = storage.open[OWNER]
    log.gate = asyncio.Event()
    consume = asyncio.create_task(exporter.consume(spans(2)))
    await asyncio.sleep(0.02)
    assert not consume.done() and log.pending() == 0
    log.gate.set()
    await asyncio.wait_for(consume, 1)
    assert storage.next_seq == 1  # on "disk" before consume returned
    await until(lambda: log.pending() == 0)
    assert len(sender.sent) == 1 and storage.acked == [1]
    await exporter.shutdown()


async def test_records_are_acked_after_a_successful_send() -> None:
    gate = asyncio.Event()
    storage, sender = MemoryStorage(), ScriptedSender([gate])
    exporter = persistent(sender)
    await exporter.start(FakeHost({STORAGE: storage}))
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)
    assert storage.open[OWNER].pending() == 1 and storage.acked == []
    gate.set()
    await until(lambda: storage.acked == [1])
    await exporter.shutdown()


async def test_shutdown_leaves_unsent_records_unacked_and_a_restart_sends_them() -> None:
    storage, first = MemoryStorage(), ScriptedSender([asyncio.Event()])
    exporter = persistent(first, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: storage}))
    for i in range(3):
        await exporter.consume(spans(1, f"b{i}."))
    await until(lambda: first.in_flight == 1)
    await asyncio.wait_for(exporter.shutdown(), 1)  # cancels the send in flight at once
    assert first.sent == [] and first.events == ["start", "shutdown"]
    assert OWNER not in storage.open and len(storage.disks[OWNER]) == 3 and storage.acked == []

    second = ScriptedSender()
    restarted = persistent(second)
    await restarted.start(FakeHost({STORAGE: storage}))
    await until(lambda: len(second.sent) == 3)
    assert sorted(second.sent_names()) == ["b0.0", "b1.0", "b2.0"]
    await until(lambda: sorted(storage.acked) == [1, 2, 3])
    assert storage.disks[OWNER] == {}
    await restarted.shutdown()


async def test_replayed_records_go_before_new_ones() -> None:
    storage = MemoryStorage()
    storage.disks[OWNER] = {7: spans(1, "old").otlp_bytes()}
    storage.next_seq = 7
    sender = ScriptedSender()
    exporter = persistent(sender, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: storage}))
    await exporter.consume(spans(1, "new"))
    await until(lambda: len(sender.sent) == 2)
    assert sender.sent_names() == ["old0", "new0"] and storage.acked == [7, 8]
    await exporter.shutdown()


async def test_a_permanent_failure_is_acked_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    registry, storage = MetricsRegistry(), MemoryStorage()
    sender = ScriptedSender([PermanentError("invalid span")])
    exporter = persistent(sender, registry)
    await exporter.start(FakeHost({STORAGE: storage}))
    with caplog.at_level(logging.ERROR):
        await exporter.consume(spans(3))
        await until(lambda: storage.acked == [1])
    assert sender.sent == [] and counted(registry, "send_failed") == 3
    assert "dropped 3 items: permanent error: invalid span" in caplog.text
    await exporter.shutdown()


async def test_a_batch_whose_retries_run_out_is_kept_and_retried_later() -> None:
    registry, storage = MetricsRegistry(), MemoryStorage()
    sender = ScriptedSender([RetryableError("busy")] * 150)  # more than one 1 s budget of 10 ms waits
    exporter = persistent(sender, registry)
    await exporter.start(FakeHost({STORAGE: storage}))
    await exporter.consume(spans(2))
    await until(lambda: storage.acked == [1])
    assert len(sender.sent) == 1 and sender.attempts == 151
    assert counted(registry, "send_failed") == 0 and counted(registry, "sent") == 2
    await exporter.shutdown()


async def test_batched_records_are_all_acked_after_the_merged_send() -> None:
    gate = asyncio.Event()
    storage, sender = MemoryStorage(), ScriptedSender([gate])
    exporter = persistent(sender, num_consumers=1, batch=BatchConfig(min_size=6))
    await exporter.start(FakeHost({STORAGE: storage}))
    for _ in range(3):
        await exporter.consume(spans(2))
    await until(lambda: sender.in_flight == 1)
    assert storage.acked == []
    gate.set()
    await until(lambda: sorted(storage.acked) == [1, 2, 3])
    assert [len(b) for b in sender.sent] == [6]
    await exporter.shutdown()


async def test_a_full_persistent_queue_writes_nothing() -> None:
    gate = asyncio.Event()
    registry, storage, sender = MetricsRegistry(), MemoryStorage(), ScriptedSender([gate])
    exporter = persistent(sender, registry, queue_size=1, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: storage}))
    await exporter.consume(spans(1))
    await until(lambda: sender.in_flight == 1)
    await exporter.consume(spans(1))
    with pytest.raises(RetryableError, match="sending queue is full"):
        await exporter.consume(spans(4))
    assert len(storage.disks[OWNER]) == 2 and counted(registry, "enqueue_failed") == 4
    gate.set()
    await exporter.shutdown()


async def test_the_queue_gauge_counts_replayed_records() -> None:
    registry, storage = MetricsRegistry(), MemoryStorage()
    storage.disks[OWNER] = {1: spans(1).otlp_bytes(), 2: spans(1).otlp_bytes()}
    storage.next_seq = 2
    gate = asyncio.Event()
    exporter = persistent(ScriptedSender([gate]), registry, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: storage}))
    await asyncio.sleep(0.01)
    assert registry.get("otelcol_exporter_queue_size").value(exporter="otlp/backend", data_type="traces") == 1
    gate.set()
    await exporter.shutdown()


async def test_a_missing_storage_extension_is_a_clear_error() -> None:
    exporter = persistent(ScriptedSender(), storage="file_storage/disk")
    with pytest.raises(
        ConfigError,
        match=r"exporters::otlp/backend::sending_queue::storage: no extension 'file_storage/disk'",
    ):
        await exporter.start(FakeHost())


async def test_an_extension_that_is_not_storage_is_a_clear_error() -> None:
    exporter = persistent(ScriptedSender())
    with pytest.raises(
        ConfigError, match=r"sending_queue::storage: extension 'file_storage' is not a storage extension"
    ):
        await exporter.start(FakeHost({STORAGE: ScriptedSender()}))


async def test_the_real_file_storage_keeps_records_across_a_restart(tmp_path: Path) -> None:
    def storage() -> FileStorage:
        ext_settings = settings()
        ext_settings = type(ext_settings)(
            STORAGE, Kind.EXTENSION, ext_settings.telemetry, ext_settings.logger
        )
        return FileStorage(ext_settings, FileStorageConfig(directory=str(tmp_path)))

    first_storage, first = storage(), ScriptedSender([asyncio.Event()])
    await first_storage.start(FakeHost())
    exporter = persistent(first, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: first_storage}))
    await exporter.consume(spans(2, "a"))
    await exporter.consume(spans(3, "b"))
    await until(lambda: first.in_flight == 1)
    await exporter.shutdown()
    await first_storage.shutdown()

    second_storage, second = storage(), ScriptedSender()
    await second_storage.start(FakeHost())
    restarted = persistent(second, num_consumers=1)
    await restarted.start(FakeHost({STORAGE: second_storage}))
    await until(lambda: len(second.sent) == 2)
    assert second.sent_names() == ["a0", "a1", "b0", "b1", "b2"]
    await until(lambda: second_storage.logs[OWNER].pending() == 0)
    await restarted.shutdown()
    await second_storage.shutdown()


async def test_an_unreadable_record_is_dropped_not_replayed_forever() -> None:
    registry, storage = MetricsRegistry(), MemoryStorage()
    storage.disks[OWNER] = {1: b"\xff\xff not protobuf", 2: spans(1).otlp_bytes()}
    storage.next_seq = 2
    sender = ScriptedSender([MalformedData("cannot parse")])  # what a real sender raises for it
    exporter = persistent(sender, registry, num_consumers=1)
    await exporter.start(FakeHost({STORAGE: storage}))
    await until(lambda: sorted(storage.acked) == [1, 2])
    assert len(sender.sent) == 1 and sender.attempts == 2
    await exporter.shutdown()


async def test_an_unreadable_record_is_dropped_at_replay_by_the_items_sizer() -> None:
    storage = MemoryStorage()
    storage.disks[OWNER] = {1: b"\xff\xff not protobuf"}
    exporter = persistent(ScriptedSender(), sizer="items")
    await exporter.start(FakeHost({STORAGE: storage}))
    assert storage.acked == [1] and exporter.queue.size == 0
    await exporter.shutdown()
