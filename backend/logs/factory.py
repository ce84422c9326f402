"""Factory of the `logs_service` extension (cheap to import: no chdb or clickhouse_connect)."""

from __future__ import annotations

from backend.logs.config import LogsServiceConfig
from backend.service import storage_dependency
from collector.component import Component, ExtensionFactory, Settings, Stability


def create_extension(settings: Settings, config: LogsServiceConfig) -> Component:
    from backend.logs.service import LogsService

    return LogsService(settings, config)


FACTORY = ExtensionFactory(
    type="logs_service",
    config_type=LogsServiceConfig,
    create=create_extension,
    stability=Stability.ALPHA,
    dependencies=storage_dependency,
)

__all__ = ["FACTORY", "LogsServiceConfig"]
