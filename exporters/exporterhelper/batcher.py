"""Batching after the queue: gather entries up to `min_size` or `flush_timeout`, then merge and split."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from collector.pdata import Batch

if TYPE_CHECKING:
    from exporters.exporterhelper.config import BatchConfig
    from exporters.exporterhelper.queue import Entry, SendingQueue


class Batcher:
    """Takes entries from the queue for one send; without a `BatchConfig`, one entry at a time."""

    def __init__(self, queue: SendingQueue, config: BatchConfig | None) -> None:
        self.queue, self.config = queue, config
        self.by_items = config is not None and config.sizer == "items"

    def _size(self, entry: Entry) -> int:
        if not self.by_items:
            return 1
        try:
            return len(entry.batch)
        except Exception:  # unreadable: sending it fails, and drops it
            return 0

    async def gather(self) -> list[Entry] | None:
        """Entries for one send, oldest first; None once the queue is closed and drained."""
        first = await self.queue.get()
        if first is None:
            return None
        if self.config is None:
            return [first]
        entries = [first]
        size, target = self._size(first), self.config.min_size
        deadline = asyncio.get_running_loop().time() + self.config.flush_timeout.total_seconds()
        while size < target:
            entry = await self.queue.get(deadline)  # a closed queue answers at once: drain without waiting
            if entry is None:
                break
            entries.append(entry)
            size += self._size(entry)
        return entries

    def parts(self, entries: list[Entry]) -> list[Batch]:
        """The batches to send for `entries`: merged (concatenated when serialized), split above `max_size`."""
        batch = Batch.merge([e.batch for e in entries]) if len(entries) > 1 else entries[0].batch
        if self.config is None or not self.by_items or not self.config.max_size:
            return [batch]  # by requests, gathering stops at min_size <= max_size entries
        return batch.split(self.config.max_size) if len(batch) > self.config.max_size else [batch]
