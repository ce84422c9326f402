"""The batch processor: merges on size or timeout, splits at the maximum, and reports downstream errors."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from processors.batch.factory import BatchProcessorConfig
from processors.batch.processor import BatchProcessor
from tests.collector.test_graph import spans


class Sink:
    """Records batches; fails with `error` while it is set."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.error: Exception | None = None

    async def consume(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)

    def names(self) -> list[list[str]]:
        return [
            [s.name for rs in b.otlp().resource_spans for ss in rs.scope_spans for s in ss.spans]  # type: ignore[attr-defined]
            for b in self.batches
        ]


def processor(sink: Sink, **config: object) -> BatchProcessor:
    settings = Settings(ComponentId("batch"), Kind.PROCESSOR, MetricsRegistry(), logging.getLogger("t"))
    return BatchProcessor(settings, BatchProcessorConfig(**config), Signal.TRACES, sink)  # type: ignore[arg-type]


def serialized(*names: str, metadata: dict[str, tuple[str, ...]] | None = None) -> Batch:
    return Batch.from_otlp_bytes(Signal.TRACES, spans(*names).otlp_bytes(), metadata=metadata)


async def test_batches_merge_until_the_size_is_reached() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=4, timeout=timedelta(seconds=10))
    await asyncio.gather(batcher.consume(serialized("a", "b")), batcher.consume(serialized("c", "d")))
    assert sink.names() == [["a", "b", "c", "d"]]
    trigger = batcher._size_trigger.value(processor="batch")
    assert trigger == 1


async def test_a_partial_batch_is_sent_after_the_timeout() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=100, timeout=timedelta(milliseconds=30))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await batcher.consume(serialized("a"))
    assert loop.time() - started >= 0.025
    assert sink.names() == [["a"]]
    assert batcher._timeout_trigger.value(processor="batch") == 1


async def test_batches_above_the_maximum_are_split() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=2, send_batch_max_size=3)
    await batcher.consume(serialized("a", "b", "c", "d", "e", "f", "g"))
    assert sink.names() == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


async def test_downstream_errors_reach_every_caller_of_the_batch() -> None:
    sink = Sink()
    sink.error = RetryableError("backend down", retry_after=3)
    batcher = processor(sink, send_batch_size=4)
    results = await asyncio.gather(
        batcher.consume(serialized("a", "b")), batcher.consume(serialized("c", "d")), return_exceptions=True
    )
    assert [type(r) for r in results] == [RetryableError, RetryableError]
    assert all(r.retry_after == 3 for r in results if isinstance(r, RetryableError))
    sink.error = PermanentError("rejected")
    with pytest.raises(PermanentError, match="rejected"):
        await batcher.consume(serialized("e", "f", "g", "h"))


async def test_metadata_keys_batch_each_tenant_apart() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=2, metadata_keys=["X-Tenant"])
    await asyncio.gather(
        batcher.consume(serialized("a1", metadata={"x-tenant": ("a",)})),
        batcher.consume(serialized("b1", metadata={"x-tenant": ("b",)})),
        batcher.consume(serialized("a2", metadata={"x-tenant": ("a",)})),
        batcher.consume(serialized("b2", metadata={"x-tenant": ("b",)})),
    )
    assert sorted(sink.names()) == [["a1", "a2"], ["b1", "b2"]]
    assert sorted(b.metadata["x-tenant"] for b in sink.batches) == [("a",), ("b",)]


async def test_too_many_metadata_combinations_are_refused() -> None:
    sink = Sink()
    batcher = processor(
        sink,
        send_batch_size=10,
        metadata_keys=["x-tenant"],
        metadata_cardinality_limit=1,
        timeout=timedelta(milliseconds=20),
    )
    first = asyncio.ensure_future(batcher.consume(serialized("a", metadata={"x-tenant": ("a",)})))
    await asyncio.sleep(0)
    with pytest.raises(RetryableError, match="metadata_cardinality_limit 1"):
        await batcher.consume(serialized("b", metadata={"x-tenant": ("b",)}))
    await first


async def test_shutdown_sends_what_is_pending() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=100, timeout=timedelta(seconds=60))
    waiting = asyncio.ensure_future(batcher.consume(serialized("a")))
    await asyncio.sleep(0)
    await batcher.shutdown()
    await waiting
    assert sink.names() == [["a"]]


async def test_merging_serialized_batches_never_builds_arrow() -> None:
    sink = Sink()
    batcher = processor(sink, send_batch_size=2)
    await asyncio.gather(batcher.consume(serialized("a")), batcher.consume(serialized("b")))
    assert not sink.batches[0].has_arrow


def test_config_is_checked_with_the_collectors_defaults() -> None:
    config, problems = decode(BatchProcessorConfig, None, "processors::batch")
    assert problems == [] and config == BatchProcessorConfig(8192, timedelta(milliseconds=200), 0, [], 1000)
    _, problems = decode(BatchProcessorConfig, {"send_batch_size": 100, "send_batch_max_size": 10}, "p")
    assert [str(p) for p in problems] == [
        "p: send_batch_max_size must be greater or equal to send_batch_size"
    ]
