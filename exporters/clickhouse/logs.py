"""Log records into the contrib clickhouseexporter's `otel_logs` table, decoded and mapped by ClickHouse.

Row mapping of contrib's `pushLogsData` (exporter_logs.go, the `batch.Append` era): Timestamp is the
record's time, or its observed time when 0; TraceFlags and SeverityNumber are truncated to uint8
as Go's conversions do; Body is the body's `Value.AsString()` ('' when unset); TimestampTime comes
from the column's DEFAULT; EventName is written when the table has that column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporters.clickhouse.any_value_bytes import attributes_map, value_string
from exporters.clickhouse.ingest import ContainerFallback, table_ingest
from exporters.clickhouse.otlp_sql import ANY_VALUE, ATTRIBUTES, hex_id

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend
    from collector.pdata import Batch

__all__ = ["SPEC", "ingest", "select", "write"]

SPEC = {
    "resource_logs": {
        "resource": {"attributes": ATTRIBUTES},
        "schema_url": None,
        "scope_logs": {
            "scope": {"name": None, "version": None, "attributes": ATTRIBUTES},
            "schema_url": None,
            "log_records": {
                "time_unix_nano": None,
                "observed_time_unix_nano": None,
                "severity_number": None,
                "severity_text": None,
                "body": ANY_VALUE,
                "attributes": ATTRIBUTES,
                "flags": None,
                "trace_id": None,
                "span_id": None,
                "event_name": None,
            },
        },
    }
}


def select(source: str, columns: frozenset[str] = frozenset({"EventName"}), containers: bool = True) -> str:
    """The view's SELECT from the Null table `source` into otel_logs' columns (EventName if in `columns`)."""

    def attributes(expr: str) -> str:
        return attributes_map(expr, containers)

    event_name = ",\n    r.event_name AS EventName" if "EventName" in columns else ""
    timestamp = "if(r.time_unix_nano = 0, r.observed_time_unix_nano, r.time_unix_nano)"
    return f"""SELECT
    fromUnixTimestamp64Nano(reinterpretAsInt64({timestamp})) AS Timestamp,
    {hex_id("r.trace_id", 16)} AS TraceId,
    {hex_id("r.span_id", 8)} AS SpanId,
    toUInt8(bitAnd(r.flags, 255)) AS TraceFlags,
    r.severity_text AS SeverityText,
    toUInt8(bitAnd(r.severity_number, 255)) AS SeverityNumber,
    ifNull(resource_attributes['service.name'], '') AS ServiceName,
    {value_string("r.body", containers)} AS Body,
    resource_schema_url AS ResourceSchemaUrl,
    resource_attributes AS ResourceAttributes,
    sl.schema_url AS ScopeSchemaUrl,
    sl.scope.name AS ScopeName,
    sl.scope.version AS ScopeVersion,
    {attributes("sl.scope.attributes")} AS ScopeAttributes,
    {attributes("r.attributes")} AS LogAttributes{event_name}
FROM (
    SELECT
        {attributes("rl.resource.attributes")} AS resource_attributes,
        rl.schema_url AS resource_schema_url,
        rl.scope_logs AS scope_logs
    FROM {source} ARRAY JOIN resource_logs AS rl
)
ARRAY JOIN scope_logs AS sl
ARRAY JOIN sl.log_records AS r"""


def ingest(backend: ClickHouseBackend, table: str) -> ContainerFallback:
    """The ingest path into logs table `table` of `backend` (made once, shared by exporters)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return table_ingest(backend, table, ExportLogsServiceRequest.DESCRIPTOR, SPEC, select)


async def write(backend: ClickHouseBackend, table: str, batch: Batch) -> None:
    """Insert the batch's log records into `table` (a bare name in the backend's database)."""
    if len(batch):
        await ingest(backend, table).write(backend, batch.otlp_bytes(), len(batch))
