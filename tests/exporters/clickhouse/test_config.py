"""The `clickhouse` exporter's config: contrib's keys and defaults, `storage` or `endpoint` but not both."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector.component import Stability
from collector.configstruct import decode
from collector.signal import Signal
from exporters.clickhouse.config import ClickHouseExporterConfig
from exporters.clickhouse.factory import FACTORY


def problems(**raw: Any) -> list[str]:
    return [str(p) for p in decode(ClickHouseExporterConfig, raw)[1]]


def config(**raw: Any) -> ClickHouseExporterConfig:
    decoded, found = decode(ClickHouseExporterConfig, raw)
    assert found == []
    assert decoded is not None
    return decoded


def test_defaults_are_the_contrib_exporters() -> None:
    default = FACTORY.default_config()
    assert (default.endpoint, default.storage, default.storage_extension) == ("", "", "clickhouse_storage")
    assert default.database == "otel"
    assert (default.username, default.password) == ("", "")
    assert default.create_schema is True
    assert default.ttl == timedelta(0)
    assert (default.cluster_name, default.table_engine.name) == ("", "")
    assert (default.traces_table_name, default.logs_table_name) == ("otel_traces", "otel_logs")
    tables = default.metrics_tables
    assert [tables.gauge.name, tables.sum.name, tables.summary.name, tables.histogram.name] == [
        "otel_metrics_gauge",
        "otel_metrics_sum",
        "otel_metrics_summary",
        "otel_metrics_histogram",
    ]
    assert tables.exponential_histogram.name == "otel_metrics_exponential_histogram"
    assert default.timeout == timedelta(seconds=5)


def test_the_factory_supports_every_signal_in_beta() -> None:
    assert FACTORY.type == "clickhouse"
    assert FACTORY.signals == {s: Stability.BETA for s in (Signal.TRACES, Signal.METRICS, Signal.LOGS)}


def test_a_storage_backend_name_is_a_complete_config() -> None:
    assert config(storage="main").storage == "main"


def test_contribs_own_keys_are_a_complete_config() -> None:
    decoded = config(
        endpoint="https://ch.example:8443",
        database="telemetry",
        username="u",
        password="p",
        ttl="72h",
        traces_table_name="spans",
        metrics_tables={"gauge": {"name": "gauges"}},
    )
    assert decoded.ttl == timedelta(hours=72)
    assert decoded.metrics_tables.gauge.name == "gauges"
    assert decoded.metrics_tables.sum.name == "otel_metrics_sum"
    backend = decoded.backend_config()
    assert (backend.endpoint, backend.database, backend.username, backend.password) == (
        "https://ch.example:8443",
        "telemetry",
        "u",
        "p",
    )


def test_storage_and_endpoint_together_are_refused_naming_both() -> None:
    found = problems(storage="main", endpoint="chdb://./data")
    assert len(found) == 1
    assert '"storage"' in found[0] and '"endpoint"' in found[0]
    assert "'main'" in found[0] and "'chdb://./data'" in found[0]


def test_neither_storage_nor_endpoint_is_refused() -> None:
    assert problems() == ['requires "storage" (a clickhouse_storage backend name) or "endpoint"']


def test_connection_keys_next_to_storage_are_refused_with_their_paths() -> None:
    assert problems(storage="main", database="other", ttl="1h") == [
        "database: is set by the storage backend 'main'; remove it here",
        "ttl: is set by the storage backend 'main'; remove it here",
    ]


def test_table_names_must_be_plain_identifiers() -> None:
    assert problems(storage="main", traces_table_name="a;drop", metrics_tables={"sum": {"name": ""}}) == [
        "traces_table_name: 'a;drop' is not a plain table name",
        "metrics_tables::sum::name: '' is not a plain table name",
    ]
