"""Rich OTLP requests exercising every field the Arrow layout must carry."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACE_ID = bytes(range(1, 17))
SPAN_ID = bytes(range(1, 9))
OTHER_SPAN_ID = bytes(range(11, 19))


def _any(**value: Any) -> AnyValue:
    """An AnyValue from nested dicts (protobuf accepts them; the stubs only know messages)."""
    return AnyValue(**value)


def nested_value() -> AnyValue:
    """An array holding a kvlist holding an array: nesting of every container kind."""
    return _any(
        array_value={
            "values": [
                {"int_value": 1},
                {
                    "kvlist_value": {
                        "values": [
                            {
                                "key": "inner",
                                "value": {"array_value": {"values": [{"string_value": "deep"}]}},
                            },
                            {"key": "empty"},
                        ]
                    }
                },
                {},
            ]
        }
    )


def every_value() -> list[KeyValue]:
    """One attribute of every AnyValue kind, including empty and unset values."""
    return [
        KeyValue(key="str", value=AnyValue(string_value="text")),
        KeyValue(key="empty_str", value=AnyValue(string_value="")),
        KeyValue(key="bool", value=AnyValue(bool_value=True)),
        KeyValue(key="false", value=AnyValue(bool_value=False)),
        KeyValue(key="int", value=AnyValue(int_value=-(2**63))),
        KeyValue(key="zero", value=AnyValue(int_value=0)),
        KeyValue(key="double", value=AnyValue(double_value=3.5)),
        KeyValue(key="bytes", value=AnyValue(bytes_value=b"\x00\xff")),
        KeyValue(
            key="array", value=_any(array_value={"values": [{"string_value": "a"}, {"bool_value": False}]})
        ),
        KeyValue(
            key="kvlist", value=_any(kvlist_value={"values": [{"key": "k", "value": {"double_value": 1.0}}]})
        ),
        KeyValue(key="nested", value=nested_value()),
        KeyValue(key="empty_value", value=AnyValue()),
        KeyValue(key="unset_value"),
    ]


def _resource(name: str, dropped: int = 0) -> dict[str, Any]:
    return {
        "attributes": [{"key": "service.name", "value": {"string_value": name}}],
        "dropped_attributes_count": dropped,
    }


def _scope(name: str, version: str = "", dropped: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "attributes": [{"key": "scope.attr", "value": {"int_value": 7}}],
        "dropped_attributes_count": dropped,
    }


def traces_request() -> ExportTraceServiceRequest:
    """Two resources, three scopes (one empty), spans of every kind with events, links and status."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add(resource=_resource("api", dropped=2), schema_url="https://schema/r1")
    ss = rs.scope_spans.add(scope=_scope("lib.a", "1.0", dropped=1), schema_url="https://schema/s1")
    for kind in range(6):
        ss.spans.add(
            trace_id=TRACE_ID,
            span_id=bytes([kind + 1]) * 8,
            trace_state="vendor=1,other=2" if kind % 2 else "",
            parent_span_id=SPAN_ID if kind else b"",
            flags=0x101 if kind == 1 else kind,
            name=f"span-{kind}",
            kind=kind,
            start_time_unix_nano=1_700_000_000_000_000_000 + kind,
            end_time_unix_nano=2**64 - 1 if kind == 5 else 1_700_000_000_100_000_000,
            attributes=every_value()
            if kind == 0
            else [KeyValue(key="k", value=AnyValue(string_value=str(kind)))],
            dropped_attributes_count=kind,
            events=[
                {
                    "time_unix_nano": 5,
                    "name": "exception",
                    "attributes": [{"key": "exception.type", "value": {"string_value": "E"}}],
                    "dropped_attributes_count": 1,
                },
                {"name": "bare"},
            ]
            if kind in (0, 3)
            else [],
            dropped_events_count=kind * 2,
            links=[
                {
                    "trace_id": bytes(range(16, 32)),
                    "span_id": OTHER_SPAN_ID,
                    "trace_state": "a=b",
                    "attributes": [{"key": "link", "value": {"bool_value": True}}],
                    "dropped_attributes_count": 3,
                    "flags": 0x301,
                }
            ]
            if kind == 2
            else [],
            dropped_links_count=kind * 3,
            status={"code": kind % 3, "message": "boom" if kind % 3 == 2 else ""},
        )
    rs.scope_spans.add(scope=_scope("lib.empty"))
    rs2 = request.resource_spans.add(resource=_resource("worker"))
    ss2 = rs2.scope_spans.add(scope={"name": "lib.b"})
    ss2.spans.add(trace_id=TRACE_ID, span_id=SPAN_ID, name="bare")
    ss2.spans.add(name="no ids")
    return request


def logs_request() -> ExportLogsServiceRequest:
    """Log records with bodies of every kind, an unset body, trace context, flags and event names."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add(resource=_resource("api", dropped=1), schema_url="https://schema/r")
    sl = rl.scope_logs.add(scope=_scope("logger", "2.0", dropped=4), schema_url="https://schema/s")
    for i, kv in enumerate(every_value()):
        sl.log_records.add(
            time_unix_nano=1000 + i if i % 2 else 0,
            observed_time_unix_nano=2000 + i,
            severity_number=i % 25,
            severity_text="ERROR" if i % 3 == 0 else "",
            body=kv.value if kv.HasField("value") else None,
            attributes=[{"key": "i", "value": {"int_value": i}}] if i % 2 else [],
            dropped_attributes_count=i,
            flags=1 if i % 2 else 0,
            trace_id=TRACE_ID if i % 2 else b"",
            span_id=SPAN_ID if i % 2 else b"",
            event_name="user.click" if i == 3 else "",
        )
    rl2 = request.resource_logs.add(resource=_resource("worker"))
    rl2.scope_logs.add(scope=_scope("other")).log_records.add(body={"string_value": "second resource"})
    return request


def _exemplars() -> list[dict[str, Any]]:
    return [
        {
            "filtered_attributes": [{"key": "user", "value": {"string_value": "u1"}}],
            "time_unix_nano": 11,
            "as_double": 0.25,
            "span_id": SPAN_ID,
            "trace_id": TRACE_ID,
        },
        {"time_unix_nano": 12, "as_int": -4},
        {"time_unix_nano": 13},
    ]


def metrics_request() -> ExportMetricsServiceRequest:
    """Every metric type, optional histogram fields present and absent, empty metrics, metadata."""
    attrs = [{"key": "host", "value": {"string_value": "h1"}}]
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add(resource=_resource("api", dropped=3), schema_url="https://schema/r")
    sm = rm.scope_metrics.add(scope=_scope("meter", "3.1", dropped=2), schema_url="https://schema/s")
    sm.metrics.add(
        name="gauge.mixed",
        description="a gauge",
        unit="1",
        metadata=[{"key": "meta", "value": {"string_value": "m"}}],
        gauge={
            "data_points": [
                {"attributes": attrs, "time_unix_nano": 10, "as_double": 1.5, "exemplars": _exemplars()},
                {"start_time_unix_nano": 1, "time_unix_nano": 11, "as_int": -7, "flags": 1},
                {"time_unix_nano": 12},
            ]
        },
    )
    sm.metrics.add(
        name="sum.delta",
        unit="By",
        sum={
            "aggregation_temporality": 1,
            "is_monotonic": True,
            "data_points": [
                {"start_time_unix_nano": 1, "time_unix_nano": 2, "as_int": 42, "exemplars": _exemplars()}
            ],
        },
    )
    sm.metrics.add(
        name="sum.cumulative",
        sum={
            "aggregation_temporality": 2,
            "is_monotonic": False,
            "data_points": [{"as_double": 2.0}, {"as_double": 3}],
        },
    )
    sm.metrics.add(
        name="histogram",
        histogram={
            "aggregation_temporality": 2,
            "data_points": [
                {
                    "attributes": attrs,
                    "count": 6,
                    "sum": 12.5,
                    "bucket_counts": [1, 2, 3],
                    "explicit_bounds": [1.0, 5.0],
                    "min": 0.5,
                    "max": 9.0,
                    "exemplars": _exemplars(),
                    "flags": 1,
                },
                {"count": 0, "bucket_counts": [], "explicit_bounds": []},
                {"count": 1, "sum": 0.0, "bucket_counts": [1], "min": 0.0},
            ],
        },
    )
    sm.metrics.add(name="gauge.empty", gauge={})
    sm.metrics.add(name="no.data", description="metric without any data member")
    rm2 = request.resource_metrics.add(resource=_resource("worker"))
    sm2 = rm2.scope_metrics.add(scope=_scope("meter2"))
    sm2.metrics.add(
        name="exponential",
        exponential_histogram={
            "aggregation_temporality": 1,
            "data_points": [
                {
                    "attributes": attrs,
                    "count": 9,
                    "sum": -3.0,
                    "scale": -2,
                    "zero_count": 2,
                    "zero_threshold": 1e-9,
                    "positive": {"offset": -3, "bucket_counts": [1, 2]},
                    "negative": {"offset": 4, "bucket_counts": [3, 0, 1]},
                    "min": -5.0,
                    "max": 4.0,
                    "exemplars": _exemplars(),
                },
                {"count": 0, "scale": 3},
            ],
        },
    )
    sm2.metrics.add(
        name="summary",
        summary={
            "data_points": [
                {
                    "attributes": attrs,
                    "count": 4,
                    "sum": 10.0,
                    "quantile_values": [{"quantile": 0.0, "value": 1.0}, {"quantile": 0.99, "value": 4.0}],
                    "flags": 1,
                },
                {"count": 0},
            ]
        },
    )
    sm2.metrics.add(name="sum.empty", sum={"aggregation_temporality": 1, "is_monotonic": True})
    sm2.metrics.add(name="gauge.after", gauge={"data_points": [{"as_int": 1}]})
    return request


# Item counts of the fixtures above.
TRACES_SPANS = 8
LOGS_RECORDS = 14
METRICS_POINTS = 3 + 1 + 2 + 3 + 2 + 2 + 1
