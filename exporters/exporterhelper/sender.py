"""What an exporter supplies to the helper: how to send one batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collector.component import Host
    from collector.pdata import Batch


class Sender(Protocol):
    """Sends one batch to the destination; the helper adds queueing, batching, retries and telemetry."""

    async def start(self, host: Host) -> None:
        """Open connections; return quickly."""
        ...

    async def shutdown(self) -> None:
        """Close connections; idempotent, safe without start."""
        ...

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 (handed to the destination)
        """One attempt within `timeout` seconds; raise RetryableError (maybe with retry_after) or PermanentError."""
        ...
