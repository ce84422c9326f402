"""Component ids, kinds and the contracts every component and factory follows.

A factory bundles a type name, a config dataclass (its default instance is the default config) and
one create function. The service calls `create` once per instance:

- receiver:  one per id, with the next consumer of every signal its pipelines use
             (`create(settings, config, nexts)`), so one id in several pipelines is one server;
- processor: one per (pipeline, id): `create(settings, config, signal, next)`;
- exporter:  one per (signal, id), fed by every pipeline of that signal naming it:
             `create(settings, config, signal)`;
- connector: one per (id, signal it consumes, signal it emits): `create(settings, config,
             from_signal, to_signal, next)`;
- extension: one per id: `create(settings, config)`, started before every pipeline, in the order
             `dependencies(config)` implies.

Components do no I/O in `create`; `start` returns quickly (spawning background tasks) and
`shutdown` is idempotent and safe without `start`.
"""

from __future__ import annotations

import builtins
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from collector.signal import Signal

if TYPE_CHECKING:
    from collector.pdata import Batch
    from collector.telemetry import MetricsRegistry

_TYPE_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]{0,62}$")
_NAME_MAX = 1024


class Kind(StrEnum):
    """The five kinds of component, named as the config's sections are (singular)."""

    RECEIVER = "receiver"
    PROCESSOR = "processor"
    EXPORTER = "exporter"
    CONNECTOR = "connector"
    EXTENSION = "extension"


class Stability(StrEnum):
    """How settled a component (for one signal) is, with the collector's levels."""

    DEVELOPMENT = "development"
    ALPHA = "alpha"
    BETA = "beta"
    STABLE = "stable"
    DEPRECATED = "deprecated"
    UNMAINTAINED = "unmaintained"


@dataclass(frozen=True, order=True)
class ComponentId:
    """A component id, `type[/name]`, with the collector's rules for both parts."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentId:
        """Parse `type` or `type/name`; raise ValueError saying which rule `text` breaks."""
        type_, sep, name = text.strip().partition("/")
        if not type_:
            raise ValueError(f"id {text!r} has an empty type")
        if not _TYPE_RE.match(type_):
            raise ValueError(
                f"id {text!r}: type {type_!r} must start with a letter and hold only letters, "
                "digits and '_' (at most 63 characters)"
            )
        if sep and not name:
            raise ValueError(f"id {text!r}: the name after '/' must not be empty")
        if len(name) > _NAME_MAX:
            raise ValueError(f"id {text!r}: the name is longer than {_NAME_MAX} characters")
        if any(unicodedata.category(ch)[0] in "ZCS" for ch in name):
            raise ValueError(f"id {text!r}: the name must not hold spaces, control characters or symbols")
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


class ServiceStatus(StrEnum):
    """Where the service is in its life, as the health check reports it."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Host(Protocol):
    """What a running component may ask of the service."""

    def extension(self, id: ComponentId) -> Component:
        """The started extension `id`; KeyError if there is none."""
        ...

    def extensions(self) -> Mapping[ComponentId, Component]:
        """Every started extension by id."""
        ...

    @property
    def status(self) -> ServiceStatus:
        """The service's state right now."""
        ...


class Component(Protocol):
    """Anything the service starts and shuts down."""

    async def start(self, host: Host) -> None:
        """Begin work; return quickly, spawning background tasks as needed."""
        ...

    async def shutdown(self) -> None:
        """Stop and drain; idempotent and safe if `start` never ran."""
        ...


class Consumer(Protocol):
    """Takes batches. A batch handed over must not be mutated by anyone: build a new one instead."""

    async def consume(self, batch: Batch) -> None:
        """Take `batch`; raise RetryableError or PermanentError to refuse it."""
        ...


class Processor(Component, Consumer, Protocol):
    """A pipeline stage: consumes, transforms, hands on to its next consumer."""


class Exporter(Component, Consumer, Protocol):
    """The end of a pipeline: sends batches somewhere."""


class Connector(Component, Consumer, Protocol):
    """An exporter of one pipeline that is a receiver of others."""


@dataclass(frozen=True)
class Settings:
    """What the service tells a component when creating it."""

    id: ComponentId
    kind: Kind
    telemetry: MetricsRegistry
    logger: logging.Logger
    pipeline: ComponentId | None = None


C = TypeVar("C")


def _no_dependencies(config: Any) -> Iterable[ComponentId]:
    return ()


@dataclass(frozen=True)
class ReceiverFactory(Generic[C]):
    """Creates one receiver per id with the next consumer of each of its signals."""

    type: str
    config_type: builtins.type[C]
    create: Callable[[Settings, C, Mapping[Signal, Consumer]], Component]
    signals: Mapping[Signal, Stability]
    kind: ClassVar[Kind] = Kind.RECEIVER

    def default_config(self) -> C:
        """A fresh default config."""
        return self.config_type()


@dataclass(frozen=True)
class ProcessorFactory(Generic[C]):
    """Creates one processor per pipeline that names it."""

    type: str
    config_type: builtins.type[C]
    create: Callable[[Settings, C, Signal, Consumer], Processor]
    signals: Mapping[Signal, Stability]
    kind: ClassVar[Kind] = Kind.PROCESSOR

    def default_config(self) -> C:
        """A fresh default config."""
        return self.config_type()


@dataclass(frozen=True)
class ExporterFactory(Generic[C]):
    """Creates one exporter per (signal, id)."""

    type: str
    config_type: builtins.type[C]
    create: Callable[[Settings, C, Signal], Exporter]
    signals: Mapping[Signal, Stability]
    kind: ClassVar[Kind] = Kind.EXPORTER

    def default_config(self) -> C:
        """A fresh default config."""
        return self.config_type()


@dataclass(frozen=True)
class ConnectorFactory(Generic[C]):
    """Creates one connector per (id, consumed signal, emitted signal)."""

    type: str
    config_type: builtins.type[C]
    create: Callable[[Settings, C, Signal, Signal, Consumer], Connector]
    signals: Mapping[tuple[Signal, Signal], Stability]
    kind: ClassVar[Kind] = Kind.CONNECTOR

    def default_config(self) -> C:
        """A fresh default config."""
        return self.config_type()


@dataclass(frozen=True)
class ExtensionFactory(Generic[C]):
    """Creates one extension per id; `dependencies(config)` names extensions to start first."""

    type: str
    config_type: builtins.type[C]
    create: Callable[[Settings, C], Component]
    stability: Stability
    dependencies: Callable[[C], Iterable[ComponentId]] = field(default=_no_dependencies)
    kind: ClassVar[Kind] = Kind.EXTENSION

    def default_config(self) -> C:
        """A fresh default config."""
        return self.config_type()


AnyFactory = (
    ReceiverFactory[Any]
    | ProcessorFactory[Any]
    | ExporterFactory[Any]
    | ConnectorFactory[Any]
    | ExtensionFactory[Any]
)
