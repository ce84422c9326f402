"""Failures of the `clickhouse` exporter: outages are retried until the insert succeeds, bad data is refused."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from backend.clickhouse.backend import ClickHouseBackend
from collector.component import ComponentId, Kind, ServiceStatus, Settings
from collector.configstruct import decode
from collector.errors import ConfigError, PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.clickhouse.config import ClickHouseExporterConfig
from exporters.clickhouse.factory import FACTORY
from exporters.clickhouse.sender import ClickHouseSender, classify
from tests.backend.conftest import unique_database
from tests.collector.pdata.fixtures import TRACES_SPANS, metrics_request, traces_request
from tests.exporters.exporterhelper.fakes import until

ID = ComponentId("clickhouse")
NO_HOST: Any = None


class StorageHost:
    """A host whose `clickhouse_storage` extension holds one backend."""

    status = ServiceStatus.RUNNING

    def __init__(self, backend: ClickHouseBackend) -> None:
        self._backend = backend

    def extension(self, id: ComponentId) -> Any:
        if id != ComponentId("clickhouse_storage"):
            raise KeyError(id)
        return self

    def extensions(self) -> Mapping[ComponentId, Any]:
        return {ComponentId("clickhouse_storage"): self}

    def backend(self, name: str) -> ClickHouseBackend:
        if name != "main":
            raise KeyError(f"no backend {name!r}")
        return self._backend


def settings(registry: MetricsRegistry | None = None) -> Settings:
    return Settings(ID, Kind.EXPORTER, registry or MetricsRegistry(), logging.getLogger("test.clickhouse"))


def config(**raw: Any) -> ClickHouseExporterConfig:
    decoded, problems = decode(ClickHouseExporterConfig, {"storage": "main", **raw})
    assert problems == [] and decoded is not None
    return decoded


def counted(registry: MetricsRegistry, what: str) -> float:
    try:
        return registry.get(f"otelcol_exporter_{what}_spans_total").value(exporter=str(ID))
    except KeyError:
        return 0.0


async def count(backend: ClickHouseBackend, table: str = "otel_traces") -> int:
    rows = await backend.query_rows(f"SELECT count() FROM {backend.table(table)}")
    return int(str(rows[0][0]))


async def test_a_retried_insert_succeeds_once_the_dropped_table_is_back(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    retry = {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "20s"}
    exporter = FACTORY.create(
        settings(), config(sending_queue={"enabled": False}, retry_on_failure=retry), Signal.TRACES
    )
    await exporter.start(StorageHost(clickhouse_backend))
    table = clickhouse_backend.table("otel_traces")
    ddl = (await clickhouse_backend.query_rows(f"SHOW CREATE TABLE {table}"))[0][0]
    await clickhouse_backend.command(f"DROP TABLE {table}")

    sending = asyncio.create_task(exporter.consume(Batch.from_otlp(traces_request())))
    await asyncio.sleep(0.3)
    assert not sending.done()  # failing and retrying
    await clickhouse_backend.command(str(ddl))
    await asyncio.wait_for(sending, 10)
    await exporter.shutdown()

    assert await count(clickhouse_backend) == TRACES_SPANS


async def test_a_permanent_failure_is_logged_and_counted_never_dropped_silently(
    clickhouse_backend: ClickHouseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    await clickhouse_backend.command(
        f"CREATE TABLE {clickhouse_backend.table('bad_traces')} (SpanName String) ENGINE = MergeTree ORDER BY ()"
    )
    registry = MetricsRegistry()
    exporter = FACTORY.create(settings(registry), config(traces_table_name="bad_traces"), Signal.TRACES)
    await exporter.start(StorageHost(clickhouse_backend))

    await exporter.consume(Batch.from_otlp(traces_request()))
    await until(lambda: counted(registry, "send_failed") == TRACES_SPANS, within=10)
    await exporter.shutdown()

    assert counted(registry, "sent") == 0
    assert "dropped 8 items: permanent error" in caplog.text
    assert await count(clickhouse_backend, "bad_traces") == 0


async def test_malformed_data_is_a_permanent_error(clickhouse_backend: ClickHouseBackend) -> None:
    sender = ClickHouseSender(settings(), config(), Signal.TRACES)
    await sender.start(StorageHost(clickhouse_backend))

    with pytest.raises(PermanentError, match="invalid OTLP traces request"):
        await sender.send(Batch.from_otlp_bytes(Signal.TRACES, b"\x0a\x05\x12"), 5.0)


async def test_a_metrics_table_that_does_not_fit_the_mapping_is_a_permanent_error(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await clickhouse_backend.command(
        f"CREATE TABLE {clickhouse_backend.table('bad_summary')} (MetricName String) ENGINE = MergeTree ORDER BY ()"
    )
    sender = ClickHouseSender(
        settings(), config(metrics_tables={"summary": {"name": "bad_summary"}}), Signal.METRICS
    )
    await sender.start(StorageHost(clickhouse_backend))

    with pytest.raises(PermanentError, match="ClickHouse refused the data"):
        await sender.send(Batch.from_otlp(metrics_request()), 5.0)


async def test_a_missing_metrics_table_is_a_retryable_error(clickhouse_backend: ClickHouseBackend) -> None:
    sender = ClickHouseSender(
        settings(), config(metrics_tables={"gauge": {"name": "absent"}}), Signal.METRICS
    )
    await sender.start(StorageHost(clickhouse_backend))

    with pytest.raises(RetryableError, match="absent"):
        await sender.send(Batch.from_otlp(metrics_request()), 5.0)


async def test_a_stopped_backend_is_a_retryable_error(clickhouse_backend: ClickHouseBackend) -> None:
    sender = ClickHouseSender(settings(), config(), Signal.TRACES)
    await sender.start(StorageHost(clickhouse_backend))
    await clickhouse_backend.close()

    with pytest.raises(RetryableError, match="not started"):
        await sender.send(Batch.from_otlp(traces_request()), 5.0)


async def test_an_endpoint_config_opens_and_closes_its_own_backend(chdb_folder: Path) -> None:
    raw = {"endpoint": f"chdb://{chdb_folder}", "database": unique_database()}
    decoded, problems = decode(ClickHouseExporterConfig, raw)
    assert problems == [] and decoded is not None
    sender = ClickHouseSender(settings(), decoded, Signal.TRACES)
    await sender.start(NO_HOST)
    backend = sender.backend
    assert backend is not None

    await sender.send(Batch.from_otlp(traces_request()), 5.0)
    assert await count(backend) == TRACES_SPANS
    await sender.shutdown()
    assert not backend.started


async def test_an_unknown_storage_backend_is_a_config_error_with_its_path(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    sender = ClickHouseSender(settings(), config(storage="other"), Signal.TRACES)
    with pytest.raises(ConfigError, match="exporters::clickhouse::storage: no backend 'other'"):
        await sender.start(StorageHost(clickhouse_backend))


def test_clickhouse_errors_are_classified_by_their_code() -> None:
    class ServerError(Exception):
        def __init__(self, message: str, code: int | None) -> None:
            super().__init__(message)
            self.code = code

    assert isinstance(classify(ServerError("Code: 60. UNKNOWN_TABLE", 60), "x"), RetryableError)
    assert isinstance(classify(ServerError("Code: 241. MEMORY_LIMIT_EXCEEDED", 241), "x"), RetryableError)
    assert isinstance(classify(ConnectionRefusedError("refused"), "x"), RetryableError)
    assert isinstance(classify(ServerError("Code: 16. NO_SUCH_COLUMN_IN_TABLE", 16), "x"), PermanentError)
    assert isinstance(classify(ServerError("Code: 444. protobuf", None), "x"), PermanentError)
    assert isinstance(classify(TimeoutError(), "x"), RetryableError)
