"""Test doubles for the exporter helper: a scripted Sender, a fake clock, an in-memory durable log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import Component, ComponentId, Host, Kind, ServiceStatus, Settings
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.exporterhelper.config import BatchConfig, ExporterHelperConfig, QueueConfig, RetryConfig
from exporters.exporterhelper.retry import Timing

ID = ComponentId("otlp", "backend")


def spans(count: int, name: str = "s") -> Batch:
    """A serialized traces batch of `count` spans named `name0`, `name1`, ..."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(count):
        scope.spans.add(name=f"{name}{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return Batch.from_otlp_bytes(Signal.TRACES, request.SerializeToString())


def names(batch: Batch) -> list[str]:
    """The span names of a traces batch, in order."""
    request: Any = batch.otlp()
    return [span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def settings(registry: MetricsRegistry | None = None) -> Settings:
    return Settings(
        ID, Kind.EXPORTER, registry or MetricsRegistry(), logging.getLogger("test.exporterhelper")
    )


def ms(value: float) -> timedelta:
    return timedelta(milliseconds=value)


def config(
    *,
    timeout: timedelta = timedelta(seconds=1),
    queue: QueueConfig | None = None,
    retry: RetryConfig | None = None,
    batch: BatchConfig | None = None,
) -> ExporterHelperConfig:
    """A helper config with fast retries (10 ms, no jitter, 1 s budget) unless told otherwise."""
    queue = queue or QueueConfig()
    queue.batch = batch or queue.batch
    retry = retry or RetryConfig(
        initial_interval=ms(10),
        randomization_factor=0,
        multiplier=1,
        max_interval=ms(10),
        max_elapsed_time=ms(1000),
    )
    return ExporterHelperConfig(timeout=timeout, sending_queue=queue, retry_on_failure=retry)


class FakeTiming(Timing):
    """A clock that only moves when someone sleeps; every requested wait is recorded."""

    def __init__(self, rand: float = 0.5) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        super().__init__(sleep=self._sleep, clock=lambda: self.now, random=lambda: rand)

    async def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Outcome = BaseException | asyncio.Event | None


@dataclass
class ScriptedSender:
    """Answers attempts from `script` (None: success, an exception: raised, an Event: wait for it), then succeeds."""

    script: list[Outcome] = field(default_factory=list)
    sent: list[Batch] = field(default_factory=list)
    attempts: int = 0
    timeouts: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def start(self, host: Host) -> None:
        self.events.append("start")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109
        self.attempts += 1
        self.timeouts.append(timeout)
        outcome = self.script.pop(0) if self.script else None
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if isinstance(outcome, asyncio.Event):
                await outcome.wait()
            elif outcome is not None:
                raise outcome
        finally:
            self.in_flight -= 1
        self.sent.append(batch)
        self.events.append("sent")

    def sent_names(self) -> list[str]:
        return [n for batch in self.sent for n in names(batch)]


class MemoryLog:
    """A stand-in for a `file_storage` durable log (which has its own tests): records live in a dict."""

    def __init__(self, disk: MemoryStorage, owner: str) -> None:
        self.disk, self.owner = disk, owner
        self.records = disk.disks.setdefault(owner, {})
        self.closed = False
        self.gate: asyncio.Event | None = None  # when set, appends wait for it (a slow disk)

    def replay(self) -> list[tuple[int, bytes]]:
        return sorted(self.records.items())

    async def append(self, record: bytes) -> int:
        if self.closed:
            raise ValueError("the log is closed")
        if self.gate is not None:
            await self.gate.wait()
        self.disk.next_seq += 1
        self.records[self.disk.next_seq] = record
        return self.disk.next_seq

    async def ack(self, seq: int) -> None:
        del self.records[seq]
        self.disk.acked.append(seq)

    def pending(self) -> int:
        return len(self.records)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            del self.disk.open[self.owner]


class MemoryStorage:
    """A fake storage extension whose 'disk' (records by owner) outlives the logs opened on it."""

    def __init__(self) -> None:
        self.disks: dict[str, dict[int, bytes]] = {}
        self.open: dict[str, MemoryLog] = {}
        self.acked: list[int] = []
        self.next_seq = 0

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def open_log(self, owner: str) -> MemoryLog:
        if owner in self.open:
            raise ValueError(f"log {owner!r} is open already")
        log = self.open[owner] = MemoryLog(self, owner)
        return log


class FakeHost:
    """A host with the given extensions."""

    def __init__(self, extensions: Mapping[ComponentId, Component] | None = None) -> None:
        self._extensions = dict(extensions or {})

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return self._extensions

    @property
    def status(self) -> ServiceStatus:
        return ServiceStatus.RUNNING


def counted(registry: MetricsRegistry, what: str) -> float:
    """The exporter's `otelcol_exporter_<what>_spans_total` (0 when never counted)."""
    try:
        return registry.get(f"otelcol_exporter_{what}_spans_total").value(exporter=str(ID))
    except KeyError:
        return 0.0


async def until(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Wait until `condition()` holds; fail the test after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)
