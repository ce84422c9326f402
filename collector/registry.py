"""The registry of component factories: built-in ones plus third-party ones from entry points.

Third-party packages publish factories under the entry point groups `airis.receivers`,
`airis.processors`, `airis.exporters`, `airis.connectors` and `airis.extensions`; each entry point
names a factory object (e.g. `mypkg.factory:FACTORY`) whose `type` is the config's type.
Factory modules must import cheaply: heavy libraries are imported inside `create`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points

from collector.component import AnyFactory, Kind

log = logging.getLogger("airis.registry")

ENTRY_POINT_GROUPS: dict[Kind, str] = {
    Kind.RECEIVER: "airis.receivers",
    Kind.PROCESSOR: "airis.processors",
    Kind.EXPORTER: "airis.exporters",
    Kind.CONNECTOR: "airis.connectors",
    Kind.EXTENSION: "airis.extensions",
}

# Modules of the built-in components; each exposes `FACTORY`.
BUILTIN_MODULES: tuple[str, ...] = (
    "receivers.otlp.factory",
    "receivers.prometheus.factory",
    "receivers.syslog.factory",
    "receivers.prometheusremotewrite.factory",
    "receivers.nop.factory",
    "processors.batch.factory",
    "processors.memory_limiter.factory",
    "exporters.debug.factory",
    "exporters.otlp.factory",
    "exporters.otlphttp.factory",
    "exporters.prometheusremotewrite.factory",
    "exporters.clickhouse.factory",
    "exporters.nop.factory",
    "connectors.forward.factory",
    "extensions.health_check.factory",
    "extensions.file_storage.factory",
    "collector.auth.factory",
    "backend.clickhouse.factory",
    "backend.traces.factory",
    "backend.logs.factory",
    "backend.metrics.factory",
    "gateway.factory",
)

# Other names the collector's configs use for the same type (kind, alias) -> type.
ALIASES: dict[tuple[Kind, str], str] = {
    (Kind.RECEIVER, "otlp_grpc"): "otlp",
    (Kind.EXPORTER, "otlp_grpc"): "otlp",
    (Kind.EXPORTER, "otlp_http"): "otlphttp",
}


class Registry:
    """Factories by kind and type."""

    def __init__(self, factories: Iterable[AnyFactory] = ()) -> None:
        self._factories: dict[Kind, dict[str, AnyFactory]] = {kind: {} for kind in Kind}
        for factory in factories:
            self.add(factory)

    def add(self, factory: AnyFactory) -> None:
        """Register `factory`; a second factory for the same kind and type replaces the first."""
        self._factories[factory.kind][factory.type] = factory

    def get(self, kind: Kind, type_: str) -> AnyFactory | None:
        """The factory of `type_` (or of the type it is an alias of), None if unknown."""
        found = self._factories[kind].get(type_)
        if found is None and (kind, type_) in ALIASES:
            found = self._factories[kind].get(ALIASES[(kind, type_)])
        return found

    def types(self, kind: Kind) -> list[str]:
        """Every registered type of `kind`, sorted."""
        return sorted(self._factories[kind])

    def __iter__(self) -> Iterator[AnyFactory]:
        for kind in Kind:
            yield from (self._factories[kind][t] for t in self.types(kind))


def default_registry(entry_points_too: bool = True) -> Registry:
    """The built-in factories plus those that installed packages publish."""
    registry = Registry(importlib.import_module(name).FACTORY for name in BUILTIN_MODULES)
    if entry_points_too:
        for kind, group in ENTRY_POINT_GROUPS.items():
            for ep in entry_points(group=group):
                try:
                    factory = ep.load()
                except Exception as err:  # a broken plug-in must not take airis down
                    log.warning("cannot load %s %r from entry point %s: %s", kind, ep.name, ep.value, err)
                    continue
                if getattr(factory, "kind", None) != kind:
                    log.warning("entry point %s in %s is not a %s factory; ignored", ep.value, group, kind)
                    continue
                registry.add(factory)
    return registry
