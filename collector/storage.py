"""The contract of durable storage that storage extensions (e.g. `file_storage`) offer to components."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class DurableLog(Protocol):
    """An append-only log of records that survive restarts and `kill -9` until acknowledged."""

    def replay(self) -> list[tuple[int, bytes]]:
        """Records appended by earlier runs and never acknowledged, oldest first (call once, after opening)."""
        ...

    async def append(self, record: bytes) -> int:
        """Append `record`; it is on disk (fsynced, grouped with concurrent appends) when this returns its sequence number."""
        ...

    async def ack(self, seq: int) -> None:
        """Record `seq` is delivered (in any order); its space is reclaimed once every earlier record is acked too."""
        ...

    def pending(self) -> int:
        """Records appended (or replayed) and not acknowledged."""
        ...

    async def close(self) -> None:
        """Flush and close; unacknowledged records stay on disk for the next open. Idempotent."""
        ...


@runtime_checkable
class LogStorage(Protocol):
    """What a storage extension offers: durable logs by owner name."""

    def open_log(self, owner: str) -> DurableLog:
        """The log of `owner` (e.g. `exporter/otlp/backend/traces`); ValueError if it is open already."""
        ...
