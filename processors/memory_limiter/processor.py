"""The `memory_limiter` processor: a checker samples the process's memory every `check_interval`;
above the soft limit (limit - spike) data is refused retryably, until usage falls below it again.
Above the hard limit a garbage collection is forced. One checker serves every pipeline of an id.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.component import Consumer, Host, Settings
from collector.errors import RetryableError
from collector.signal import Signal
from collector.telemetry import resident_memory_bytes
from processors.memory_limiter.factory import MemoryLimiterConfig

if TYPE_CHECKING:
    from collector.pdata import Batch

MIB = 1024 * 1024
log = logging.getLogger("airis.processor.memory_limiter")


def total_memory_bytes() -> int:
    """The memory this process may use: the cgroup's limit where one is set, else the machine's."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            text = f.read().strip()
        if text.isdigit():
            return int(text)
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise OSError("cannot tell the total memory: no cgroup limit and no /proc/meminfo")


def limits(config: MemoryLimiterConfig) -> tuple[int, int]:
    """(hard, soft) limits in bytes."""
    if config.limit_mib:
        hard = config.limit_mib * MIB
        spike = config.spike_limit_mib * MIB if config.spike_limit_mib else hard // 5
    else:
        total = total_memory_bytes()
        hard = total * config.limit_percentage // 100
        spike = total * config.spike_limit_percentage // 100 if config.spike_limit_percentage else hard // 5
    return hard, hard - spike


class MemoryLimiter:
    """Samples memory on a timer and says whether data must be refused."""

    def __init__(
        self,
        settings: Settings,
        config: MemoryLimiterConfig,
        read: Callable[[], float] = resident_memory_bytes,
    ) -> None:
        self.interval = config.check_interval.total_seconds()
        self.hard, self.soft = limits(config)
        self.read = read
        self.refusing = False
        self.users = 0
        self.task: asyncio.Task[None] | None = None
        self.refused = settings.telemetry.counter(
            "otelcol_processor_refused_items", "Number of items refused by the memory limiter."
        )
        self.labels = {"processor": str(settings.id)}

    def check(self) -> None:
        """Sample memory once and update `refusing`."""
        used = self.read()
        if used > self.hard:
            gc.collect()
            used = self.read()
        refusing = used > self.soft
        if refusing != self.refusing:
            state = "refusing data" if refusing else "accepting data again"
            log.warning("memory %d MiB (soft limit %d MiB): %s", used // MIB, self.soft // MIB, state)
        self.refusing = refusing

    async def _run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self.interval)

    def acquire(self) -> None:
        self.users += 1
        if self.task is None:
            self.check()
            self.task = asyncio.get_running_loop().create_task(self._run(), name="memory_limiter")

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None


_SHARED: dict[tuple[str, str], MemoryLimiter] = {}


def shared_limiter(settings: Settings, config: MemoryLimiterConfig) -> MemoryLimiter:
    """The one limiter of this id and config, shared by every pipeline naming it."""
    key = (str(settings.id), repr(config))
    if key not in _SHARED or (_SHARED[key].users == 0 and _SHARED[key].task is None):
        _SHARED[key] = MemoryLimiter(settings, config)
    return _SHARED[key]


class MemoryLimiterProcessor:
    """Refuses batches with a retryable error while the limiter says so; passes them on otherwise."""

    def __init__(self, limiter: MemoryLimiter, signal: Signal, next_: Consumer) -> None:
        self.limiter, self.signal, self.next = limiter, signal, next_
        self.started = False

    async def start(self, host: Host) -> None:
        if not self.started:
            self.started = True
            self.limiter.acquire()

    async def shutdown(self) -> None:
        if self.started:
            self.started = False
            await self.limiter.release()

    async def consume(self, batch: Batch) -> None:
        if self.limiter.refusing:
            self.limiter.refused.add(len(batch), **self.limiter.labels, otel_signal=str(self.signal))
            raise RetryableError("data refused due to high memory usage")
        await self.next.consume(batch)
