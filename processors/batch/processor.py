"""The `batch` processor. Unlike the collector's, a caller waits until its data is sent downstream,
so downstream errors travel back to the receiver (and its client) instead of being swallowed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collector.component import Consumer, Host, Settings
from collector.errors import RetryableError
from collector.signal import Signal
from processors.batch.factory import BatchProcessorConfig

if TYPE_CHECKING:
    from collector.pdata import Batch

GroupKey = tuple[tuple[str, ...], ...]


@dataclass
class _Pending:
    """Batches waiting to be sent together, and the callers waiting for the outcome."""

    batches: list[Batch] = field(default_factory=list)
    items: int = 0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class BatchProcessor:
    """Merges batches per metadata group; flushes on size or timeout; reports the outcome to every caller."""

    def __init__(
        self, settings: Settings, config: BatchProcessorConfig, signal: Signal, next_: Consumer
    ) -> None:
        self.config, self.signal, self.next = config, signal, next_
        self.keys = [k.lower() for k in config.metadata_keys]
        self.pending: dict[GroupKey, _Pending] = {}
        self.flushes: set[asyncio.Task[None]] = set()
        labels = {"processor": str(settings.id)}
        telemetry = settings.telemetry
        self._size_trigger = telemetry.counter(
            "otelcol_processor_batch_batch_size_trigger_send",
            "Number of times the batch was sent due to a size trigger",
        )
        self._timeout_trigger = telemetry.counter(
            "otelcol_processor_batch_timeout_trigger_send",
            "Number of times the batch was sent due to a timeout trigger",
        )
        self._labels = labels
        self._closed = False

    async def start(self, host: Host) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        if self._closed:
            await self.next.consume(batch)
            return
        key: GroupKey = tuple(batch.metadata.get(k, ()) for k in self.keys)
        group = self.pending.get(key)
        if group is None:
            if len(self.pending) >= self.config.metadata_cardinality_limit:
                raise RetryableError(
                    f"too many batcher metadata-value combinations (metadata_cardinality_limit "
                    f"{self.config.metadata_cardinality_limit})"
                )
            group = self.pending[key] = _Pending()
            loop = asyncio.get_running_loop()
            group.timer = loop.call_later(self.config.timeout.total_seconds(), self._flush, key, False)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group.batches.append(batch)
        group.items += len(batch)
        group.waiters.append(waiter)
        if self.config.send_batch_size and group.items >= self.config.send_batch_size:
            self._flush(key, True)
        await waiter

    def _flush(self, key: GroupKey, by_size: bool) -> None:
        group = self.pending.pop(key, None)
        if group is None:
            return
        if group.timer is not None:
            group.timer.cancel()
        (self._size_trigger if by_size else self._timeout_trigger).add(1, **self._labels)
        task = asyncio.get_running_loop().create_task(self._send(group))
        self.flushes.add(task)
        task.add_done_callback(self.flushes.discard)

    async def _send(self, group: _Pending) -> None:
        from collector.pdata import Batch

        error: BaseException | None = None
        try:
            merged = Batch.merge(group.batches)
            limit = self.config.send_batch_max_size
            for part in merged.split(limit) if limit else [merged]:
                await self.next.consume(part)
        except Exception as err:
            error = err
        for waiter in group.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def shutdown(self) -> None:
        """Send everything pending now and wait for it."""
        self._closed = True
        for key in list(self.pending):
            self._flush(key, False)
        if self.flushes:
            await asyncio.gather(*self.flushes, return_exceptions=True)
