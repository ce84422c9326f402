"""Spans land in otel_traces exactly as the contrib clickhouseexporter writes them."""

from __future__ import annotations

from typing import Any

from backend.clickhouse.backend import ClickHouseBackend
from collector.pdata import Batch
from collector.signal import Signal
from exporters.clickhouse import traces
from tests.collector.pdata.fixtures import TRACES_SPANS, traces_request
from tests.exporters.clickhouse.expected import as_string, attributes, hex_id, time_ns

KINDS = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
STATUSES = ["Unset", "Ok", "Error"]
COLUMNS = (
    "Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, "
    "ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, "
    "Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, "
    "Links.Attributes"
)


def expected_rows() -> list[tuple[Any, ...]]:
    """Every span's row, computed from the request in Python (not by the SQL under test)."""
    rows = []
    for rs in traces_request().resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                rows.append(
                    (
                        time_ns(s.start_time_unix_nano),
                        hex_id(s.trace_id),
                        hex_id(s.span_id),
                        hex_id(s.parent_span_id),
                        s.trace_state,
                        s.name,
                        KINDS[s.kind],
                        resource["service.name"],
                        resource,
                        ss.scope.name,
                        ss.scope.version,
                        attributes(s.attributes),
                        (s.end_time_unix_nano - s.start_time_unix_nano) % 2**64,
                        STATUSES[s.status.code],
                        s.status.message,
                        [time_ns(e.time_unix_nano) for e in s.events],
                        [e.name for e in s.events],
                        [attributes(e.attributes) for e in s.events],
                        [hex_id(link.trace_id) for link in s.links],
                        [hex_id(link.span_id) for link in s.links],
                        [link.trace_state for link in s.links],
                        [attributes(link.attributes) for link in s.links],
                    )
                )
    return sorted(rows, key=lambda r: r[5])


async def stored_rows(backend: ClickHouseBackend) -> list[tuple[Any, ...]]:
    return await backend.query_rows(f"SELECT {COLUMNS} FROM {backend.table('otel_traces')} ORDER BY SpanName")


async def test_every_column_of_every_span_is_written_as_contrib_writes_it(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(traces_request()))

    rows = await stored_rows(clickhouse_backend)
    assert len(rows) == TRACES_SPANS
    for got, want in zip(rows, expected_rows(), strict=True):
        assert got == want


async def test_attribute_values_of_every_kind_are_stringified_as_pdata_does(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(traces_request()))

    rows = await clickhouse_backend.query_rows(
        f"SELECT SpanAttributes FROM {clickhouse_backend.table('otel_traces')} WHERE SpanName = 'span-0'"
    )
    assert rows[0][0] == {
        "str": "text",
        "empty_str": "",
        "bool": "true",
        "false": "false",
        "int": "-9223372036854775808",
        "zero": "0",
        "double": "3.5",
        "bytes": "AP8=",
        "array": '["a",false]',
        "kvlist": '{"k":1}',
        # A container inside a container is kept as base64 of its protobuf (ANY_VALUE_DEPTH = 2).
        "nested": '[1,"ChMKBWlubmVyEgoqCAoGCgRkZWVwCgcKBWVtcHR5",null]',
        "empty_value": "",
        "unset_value": "",
    }
    first_span = traces_request().resource_spans[0].scope_spans[0].spans[0]
    assert rows[0][0] == {kv.key: as_string(kv.value) for kv in first_span.attributes}


async def test_the_trace_id_lookup_table_gets_each_trace_with_its_time_range(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(traces_request()))

    rows = await clickhouse_backend.query_rows(
        f"SELECT TraceId, min(Start), max(End) FROM {clickhouse_backend.table('otel_traces_trace_id_ts')} "
        "GROUP BY TraceId"
    )
    starts = [
        s.start_time_unix_nano
        for rs in traces_request().resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if s.trace_id
    ]
    assert rows == [("0102030405060708090a0b0c0d0e0f10", time_ns(min(starts)), time_ns(max(starts)))]


async def test_two_batches_are_two_inserts_of_their_own_spans(clickhouse_backend: ClickHouseBackend) -> None:
    data = traces_request().SerializeToString()
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp_bytes(Signal.TRACES, data))
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp_bytes(Signal.TRACES, data))

    rows = await clickhouse_backend.query_rows(
        f"SELECT count() FROM {clickhouse_backend.table('otel_traces')}"
    )
    assert rows == [(2 * TRACES_SPANS,)]


async def test_an_empty_batch_writes_nothing(clickhouse_backend: ClickHouseBackend) -> None:
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp_bytes(Signal.TRACES, b""))

    rows = await clickhouse_backend.query_rows(
        f"SELECT count() FROM {clickhouse_backend.table('otel_traces')}"
    )
    assert rows == [(0,)]


async def test_a_resource_without_a_service_name_gets_an_empty_one(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(
        name="anonymous",
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_time_unix_nano=1,
        end_time_unix_nano=2,
    )
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(request))
    rows = await clickhouse_backend.query_rows(
        f"SELECT SpanName, ServiceName, ResourceAttributes FROM {clickhouse_backend.table('otel_traces')}"
    )
    assert rows == [("anonymous", "", {})]


async def test_non_integral_doubles_inside_containers_are_written_as_go_does(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="doubles")
    doubles = [2.5, -0.1, 1e-5, 1.5e-7, 1e17, 1e21, 123456.789]
    array = span.attributes.add(key="array").value.array_value
    array.values.extend(AnyValue(double_value=d) for d in doubles)
    kvlist = span.attributes.add(key="kvlist").value.kvlist_value
    kvlist.values.add(key="x").value.double_value = 0.5
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(request))

    rows = await clickhouse_backend.query_rows(
        f"SELECT SpanAttributes FROM {clickhouse_backend.table('otel_traces')}"
    )
    assert rows == [
        ({"array": "[2.5,-0.1,0.00001,1.5e-7,100000000000000000,1e+21,123456.789]", "kvlist": '{"x":0.5}'},)
    ]
    assert rows[0][0] == attributes(span.attributes)


async def test_empty_containers_and_containers_holding_nan_are_stringified_as_pdata_does(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="containers")
    span.attributes.add(key="empty_array").value.array_value.SetInParent()
    span.attributes.add(key="empty_kvlist").value.kvlist_value.SetInParent()
    span.attributes.add(key="nan").value.array_value.values.add().double_value = float("nan")
    span.attributes.add(key="inf").value.kvlist_value.values.add(key="x").value.double_value = float("-inf")
    span.attributes.add(key="top_nan").value.double_value = float("nan")
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(request))

    rows = await clickhouse_backend.query_rows(
        f"SELECT SpanAttributes FROM {clickhouse_backend.table('otel_traces')}"
    )
    # json.Marshal fails on NaN / Inf inside a container; AsString ignores the error: "".
    assert rows == [
        (
            {
                "empty_array": "[]",
                "empty_kvlist": "{}",
                "nan": "",
                "inf": "",
                "top_nan": "json: unsupported value: NaN",
            },
        )
    ]
    assert rows[0][0] == attributes(span.attributes)


async def test_a_request_with_a_container_in_its_last_event_writes_every_span_once(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    # More spans than ClickHouse's default block: the cheap ingest's refusal must come before any row.
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for n in range(70_000):
        spans.add(name=f"s{n % 7}", trace_id=n.to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"))
    event = spans[-1].events.add(name="exception")
    event.attributes.add(key="frames").value.array_value.values.add().string_value = "main.go:1"
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(request))

    table = clickhouse_backend.table("otel_traces")
    rows = await clickhouse_backend.query_rows(f"SELECT count(), uniqExact(SpanId) FROM {table}")
    assert rows == [(70_000, 70_000)]
    rows = await clickhouse_backend.query_rows(
        f"SELECT `Events.Attributes` FROM {table} WHERE notEmpty(`Events.Name`)"
    )
    assert rows == [([{"frames": '["main.go:1"]'}],)]
