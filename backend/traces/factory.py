"""Factory of the `traces_service` extension (cheap to import: no chdb or clickhouse_connect)."""

from __future__ import annotations

from backend.service import storage_dependency
from backend.traces.config import TracesServiceConfig
from collector.component import Component, ExtensionFactory, Settings, Stability


def create_extension(settings: Settings, config: TracesServiceConfig) -> Component:
    from backend.traces.service import TracesService

    return TracesService(settings, config)


FACTORY = ExtensionFactory(
    type="traces_service",
    config_type=TracesServiceConfig,
    create=create_extension,
    stability=Stability.ALPHA,
    dependencies=storage_dependency,
)

__all__ = ["FACTORY", "TracesServiceConfig"]
