"""The exporters the helper builds around a Sender: direct (no queue) or queued (in memory or persistent).

Persistent queue policy: a record is acknowledged in the durable log only once it was sent or failed
permanently (dropped, as the collector does). A batch whose retries run out (`max_elapsed_time`) is
not dropped: it goes back to the tail of the working queue and is retried later, so delivery is
at-least-once for as long as the record is on disk.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from collector.component import ComponentId, Host, Settings
from collector.errors import ConfigError, PermanentError, Problem, RetryableError
from collector.pdata import Batch
from collector.storage import DurableLog, LogStorage
from collector.telemetry import ExporterTelemetry
from exporters.exporterhelper.batcher import Batcher
from exporters.exporterhelper.queue import Entry, QueueClosedError, SendingQueue
from exporters.exporterhelper.retry import RetryingSender, Timing

if TYPE_CHECKING:
    from collector.component import Exporter
    from collector.signal import Signal
    from exporters.exporterhelper.config import ExporterHelperConfig
    from exporters.exporterhelper.sender import Sender

DRAIN_TIMEOUT = 10.0
"""Seconds an in-memory queue may spend sending what is queued at shutdown (the service allows 30 in all)."""


def new_exporter(
    settings: Settings,
    config: ExporterHelperConfig,
    signal: Signal,
    sender: Sender,
    *,
    timing: Timing | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> Exporter:
    """An exporter sending with `sender`, with the queue, batching and retries `config` asks for."""
    if not config.sending_queue.enabled:
        return DirectExporter(settings, config, signal, sender, timing)
    return QueuedExporter(settings, config, signal, sender, timing, drain_timeout)


class DirectExporter:
    """No queue: `consume` sends (with retries) and raises the final error to its caller."""

    def __init__(
        self,
        settings: Settings,
        config: ExporterHelperConfig,
        signal: Signal,
        sender: Sender,
        timing: Timing | None = None,
    ) -> None:
        self.signal, self.sender, self.logger = signal, sender, settings.logger
        self.label = f"exporter {settings.id} ({signal})"
        self.telemetry = ExporterTelemetry(settings.telemetry, str(settings.id))
        self.retrying = RetryingSender(
            sender, config.retry_on_failure, config.timeout.total_seconds(), self.logger, self.label, timing
        )
        self._stopped = False

    async def start(self, host: Host) -> None:
        await self.sender.start(host)

    async def consume(self, batch: Batch) -> None:
        if self._stopped:
            raise RetryableError(f"{self.label} is shut down")
        try:
            await self.retrying.send(batch)
        except (PermanentError, RetryableError):
            self.telemetry.send_failed(self.signal, _items(batch))
            raise
        self.telemetry.sent(self.signal, _items(batch))

    async def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.retrying.interruption.stop()  # callers waiting in a backoff get their error now
        await self.sender.shutdown()


class QueuedExporter:
    """`consume` queues (writing ahead to a durable log when persistent) and workers send from the queue."""

    def __init__(
        self,
        settings: Settings,
        config: ExporterHelperConfig,
        signal: Signal,
        sender: Sender,
        timing: Timing | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        qc = config.sending_queue
        self.settings, self.config, self.signal, self.sender = settings, qc, signal, sender
        self.logger = settings.logger
        self.label = f"exporter {settings.id} ({signal})"
        self.telemetry = ExporterTelemetry(settings.telemetry, str(settings.id))
        self.retrying = RetryingSender(
            sender, config.retry_on_failure, config.timeout.total_seconds(), self.logger, self.label, timing
        )
        self.clock = self.retrying.timing.clock
        self.drain_timeout = drain_timeout
        self.by_items = qc.sizer == "items"
        self.queue = SendingQueue(qc.queue_size)
        self.batcher = Batcher(self.queue, qc.batch)
        self.log: DurableLog | None = None
        self._slots = asyncio.Semaphore(qc.num_consumers)
        self._dispatcher: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._started = self._stopped = False

    @property
    def persistent(self) -> bool:
        return self.config.storage is not None

    # -- lifecycle ---------------------------------------------------------------------------------

    def _storage(self, host: Host) -> LogStorage:
        key = f"exporters::{self.settings.id}::sending_queue::storage"
        try:
            extension = host.extension(ComponentId.parse(self.config.storage or ""))
        except (KeyError, ValueError) as err:
            message = (
                f"no extension {self.config.storage!r} is running ({err}); add it to service::extensions"
            )
            raise ConfigError([Problem(key, message)]) from None
        if not isinstance(extension, LogStorage):
            message = (
                f"extension {self.config.storage!r} is not a storage extension (it offers no durable logs)"
            )
            raise ConfigError([Problem(key, message)])
        return extension

    async def start(self, host: Host) -> None:
        storage = self._storage(host) if self.persistent else None
        await self.sender.start(host)
        if storage is not None:
            self.log = storage.open_log(f"exporter/{self.settings.id}/{self.signal}")
            await self._replay(self.log)
        self.telemetry.queue(self.signal, lambda: float(self.queue.size), self.config.queue_size)
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"{self.label} queue")
        self._started = True

    async def _replay(self, log: DurableLog) -> None:
        """Queue the records earlier runs left unacknowledged, ahead of anything new."""
        records = log.replay()
        for seq, data in records:
            batch = Batch.from_otlp_bytes(self.signal, data)
            try:
                size = len(batch) if self.by_items else 1
            except Exception as err:
                self.logger.error(
                    "%s: dropping unreadable record %d from the queue: %s", self.label, seq, err
                )
                await log.ack(seq)
                continue
            self.queue.push(Entry(batch, size, (seq,)), reserved=False)
        if records:
            self.logger.info("%s: %d queued batches from the last run will be sent", self.label, len(records))

    async def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.queue.close()
        if self._started and self.persistent:
            self.retrying.interruption.stop()
            await self._cancel_sending()  # unacknowledged: they are sent again after a restart
        elif self._started:
            await self._drain()
        if self.log is not None:
            await self.log.close()
        if self._started:
            self.settings.telemetry.get("otelcol_exporter_queue_size").forget(
                exporter=str(self.settings.id), data_type=str(self.signal)
            )
        await self.sender.shutdown()

    async def _drain(self) -> None:
        """Send what is queued, retrying within `drain_timeout`; drop (and count) what is left then."""
        assert self._dispatcher is not None
        self.retrying.interruption.drain_until(self.clock() + self.drain_timeout)
        done, _ = await asyncio.wait({self._dispatcher}, timeout=self.drain_timeout)
        if done:
            return
        self.retrying.interruption.stop()
        await self._cancel_sending()
        left = self.queue.take_all()
        if left:
            items = sum(_items(e.batch) for e in left)
            self.logger.error(
                "%s: dropped %d queued batches (%d items) not sent within the %gs drain at shutdown",
                self.label,
                len(left),
                items,
                self.drain_timeout,
            )
            self.telemetry.send_failed(self.signal, items)

    async def _cancel_sending(self) -> None:
        tasks = [t for t in (self._dispatcher, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- accepting ---------------------------------------------------------------------------------

    async def consume(self, batch: Batch) -> None:
        size = len(batch) if self.by_items else 1
        try:
            if self.config.block_on_overflow:
                await self.queue.reserve(size)
            elif not self.queue.try_reserve(size):
                self.telemetry.enqueue_failed(self.signal, len(batch))
                raise RetryableError(
                    f"sending queue is full ({self.queue.size} of {self.config.queue_size} "
                    f"{self.config.sizer}): {self.label} cannot keep up with its destination"
                )
        except QueueClosedError:
            raise RetryableError(f"{self.label} is shut down") from None
        if not self.persistent:
            self.queue.push(Entry(batch, size))
            return
        await self._write_ahead(batch, size)

    async def _write_ahead(self, batch: Batch, size: int) -> None:
        """Append to the durable log, then queue: once this returns the batch is on disk."""
        if self.log is None:
            self.queue.release(size)
            raise RetryableError(f"{self.label} is not started: its persistent queue is not open")
        append = asyncio.ensure_future(self.log.append(batch.otlp_bytes()))
        try:
            seq = await asyncio.shield(append)
        except asyncio.CancelledError:
            # The caller went away; the record may still reach the disk, and then it is queued anyway.
            append.add_done_callback(lambda f: self._queue_late(f, batch, size))
            raise
        except Exception as err:
            self.queue.release(size)
            raise RetryableError(f"{self.label} could not write to its persistent queue: {err}") from err
        self.queue.push(Entry(batch, size, (seq,)))

    def _queue_late(self, append: asyncio.Future[int], batch: Batch, size: int) -> None:
        if append.cancelled() or append.exception() is not None:
            self.queue.release(size)
        else:
            self.queue.push(Entry(batch, size, (append.result(),)))

    # -- sending -----------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        """Hand gathered entries to at most `num_consumers` concurrent sends until the queue is drained."""
        while True:
            await self._slots.acquire()
            entries = await self.batcher.gather()
            if entries is None:
                self._slots.release()
                break
            task = asyncio.create_task(self._send(entries))
            self._sending.add(task)
            task.add_done_callback(self._sent)
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("%s: sending crashed", self.label, exc_info=task.exception())

    async def _send(self, entries: list[Entry]) -> None:
        """Send the entries' batches; ack their records unless a retryable failure puts them back."""
        seqs = tuple(seq for entry in entries for seq in entry.seqs)
        try:
            parts = self.batcher.parts(entries)
        except Exception as err:  # e.g. an unreadable record: it can never be sent
            self._drop(sum(_items(e.batch) for e in entries), f"unreadable data: {err}")
            await self._ack(seqs)
            return
        unsent: list[Batch] = []
        pending = list(parts)
        try:
            while pending:
                part = pending[0]
                try:
                    await self.retrying.send(part)
                    self.telemetry.sent(self.signal, _items(part))
                except PermanentError as err:
                    self._drop(_items(part), f"permanent error: {err}")
                except RetryableError as err:
                    if self.persistent:
                        unsent.append(part)
                        self.logger.warning("%s: %s; the batch stays queued and is retried", self.label, err)
                    else:
                        self._drop(_items(part), str(err))
                pending.pop(0)
        except asyncio.CancelledError:
            if not self.persistent:
                self._drop(sum(_items(p) for p in pending), "shutdown cut sending short")
            raise
        if unsent:
            batch = Batch.merge(unsent)
            self.queue.push(Entry(batch, len(batch) if self.by_items else 1, seqs), reserved=False)
        else:
            await self._ack(seqs)

    def _drop(self, items: int, reason: str) -> None:
        self.logger.error("%s: dropped %d items: %s", self.label, items, reason)
        self.telemetry.send_failed(self.signal, items)

    async def _ack(self, seqs: tuple[int, ...]) -> None:
        if self.log is not None:
            for seq in seqs:
                await self.log.ack(seq)


def _items(batch: Batch) -> int:
    """Items in `batch`, or 0 when its data cannot be read."""
    try:
        return len(batch)
    except Exception:
        return 0
