"""The memory limiter refuses retryably above the soft limit and recovers by itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import RetryableError
from collector.signal import Signal
from collector.telemetry import MetricsRegistry, resident_memory_bytes
from processors.memory_limiter.factory import MemoryLimiterConfig
from processors.memory_limiter.processor import MIB, MemoryLimiter, MemoryLimiterProcessor, limits
from tests.collector.test_graph import spans
from tests.processors.test_batch import Sink


def limiter(config: MemoryLimiterConfig, read: object = resident_memory_bytes) -> MemoryLimiter:
    settings = Settings(
        ComponentId("memory_limiter"), Kind.PROCESSOR, MetricsRegistry(), logging.getLogger("t")
    )
    return MemoryLimiter(settings, config, read)  # type: ignore[arg-type]


def test_soft_limit_is_limit_minus_spike_and_spike_defaults_to_a_fifth() -> None:
    assert limits(MemoryLimiterConfig(timedelta(seconds=1), limit_mib=1000)) == (1000 * MIB, 800 * MIB)
    assert limits(MemoryLimiterConfig(timedelta(seconds=1), limit_mib=1000, spike_limit_mib=100)) == (
        1000 * MIB,
        900 * MIB,
    )
    hard, soft = limits(
        MemoryLimiterConfig(timedelta(seconds=1), limit_percentage=50, spike_limit_percentage=10)
    )
    assert hard > soft > 0 and (hard - soft) * 5 == pytest.approx(hard, rel=0.01)


async def test_it_refuses_above_the_soft_limit_and_recovers_below_it() -> None:
    used = [100 * MIB]
    memory = limiter(
        MemoryLimiterConfig(timedelta(milliseconds=5), limit_mib=200, spike_limit_mib=50), lambda: used[0]
    )
    sink = Sink()
    processor = MemoryLimiterProcessor(memory, Signal.TRACES, sink)
    await processor.start(None)  # type: ignore[arg-type]
    try:
        await processor.consume(spans("a"))
        used[0] = 160 * MIB
        await asyncio.sleep(0.03)
        with pytest.raises(RetryableError, match="data refused due to high memory usage"):
            await processor.consume(spans("b", "c"))
        assert memory.refused.value(processor="memory_limiter", otel_signal="traces") == 2
        used[0] = 140 * MIB
        await asyncio.sleep(0.03)
        await processor.consume(spans("d"))
    finally:
        await processor.shutdown()
        await processor.shutdown()
    assert [len(b) for b in sink.batches] == [1, 1]
    assert memory.task is None


async def test_it_measures_real_memory() -> None:
    """A real allocation above the soft limit is seen and refused; freeing it recovers."""
    base = resident_memory_bytes()
    config = MemoryLimiterConfig(
        timedelta(milliseconds=10), limit_mib=int(base / MIB) + 150, spike_limit_mib=50
    )
    memory = limiter(config)
    processor = MemoryLimiterProcessor(memory, Signal.TRACES, Sink())
    await processor.start(None)  # type: ignore[arg-type]
    try:
        await processor.consume(spans("a"))
        ballast = bytearray(200 * MIB)
        ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
        await asyncio.sleep(0.05)
        with pytest.raises(RetryableError):
            await processor.consume(spans("b"))
        del ballast
        await asyncio.sleep(0.05)
        await processor.consume(spans("c"))
    finally:
        await processor.shutdown()


def test_config_follows_the_collector() -> None:
    _, problems = decode(MemoryLimiterConfig, {"limit_mib": 100}, "processors::memory_limiter")
    assert [str(p) for p in problems] == [
        "processors::memory_limiter: check_interval must be greater than zero"
    ]
    _, problems = decode(MemoryLimiterConfig, {"check_interval": "1s"}, "p")
    assert [str(p) for p in problems] == ["p: limit_mib or limit_percentage must be greater than zero"]
    _, problems = decode(
        MemoryLimiterConfig, {"check_interval": "1s", "limit_mib": 100, "spike_limit_mib": 100}, "p"
    )
    assert [str(p) for p in problems] == ["p: spike_limit_mib must be smaller than limit_mib"]
