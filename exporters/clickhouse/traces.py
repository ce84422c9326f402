"""Spans into the contrib clickhouseexporter's `otel_traces` table, decoded and mapped by ClickHouse.

Row mapping of contrib's `pushTraceData` (exporter_traces.go, the `batch.Append` era): Timestamp is
the start time, Duration end - start in ns (uint64 arithmetic), ids lower-case hex ('' when empty),
SpanKind / StatusCode as pdata's `String()` ("Server", "Error", ...), ServiceName the resource's
`service.name` (AsString), attribute maps with `Value.AsString()` values, Events and Links as
Nested columns. `otel_traces_trace_id_ts` is filled by its materialized view from these rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporters.clickhouse.any_value_bytes import attributes_map
from exporters.clickhouse.ingest import ContainerFallback, table_ingest
from exporters.clickhouse.otlp_sql import ATTRIBUTES, hex_id

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend
    from collector.pdata import Batch

__all__ = ["SPAN_KINDS", "SPEC", "STATUS_CODES", "ingest", "select", "write"]

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
"""ptrace.SpanKind.String() by enum value (unknown values: '')."""
STATUS_CODES = ("Unset", "Ok", "Error")
"""ptrace.StatusCode.String() by enum value (unknown values: '')."""

SPEC = {
    "resource_spans": {
        "resource": {"attributes": ATTRIBUTES},
        "scope_spans": {
            "scope": {"name": None, "version": None},
            "spans": {
                "trace_id": None,
                "span_id": None,
                "trace_state": None,
                "parent_span_id": None,
                "name": None,
                "kind": None,
                "start_time_unix_nano": None,
                "end_time_unix_nano": None,
                "attributes": ATTRIBUTES,
                "events": {"time_unix_nano": None, "name": None, "attributes": ATTRIBUTES},
                "links": {"trace_id": None, "span_id": None, "trace_state": None, "attributes": ATTRIBUTES},
                "status": {"message": None, "code": None},
            },
        },
    }
}


def _enum_name(expr: str, names: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{name}'" for name in names)
    return f"if({expr} >= 0 AND {expr} < {len(names)}, [{listed}][{expr} + 1], '')"


def _time(expr: str) -> str:
    """A uint64 ns timestamp as DateTime64(9), wrapping as Go's time.Unix(0, int64(ts)) does."""
    return f"fromUnixTimestamp64Nano(reinterpretAsInt64({expr}))"


def select(source: str, columns: frozenset[str] = frozenset(), containers: bool = True) -> str:
    """The view's SELECT from the Null table `source` into otel_traces' columns (see ContainerFallback)."""

    def attributes(expr: str) -> str:
        return attributes_map(expr, containers)

    return f"""SELECT
    {_time("s.start_time_unix_nano")} AS Timestamp,
    {hex_id("s.trace_id", 16)} AS TraceId,
    {hex_id("s.span_id", 8)} AS SpanId,
    {hex_id("s.parent_span_id", 8)} AS ParentSpanId,
    s.trace_state AS TraceState,
    s.name AS SpanName,
    {_enum_name("s.kind", SPAN_KINDS)} AS SpanKind,
    ifNull(resource_attributes['service.name'], '') AS ServiceName,
    resource_attributes AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    {attributes("s.attributes")} AS SpanAttributes,
    reinterpretAsUInt64(s.end_time_unix_nano - s.start_time_unix_nano) AS Duration,
    {_enum_name("s.status.code", STATUS_CODES)} AS StatusCode,
    s.status.message AS StatusMessage,
    arrayMap(e -> {_time("e.time_unix_nano")}, s.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, s.events) AS `Events.Name`,
    arrayMap(e -> {attributes("e.attributes")}, s.events) AS `Events.Attributes`,
    arrayMap(l -> {hex_id("l.trace_id", 16)}, s.links) AS `Links.TraceId`,
    arrayMap(l -> {hex_id("l.span_id", 8)}, s.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, s.links) AS `Links.TraceState`,
    arrayMap(l -> {attributes("l.attributes")}, s.links) AS `Links.Attributes`
FROM (
    SELECT {attributes("rs.resource.attributes")} AS resource_attributes, rs.scope_spans AS scope_spans
    FROM {source} ARRAY JOIN resource_spans AS rs
)
ARRAY JOIN scope_spans AS ss
ARRAY JOIN ss.spans AS s"""


def ingest(backend: ClickHouseBackend, table: str) -> ContainerFallback:
    """The ingest path into traces table `table` of `backend` (made once, shared by exporters)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return table_ingest(backend, table, ExportTraceServiceRequest.DESCRIPTOR, SPEC, select)


async def write(backend: ClickHouseBackend, table: str, batch: Batch) -> None:
    """Insert the batch's spans into `table` (a bare name in the backend's database)."""
    if len(batch):
        await ingest(backend, table).write(backend, batch.otlp_bytes(), len(batch))
