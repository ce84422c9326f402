"""Batching after the queue: gather up to min_size or flush_timeout, merge, split above max_size."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from exporters.exporterhelper.batcher import Batcher
from exporters.exporterhelper.config import BatchConfig
from exporters.exporterhelper.queue import Entry, SendingQueue
from tests.exporters.exporterhelper.fakes import ms, names, spans


def queue_of(*counts: int) -> SendingQueue:
    queue = SendingQueue(1000)
    for i, count in enumerate(counts):
        queue.push(Entry(spans(count, f"b{i}."), 1), reserved=False)
    return queue


async def test_without_a_batch_config_each_entry_is_sent_alone() -> None:
    batcher = Batcher(queue_of(3, 4), None)
    entries = await batcher.gather()
    assert entries is not None and len(entries) == 1
    assert [len(b) for b in batcher.parts(entries)] == [3]


async def test_entries_are_merged_until_min_size_items() -> None:
    batcher = Batcher(queue_of(3, 4, 5, 6), BatchConfig(min_size=7, flush_timeout=timedelta(seconds=5)))
    first = await batcher.gather()
    assert first is not None and [len(e.batch) for e in first] == [3, 4]
    [merged] = batcher.parts(first)
    assert len(merged) == 7
    assert names(merged) == ["b0.0", "b0.1", "b0.2", "b1.0", "b1.1", "b1.2", "b1.3"]
    second = await batcher.gather()
    assert second is not None and [len(e.batch) for e in second] == [5, 6]


async def test_a_partial_batch_is_flushed_at_flush_timeout() -> None:
    batcher = Batcher(queue_of(3), BatchConfig(min_size=100, flush_timeout=ms(50)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    entries = await batcher.gather()
    assert entries is not None and len(entries) == 1
    assert 0.05 <= loop.time() - started < 0.5


async def test_a_closed_queue_is_flushed_without_waiting() -> None:
    queue = queue_of(3, 4)
    queue.close()
    batcher = Batcher(queue, BatchConfig(min_size=100, flush_timeout=timedelta(seconds=30)))
    entries = await asyncio.wait_for(batcher.gather(), 1)
    assert entries is not None and len(entries) == 2
    assert await batcher.gather() is None


async def test_a_merged_batch_above_max_size_is_split() -> None:
    batcher = Batcher(queue_of(6, 6), BatchConfig(min_size=10, max_size=5))
    entries = await batcher.gather()
    assert entries is not None
    parts = batcher.parts(entries)
    assert [len(p) for p in parts] == [5, 5, 2]
    assert [n for p in parts for n in names(p)] == [f"b0.{i}" for i in range(6)] + [
        f"b1.{i}" for i in range(6)
    ]


async def test_the_requests_sizer_counts_entries_not_items() -> None:
    batcher = Batcher(queue_of(100, 1, 1, 1), BatchConfig(min_size=3, max_size=3, sizer="requests"))
    entries = await batcher.gather()
    assert entries is not None and len(entries) == 3
    assert [len(p) for p in batcher.parts(entries)] == [102]
