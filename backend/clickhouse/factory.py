"""Factory of the `clickhouse_storage` extension (cheap to import: no chdb, clickhouse_connect, pyarrow)."""

from __future__ import annotations

from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from collector.component import Component, ExtensionFactory, Settings, Stability


def create_extension(settings: Settings, config: ClickHouseStorageConfig) -> Component:
    from backend.clickhouse.extension import ClickHouseStorage

    return ClickHouseStorage(settings, config)


FACTORY = ExtensionFactory(
    type="clickhouse_storage",
    config_type=ClickHouseStorageConfig,
    create=create_extension,
    stability=Stability.ALPHA,
)

__all__ = ["FACTORY", "BackendConfig", "ClickHouseStorageConfig"]
