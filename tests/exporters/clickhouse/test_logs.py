"""Log records land in otel_logs exactly as the contrib clickhouseexporter writes them."""

from __future__ import annotations

from typing import Any

from backend.clickhouse.backend import ClickHouseBackend
from collector.pdata import Batch
from exporters.clickhouse import logs
from tests.collector.pdata.fixtures import LOGS_RECORDS, logs_request
from tests.exporters.clickhouse.expected import as_string, attributes, hex_id, time_ns

COLUMNS = (
    "Timestamp, TimestampTime, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, "
    "Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, "
    "ScopeAttributes, LogAttributes, EventName"
)


def expected_rows() -> list[tuple[Any, ...]]:
    """Every record's row, computed from the request in Python (not by the SQL under test)."""
    rows = []
    for rl in logs_request().resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                timestamp = time_ns(r.time_unix_nano or r.observed_time_unix_nano)
                rows.append(
                    (
                        timestamp,
                        timestamp.replace(microsecond=0),
                        hex_id(r.trace_id),
                        hex_id(r.span_id),
                        r.flags & 0xFF,
                        r.severity_text,
                        r.severity_number & 0xFF,
                        resource["service.name"],
                        as_string(r.body),
                        rl.schema_url,
                        resource,
                        sl.schema_url,
                        sl.scope.name,
                        sl.scope.version,
                        attributes(sl.scope.attributes),
                        attributes(r.attributes),
                        r.event_name,
                    )
                )
    return rows


async def test_every_column_of_every_record_is_written_as_contrib_writes_it(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await logs.write(clickhouse_backend, "otel_logs", Batch.from_otlp(logs_request()))

    rows = await clickhouse_backend.query_rows(
        f"SELECT {COLUMNS} FROM {clickhouse_backend.table('otel_logs')} ORDER BY Timestamp, SeverityNumber"
    )
    assert len(rows) == LOGS_RECORDS
    want = sorted(expected_rows(), key=lambda r: (r[0], r[6]))
    for got, expected in zip(rows, want, strict=True):
        assert got == expected


async def test_bodies_of_every_kind_are_stringified_as_pdata_does(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await logs.write(clickhouse_backend, "otel_logs", Batch.from_otlp(logs_request()))

    rows = await clickhouse_backend.query_rows(
        f"SELECT SeverityNumber, Body FROM {clickhouse_backend.table('otel_logs')} "
        "WHERE ServiceName = 'api' ORDER BY SeverityNumber"
    )
    assert rows == [
        (0, "text"),
        (1, ""),
        (2, "true"),
        (3, "false"),
        (4, "-9223372036854775808"),
        (5, "0"),
        (6, "3.5"),
        (7, "AP8="),
        (8, '["a",false]'),
        (9, '{"k":1}'),
        (10, '[1,"ChMKBWlubmVyEgoqCAoGCgRkZWVwCgcKBWVtcHR5",null]'),
        (11, ""),
        (12, ""),
    ]


async def test_a_record_without_time_takes_its_observed_time(clickhouse_backend: ClickHouseBackend) -> None:
    await logs.write(clickhouse_backend, "otel_logs", Batch.from_otlp(logs_request()))

    rows = await clickhouse_backend.query_rows(
        f"SELECT Timestamp FROM {clickhouse_backend.table('otel_logs')} WHERE SeverityNumber = 2"
    )
    assert rows == [(time_ns(2002),)]


async def test_a_table_without_event_name_is_written_without_it(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    table = clickhouse_backend.table("old_logs")
    await clickhouse_backend.command(f"CREATE TABLE {table} AS {clickhouse_backend.table('otel_logs')}")
    await clickhouse_backend.command(f"ALTER TABLE {table} DROP COLUMN EventName")

    await logs.write(clickhouse_backend, "old_logs", Batch.from_otlp(logs_request()))

    rows = await clickhouse_backend.query_rows(f"SELECT count(), countIf(Body = 'text') FROM {table}")
    assert rows == [(LOGS_RECORDS, 1)]


async def test_a_resource_without_a_service_name_gets_an_empty_one(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=5).body.string_value = "hi"
    await logs.write(clickhouse_backend, "otel_logs", Batch.from_otlp(request))
    rows = await clickhouse_backend.query_rows(
        f"SELECT Body, ServiceName FROM {clickhouse_backend.table('otel_logs')}"
    )
    assert rows == [("hi", "")]
