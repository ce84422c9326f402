"""The `clickhouse` exporter's config: a backend of the `clickhouse_storage` extension, or contrib's own keys.

Either `storage: NAME` (a backend of the extension `storage_extension`, default `clickhouse_storage`)
or the contrib clickhouseexporter's connection keys (`endpoint`, also `chdb://PATH`, `database`,
`username`, `password`, `create_schema`, `ttl`, `cluster_name`, `table_engine`), never both.
Table names and their defaults are contrib's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from collector.errors import ConfigError, Problem
from exporters.exporterhelper.config import ExporterHelperConfig

if TYPE_CHECKING:
    from backend.clickhouse.config import BackendConfig

__all__ = ["ClickHouseExporterConfig", "MetricTableConfig", "MetricTablesConfig", "TableEngineConfig"]


@dataclass
class MetricTableConfig:
    """One metric type's table (contrib's `metrics_tables::<type>`)."""

    name: str = ""


@dataclass
class MetricTablesConfig:
    """The five metrics tables, named as contrib's defaults."""

    gauge: MetricTableConfig = field(default_factory=lambda: MetricTableConfig("otel_metrics_gauge"))
    sum: MetricTableConfig = field(default_factory=lambda: MetricTableConfig("otel_metrics_sum"))
    summary: MetricTableConfig = field(default_factory=lambda: MetricTableConfig("otel_metrics_summary"))
    histogram: MetricTableConfig = field(default_factory=lambda: MetricTableConfig("otel_metrics_histogram"))
    exponential_histogram: MetricTableConfig = field(
        default_factory=lambda: MetricTableConfig("otel_metrics_exponential_histogram")
    )


@dataclass
class TableEngineConfig:
    """contrib's `table_engine`: the engine family (and parameters) of created tables."""

    name: str = ""
    params: str = ""


@dataclass
class ClickHouseExporterConfig(ExporterHelperConfig):
    """Config of the `clickhouse` exporter (contrib's clickhouseexporter keys, plus `storage`)."""

    storage: str = ""
    """A backend name of the `clickhouse_storage` extension (instead of `endpoint`)."""
    storage_extension: str = "clickhouse_storage"
    """The id of the extension holding `storage`."""
    endpoint: str = ""
    """`http(s)://host:port` of a ClickHouse server or `chdb://PATH` (instead of `storage`)."""
    database: str = "otel"
    username: str = ""
    password: str = ""
    create_schema: bool = True
    ttl: timedelta = timedelta(0)
    """How long rows are kept; 0 keeps them forever."""
    cluster_name: str = ""
    table_engine: TableEngineConfig = field(default_factory=TableEngineConfig)
    traces_table_name: str = "otel_traces"
    logs_table_name: str = "otel_logs"
    metrics_tables: MetricTablesConfig = field(default_factory=MetricTablesConfig)

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems: list[Problem] = []
        if self.storage and self.endpoint:
            problems.append(
                Problem(
                    "",
                    f'give either "storage" ({self.storage!r}, a clickhouse_storage backend) or '
                    f'"endpoint" ({self.endpoint!r}), not both',
                )
            )
        elif not self.storage and not self.endpoint:
            problems.append(
                Problem("", 'requires "storage" (a clickhouse_storage backend name) or "endpoint"')
            )
        if self.storage:
            connection_keys = {
                "database": self.database != "otel",
                "username": bool(self.username),
                "password": bool(self.password),
                "create_schema": not self.create_schema,
                "ttl": self.ttl != timedelta(0),
                "cluster_name": bool(self.cluster_name),
                "table_engine": bool(self.table_engine.name or self.table_engine.params),
            }
            for key, given in connection_keys.items():
                if given:
                    problems.append(
                        Problem(key, f"is set by the storage backend {self.storage!r}; remove it here")
                    )
        if self.table_engine.name and self.table_engine.name not in ("MergeTree", "ReplacingMergeTree"):
            problems.append(
                Problem(
                    "table_engine::name",
                    f"{self.table_engine.name!r} is not supported by airis's schema (MergeTree only)",
                )
            )
        if self.ttl < timedelta(0):
            problems.append(Problem("ttl", f"{self.ttl} must not be negative"))
        tables = {
            "traces_table_name": self.traces_table_name,
            "logs_table_name": self.logs_table_name,
            **{f"metrics_tables::{k}::name": getattr(self.metrics_tables, k).name for k in _METRIC_KINDS},
        }
        for key, name in tables.items():
            if not _is_identifier(name):
                problems.append(Problem(key, f"{name!r} is not a plain table name"))
        if problems:
            raise ConfigError(problems)

    def backend_config(self) -> BackendConfig:
        """The `BackendConfig` of an exporter-owned backend (`endpoint` given); imports the backend."""
        from backend.clickhouse.config import BackendConfig

        return BackendConfig(
            endpoint=self.endpoint,
            database=self.database,
            create_schema=self.create_schema,
            ttl=self.ttl,
            cluster=self.cluster_name,
            username=self.username,
            password=self.password,
        )


_METRIC_KINDS = ("gauge", "sum", "summary", "histogram", "exponential_histogram")


def _is_identifier(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)
