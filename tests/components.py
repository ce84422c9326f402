"""Small test-only components: a receiver tests push into, a tagging processor, a recording exporter.

Every instance writes what happens to it into a shared `Journal`, so tests can observe the order in
which the service starts, feeds and stops them.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from collector.component import (
    ComponentId,
    Consumer,
    ExporterFactory,
    ExtensionFactory,
    Host,
    ProcessorFactory,
    ReceiverFactory,
    Settings,
    Stability,
)
from collector.pdata import Batch
from collector.registry import Registry, default_registry
from collector.signal import Signal

ALL = {s: Stability.DEVELOPMENT for s in Signal}


class Journal:
    """What happened, in order, as (event, component label) pairs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.receivers: dict[str, TestReceiver] = {}
        self.exporters: dict[str, TestExporter] = {}

    def record(self, event: str, who: str) -> None:
        self.events.append((event, who))

    def order(self, event: str) -> list[str]:
        return [who for e, who in self.events if e == event]


JOURNAL = Journal()


@dataclass
class SourceConfig:
    """A receiver that accepts whatever the test pushes into it."""

    tag: str = ""


class TestReceiver:
    __test__ = False

    def __init__(self, settings: Settings, nexts: Mapping[Signal, Consumer]) -> None:
        self.label, self.nexts = f"receiver {settings.id}", nexts
        JOURNAL.receivers[str(settings.id)] = self

    async def start(self, host: Host) -> None:
        JOURNAL.record("start", self.label)

    async def shutdown(self) -> None:
        JOURNAL.record("shutdown", self.label)

    async def push(self, batch: Batch) -> None:
        await self.nexts[batch.signal].consume(batch)


@dataclass
class TaggerConfig:
    """A processor that records the batches passing through it (a stand-in for `batch` until it exists)."""

    note: str = ""
    timeout: timedelta = timedelta(milliseconds=200)


class TestProcessor:
    __test__ = False

    def __init__(self, settings: Settings, config: TaggerConfig, next_consumer: Consumer) -> None:
        self.label = f"processor {settings.id} in {settings.pipeline}"
        self.config, self.next = config, next_consumer

    async def start(self, host: Host) -> None:
        JOURNAL.record("start", self.label)

    async def shutdown(self) -> None:
        JOURNAL.record("shutdown", self.label)

    async def consume(self, batch: Batch) -> None:
        JOURNAL.record("consume", self.label)
        await self.next.consume(batch)


@dataclass
class RecorderConfig:
    """An exporter that keeps batches; with `path`, it buffers and writes span names there on shutdown;
    with `dump`, it appends every batch there at once as a line `<signal> <base64 of the OTLP bytes>`."""

    path: str = ""
    dump: str = ""


class TestExporter:
    __test__ = False

    def __init__(self, settings: Settings, config: RecorderConfig, signal: Signal) -> None:
        self.label = f"exporter {settings.id} ({signal})"
        self.config, self.batches = config, list[Batch]()
        JOURNAL.exporters[self.label] = self

    async def start(self, host: Host) -> None:
        JOURNAL.record("start", self.label)

    async def shutdown(self) -> None:
        JOURNAL.record("shutdown", self.label)
        if self.config.path:
            await asyncio.sleep(0.2)  # draining takes a moment, as a real queue's would
            names = [
                s.name
                for b in self.batches
                for rs in b.otlp().resource_spans  # type: ignore[attr-defined]
                for ss in rs.scope_spans
                for s in ss.spans
            ]
            Path(self.config.path).write_text(json.dumps(names))  # noqa: ASYNC240

    async def consume(self, batch: Batch) -> None:
        JOURNAL.record("consume", self.label)
        self.batches.append(batch)
        if self.config.dump:
            with open(self.config.dump, "a") as out:  # noqa: ASYNC230 (a test helper, tiny writes)
                out.write(f"{batch.signal} {base64.b64encode(batch.otlp_bytes()).decode()}\n")


@dataclass
class NeedsConfig:
    """An extension that must start after the extensions it names."""

    needs: list[str] = field(default_factory=list)


class TestExtension:
    __test__ = False

    def __init__(self, settings: Settings) -> None:
        self.label = f"extension {settings.id}"

    async def start(self, host: Host) -> None:
        JOURNAL.record("start", self.label)

    async def shutdown(self) -> None:
        JOURNAL.record("shutdown", self.label)


FACTORIES = [
    ReceiverFactory("source", SourceConfig, lambda s, c, n: TestReceiver(s, n), ALL),
    ProcessorFactory("tagger", TaggerConfig, lambda s, c, sig, n: TestProcessor(s, c, n), ALL),
    ExporterFactory("recorder", RecorderConfig, lambda s, c, sig: TestExporter(s, c, sig), ALL),
    ExtensionFactory(
        "needs",
        NeedsConfig,
        lambda s, c: TestExtension(s),
        Stability.DEVELOPMENT,
        dependencies=lambda c: [ComponentId.parse(n) for n in c.needs],
    ),
]


def registry_with_test_components() -> Registry:
    """The built-in factories plus the test-only ones."""
    registry = default_registry(entry_points_too=False)
    for factory in FACTORIES:
        registry.add(factory)
    return registry
