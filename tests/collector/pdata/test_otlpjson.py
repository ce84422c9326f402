"""OTLP/JSON codec: the spec's deviations from proto3 JSON, leniency on input, errors with paths."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.pdata import MalformedData
from collector.pdata.otlpjson import MAX_VALUE_NESTING, decode, encode
from collector.signal import Signal
from tests.collector.pdata import fixtures

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"

FIXTURES: list[tuple[Signal, Callable[[], Message]]] = [
    (Signal.TRACES, fixtures.traces_request),
    (Signal.LOGS, fixtures.logs_request),
    (Signal.METRICS, fixtures.metrics_request),
]


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()  # not orjson: it refuses integers beyond 64 bits


def _span_json(**fields: Any) -> bytes:
    """A traces request around one span made of `fields`."""
    return _json({"resourceSpans": [{"scopeSpans": [{"spans": [fields]}]}]})


def _one_span(**fields: Any) -> Any:
    request = decode(Signal.TRACES, _span_json(**fields))
    return request.resource_spans[0].scope_spans[0].spans[0]


def _attribute_value(value: Any) -> AnyValue:
    """The AnyValue decoded from the JSON `value` of a span attribute."""
    span = _one_span(attributes=[{"key": "a", "value": value}])
    result: AnyValue = span.attributes[0].value
    return result


def _same(a: Message, b: Message) -> bool:
    """Equal field by field, presence included."""
    same: bool = a == b
    return same and a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


# --- the spec's examples (opentelemetry-proto examples/*.json, written out here) ----------------------


def test_traces_example_decodes_to_the_exact_message() -> None:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "my.library",
                            "version": "1.0.0",
                            "attributes": [
                                {
                                    "key": "my.scope.attribute",
                                    "value": {"stringValue": "some scope attribute"},
                                }
                            ],
                        },
                        "spans": [
                            {
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "parentSpanId": PARENT_HEX,
                                "flags": 257,
                                "name": "I'm a server span",
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "kind": 2,
                                "attributes": [
                                    {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                    {"key": "retries", "value": {"intValue": "3"}},
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "1544712660500000000",
                                        "name": "exception",
                                        "attributes": [
                                            {"key": "exception.type", "value": {"stringValue": "E"}}
                                        ],
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": TRACE_HEX.upper(),
                                        "spanId": PARENT_HEX,
                                        "traceState": "a=b",
                                        "flags": 769,
                                    }
                                ],
                                "droppedLinksCount": 2,
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                        "schemaUrl": "https://opentelemetry.io/schemas/1.24.0",
                    }
                ],
            }
        ]
    }
    expected = ExportTraceServiceRequest()
    rs = expected.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="my.service"))
    ss = rs.scope_spans.add(schema_url="https://opentelemetry.io/schemas/1.24.0")
    ss.scope.name = "my.library"
    ss.scope.version = "1.0.0"
    ss.scope.attributes.add(key="my.scope.attribute", value=AnyValue(string_value="some scope attribute"))
    span = ss.spans.add(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(SPAN_HEX),
        parent_span_id=bytes.fromhex(PARENT_HEX),
        flags=257,
        name="I'm a server span",
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        kind=2,
        dropped_links_count=2,
    )
    span.attributes.add(key="my.span.attr", value=AnyValue(string_value="some value"))
    span.attributes.add(key="retries", value=AnyValue(int_value=3))
    event = span.events.add(time_unix_nano=1544712660500000000, name="exception")
    event.attributes.add(key="exception.type", value=AnyValue(string_value="E"))
    span.links.add(
        trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(PARENT_HEX), trace_state="a=b", flags=769
    )
    span.status.code = 2
    span.status.message = "boom"

    decoded = decode(Signal.TRACES, _json(document))
    assert isinstance(decoded, ExportTraceServiceRequest)
    assert _same(decoded, expected)
    assert decoded.resource_spans[0].scope_spans[0].spans[0].trace_id.hex() == TRACE_HEX


def test_logs_example_decodes_to_the_exact_message() -> None:
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "my.library", "version": "1.0.0"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "observedTimeUnixNano": "1544712660300000001",
                                "severityNumber": 10,
                                "severityText": "Information",
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "flags": 1,
                                "eventName": "app.start",
                                "body": {"stringValue": "Example log record"},
                                "attributes": [
                                    {"key": "string.attribute", "value": {"stringValue": "some string"}},
                                    {"key": "boolean.attribute", "value": {"boolValue": True}},
                                    {"key": "int.attribute", "value": {"intValue": "10"}},
                                    {"key": "double.attribute", "value": {"doubleValue": 637.704}},
                                    {
                                        "key": "array.attribute",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"stringValue": "many"}, {"stringValue": "values"}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "map.attribute",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [
                                                    {"key": "some.map.key", "value": {"stringValue": "v"}}
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "droppedAttributesCount": 1,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    expected = ExportLogsServiceRequest()
    rl = expected.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc"))
    sl = rl.scope_logs.add()
    sl.scope.name = "my.library"
    sl.scope.version = "1.0.0"
    record = sl.log_records.add(
        time_unix_nano=1544712660300000000,
        observed_time_unix_nano=1544712660300000001,
        severity_number=10,
        severity_text="Information",
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(SPAN_HEX),
        flags=1,
        event_name="app.start",
        dropped_attributes_count=1,
    )
    record.body.string_value = "Example log record"
    record.attributes.add(key="string.attribute", value=AnyValue(string_value="some string"))
    record.attributes.add(key="boolean.attribute", value=AnyValue(bool_value=True))
    record.attributes.add(key="int.attribute", value=AnyValue(int_value=10))
    record.attributes.add(key="double.attribute", value=AnyValue(double_value=637.704))
    array = record.attributes.add(key="array.attribute").value.array_value
    array.values.add(string_value="many")
    array.values.add(string_value="values")
    kvlist = record.attributes.add(key="map.attribute").value.kvlist_value
    kvlist.values.add(key="some.map.key", value=AnyValue(string_value="v"))

    assert _same(decode(Signal.LOGS, _json(document)), expected)


def test_metrics_example_decodes_to_the_exact_message() -> None:
    attrs = [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}]
    document = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeMetrics": [
                    {
                        "scope": {"name": "my.library", "version": "1.0.0"},
                        "metrics": [
                            {
                                "name": "my.counter",
                                "unit": "1",
                                "description": "I am a Counter",
                                "sum": {
                                    "aggregationTemporality": 1,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asDouble": 5,
                                            "startTimeUnixNano": "1544712660300000000",
                                            "timeUnixNano": "1544712660300000000",
                                            "attributes": attrs,
                                        }
                                    ],
                                },
                            },
                            {
                                "name": "my.gauge",
                                "gauge": {
                                    "dataPoints": [
                                        {"asInt": "-7", "timeUnixNano": 1544712660300000000},
                                        {
                                            "asDouble": 0,
                                            "exemplars": [
                                                {
                                                    "timeUnixNano": "3",
                                                    "asDouble": 0.5,
                                                    "traceId": TRACE_HEX,
                                                    "spanId": SPAN_HEX,
                                                    "filteredAttributes": attrs,
                                                }
                                            ],
                                        },
                                    ]
                                },
                            },
                            {
                                "name": "my.histogram",
                                "unit": "ms",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            "startTimeUnixNano": "1544712660300000000",
                                            "timeUnixNano": "1544712660300000000",
                                            "count": "2",
                                            "sum": 2,
                                            "bucketCounts": ["1", 1],
                                            "explicitBounds": [1],
                                            "min": 0,
                                            "max": 1.5,
                                            "attributes": attrs,
                                        },
                                        {"count": 0},
                                    ],
                                },
                            },
                            {
                                "name": "my.exponential",
                                "exponentialHistogram": {
                                    "aggregationTemporality": 1,
                                    "dataPoints": [
                                        {
                                            "count": "3",
                                            "sum": 10.5,
                                            "scale": -1,
                                            "zeroCount": "1",
                                            "zeroThreshold": 1e-9,
                                            "positive": {"offset": -2, "bucketCounts": ["1", "1"]},
                                            "negative": {},
                                        }
                                    ],
                                },
                            },
                            {
                                "name": "my.summary",
                                "summary": {
                                    "dataPoints": [
                                        {
                                            "count": "4",
                                            "sum": 10,
                                            "quantileValues": [
                                                {"quantile": 0.5, "value": 2},
                                                {"quantile": 1, "value": 4},
                                            ],
                                        }
                                    ]
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }
    expected = ExportMetricsServiceRequest()
    rm = expected.resource_metrics.add()
    rm.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc"))
    sm = rm.scope_metrics.add()
    sm.scope.name = "my.library"
    sm.scope.version = "1.0.0"
    attr = KeyValue(key="my.counter.attr", value=AnyValue(string_value="some value"))

    counter = sm.metrics.add(name="my.counter", unit="1", description="I am a Counter")
    counter.sum.aggregation_temporality = 1
    counter.sum.is_monotonic = True
    point = counter.sum.data_points.add(
        as_double=5.0, start_time_unix_nano=1544712660300000000, time_unix_nano=1544712660300000000
    )
    point.attributes.append(attr)

    gauge = sm.metrics.add(name="my.gauge").gauge
    gauge.data_points.add(as_int=-7, time_unix_nano=1544712660300000000)
    zero = gauge.data_points.add(as_double=0.0)
    exemplar = zero.exemplars.add(
        time_unix_nano=3, as_double=0.5, trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(SPAN_HEX)
    )
    exemplar.filtered_attributes.append(attr)

    histogram = sm.metrics.add(name="my.histogram", unit="ms").histogram
    histogram.aggregation_temporality = 2
    hp = histogram.data_points.add(
        start_time_unix_nano=1544712660300000000,
        time_unix_nano=1544712660300000000,
        count=2,
        sum=2.0,
        bucket_counts=[1, 1],
        explicit_bounds=[1.0],
        min=0.0,
        max=1.5,
    )
    hp.attributes.append(attr)
    histogram.data_points.add(count=0)

    exponential = sm.metrics.add(name="my.exponential").exponential_histogram
    exponential.aggregation_temporality = 1
    ep = exponential.data_points.add(count=3, sum=10.5, scale=-1, zero_count=1, zero_threshold=1e-9)
    ep.positive.offset = -2
    ep.positive.bucket_counts.extend([1, 1])
    ep.negative.SetInParent()

    summary = sm.metrics.add(name="my.summary").summary
    sp = summary.data_points.add(count=4, sum=10.0)
    sp.quantile_values.add(quantile=0.5, value=2.0)
    sp.quantile_values.add(quantile=1.0, value=4.0)

    decoded = decode(Signal.METRICS, _json(document))
    assert _same(decoded, expected)
    points = decoded.resource_metrics[0].scope_metrics[0].metrics
    assert points[1].gauge.data_points[1].WhichOneof("value") == "as_double"  # 0 keeps the oneof
    assert points[2].histogram.data_points[0].HasField("min")  # optional 0 keeps presence
    assert not points[2].histogram.data_points[1].HasField("sum")
    assert points[3].exponential_histogram.data_points[0].HasField("negative")


# --- input leniency ------------------------------------------------------------------------------------


def test_ids_in_upper_lower_and_mixed_case() -> None:
    for trace_id, span_id in [
        (TRACE_HEX, SPAN_HEX),
        (TRACE_HEX.upper(), SPAN_HEX.upper()),
        ("5B8eFFf798038103D269b633813fc60C", "EEe19b7ec3C1b174"),
    ]:
        span = _one_span(traceId=trace_id, spanId=span_id, parentSpanId=span_id)
        assert span.trace_id == bytes.fromhex(TRACE_HEX)
        assert span.span_id == span.parent_span_id == bytes.fromhex(SPAN_HEX)


def test_empty_ids_are_empty_bytes() -> None:
    span = _one_span(traceId="", spanId="", parentSpanId="", name="x")
    assert (span.trace_id, span.span_id, span.parent_span_id, span.name) == (b"", b"", b"", "x")


def test_snake_case_keys_decode_like_camel_case() -> None:
    camel = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_HEX,
                                "parentSpanId": PARENT_HEX,
                                "startTimeUnixNano": "5",
                                "droppedAttributesCount": 2,
                                "attributes": [{"key": "k", "value": {"intValue": "1"}}],
                                "events": [{"timeUnixNano": "6", "droppedAttributesCount": 1}],
                            }
                        ],
                        "schemaUrl": "s",
                    }
                ]
            }
        ]
    }
    snake = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_HEX,
                                "parent_span_id": PARENT_HEX,
                                "start_time_unix_nano": "5",
                                "dropped_attributes_count": 2,
                                "attributes": [{"key": "k", "value": {"int_value": "1"}}],
                                "events": [{"time_unix_nano": "6", "dropped_attributes_count": 1}],
                            }
                        ],
                        "schema_url": "s",
                    }
                ]
            }
        ]
    }
    from_camel = decode(Signal.TRACES, _json(camel))
    from_snake = decode(Signal.TRACES, _json(snake))
    assert _same(from_camel, from_snake)
    span = from_snake.resource_spans[0].scope_spans[0].spans[0]
    assert span.start_time_unix_nano == 5
    assert span.dropped_attributes_count == 2
    assert span.attributes[0].value.int_value == 1
    assert span.events[0].time_unix_nano == 6
    assert from_snake.resource_spans[0].scope_spans[0].schema_url == "s"


def test_int64_as_string_or_number() -> None:
    big = 2**64 - 1
    for value in [str(big), big]:
        assert _one_span(endTimeUnixNano=value).end_time_unix_nano == big
    cases: list[tuple[Any, int]] = [("-9223372036854775808", -(2**63)), (-(2**63), -(2**63))]
    cases += [("0", 0), (0, 0), (1e3, 1000), ("007", 7)]
    for value, expected in cases:
        assert _attribute_value({"intValue": value}).int_value == expected
    # 32-bit integers may be strings too, as proto3 JSON allows
    assert _one_span(droppedAttributesCount="7", flags="257").dropped_attributes_count == 7


def test_enum_names_and_numbers() -> None:
    assert _one_span(kind=3).kind == 3
    assert _one_span(kind="SPAN_KIND_SERVER").kind == 2
    assert _one_span(kind=42).kind == 42  # proto3 enums are open
    assert _one_span(status={"code": "STATUS_CODE_ERROR"}).status.code == 2
    logs = decode(
        Signal.LOGS,
        _json(
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "SEVERITY_NUMBER_WARN"}]}]}]}
        ),
    )
    assert logs.resource_logs[0].scope_logs[0].log_records[0].severity_number == 13
    metrics = decode(
        Signal.METRICS,
        _json(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {
                                "metrics": [
                                    {"sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE"}}
                                ]
                            }
                        ]
                    }
                ]
            }
        ),
    )
    assert metrics.resource_metrics[0].scope_metrics[0].metrics[0].sum.aggregation_temporality == 2


def test_unknown_fields_are_ignored_at_every_level() -> None:
    document = {
        "futureTopLevel": {"x": [1, 2, {"y": None}]},
        "resourceSpans": [
            {
                "newThing": 1,
                "resource": {"attributes": [], "futureRefs": [{"type": "host"}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s", "unknown": "u"},
                        "spans": [
                            {
                                "name": "n",
                                "somethingNew": {"nested": [True]},
                                "attributes": [{"key": "k", "value": {"stringValue": "v"}, "extra": 1}],
                                "status": {"code": 1, "detail": "?"},
                            }
                        ],
                    }
                ],
            }
        ],
    }
    expected = ExportTraceServiceRequest()
    ss = expected.resource_spans.add(resource={}).scope_spans.add(scope={"name": "s"})
    ss.spans.add(
        name="n", attributes=[KeyValue(key="k", value=AnyValue(string_value="v"))], status={"code": 1}
    )
    assert _same(decode(Signal.TRACES, _json(document)), expected)


def test_null_is_the_default_value() -> None:
    span = _one_span(name=None, traceId=None, kind=None, attributes=None, status=None)
    assert span == type(span)()


def test_every_any_value_kind() -> None:
    assert _attribute_value({"stringValue": "s"}) == AnyValue(string_value="s")
    assert _attribute_value({"stringValue": ""}).WhichOneof("value") == "string_value"
    assert _attribute_value({"boolValue": False}).WhichOneof("value") == "bool_value"
    assert _attribute_value({"boolValue": True}).bool_value is True
    assert _attribute_value({"intValue": "-5"}).int_value == -5
    assert _attribute_value({"intValue": 12}).int_value == 12
    assert _attribute_value({"doubleValue": 2.5}).double_value == 2.5
    assert _attribute_value({"doubleValue": 3}).double_value == 3.0
    assert _attribute_value({"doubleValue": "1.25"}).double_value == 1.25
    raw = bytes(range(256))
    assert _attribute_value({"bytesValue": base64.b64encode(raw).decode()}).bytes_value == raw
    assert (
        _attribute_value({"bytesValue": base64.urlsafe_b64encode(raw).decode().rstrip("=")}).bytes_value
        == raw
    )
    assert _attribute_value({}) == AnyValue()
    assert _one_span(attributes=[{"key": "unset"}]).attributes[0].HasField("value") is False
    assert _one_span(attributes=[{"key": "empty", "value": {}}]).attributes[0].HasField("value") is True

    nested = _attribute_value(
        {
            "arrayValue": {
                "values": [
                    {"intValue": "1"},
                    {
                        "kvlistValue": {
                            "values": [
                                {
                                    "key": "inner",
                                    "value": {"arrayValue": {"values": [{"stringValue": "deep"}]}},
                                },
                                {"key": "empty"},
                            ]
                        }
                    },
                    {},
                    {"bytesValue": "AP8="},
                    {"arrayValue": {}},
                ]
            }
        }
    )
    values = nested.array_value.values
    assert values[0].int_value == 1
    inner = values[1].kvlist_value.values
    assert inner[0].key == "inner"
    assert inner[0].value.array_value.values[0].string_value == "deep"
    assert inner[1].key == "empty"
    assert not inner[1].HasField("value")
    assert values[2] == AnyValue()
    assert values[3].bytes_value == b"\x00\xff"
    assert values[4].WhichOneof("value") == "array_value"
    assert len(values[4].array_value.values) == 0


def test_nan_and_infinities() -> None:
    assert math.isnan(_attribute_value({"doubleValue": "NaN"}).double_value)
    assert _attribute_value({"doubleValue": "Infinity"}).double_value == math.inf
    assert _attribute_value({"doubleValue": "-Infinity"}).double_value == -math.inf
    metrics = decode(
        Signal.METRICS,
        _json(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {
                                "metrics": [
                                    {
                                        "histogram": {
                                            "dataPoints": [
                                                {
                                                    "sum": "NaN",
                                                    "min": "-Infinity",
                                                    "max": "Infinity",
                                                    "explicitBounds": [0, "Infinity"],
                                                }
                                            ]
                                        }
                                    }
                                ]
                            }
                        ]
                    }
                ]
            }
        ),
    )
    point = metrics.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    assert math.isnan(point.sum)
    assert (point.min, point.max) == (-math.inf, math.inf)
    assert list(point.explicit_bounds) == [0.0, math.inf]
    encoded = orjson.loads(encode(metrics))
    out = encoded["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
    assert out == {"sum": "NaN", "min": "-Infinity", "max": "Infinity", "explicitBounds": [0.0, "Infinity"]}


def test_str_and_bytes_input() -> None:
    text = _span_json(name="ü").decode()
    assert decode(Signal.TRACES, text) == decode(Signal.TRACES, text.encode())
    assert _same(decode(Signal.LOGS, "{}"), ExportLogsServiceRequest())


# --- encoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("signal", "build"), FIXTURES, ids=[s for s, _ in FIXTURES])
def test_round_trip_of_rich_requests(signal: Signal, build: Callable[[], Message]) -> None:
    request = build()
    decoded = decode(signal, encode(request))
    assert type(decoded) is type(request)
    assert _same(decoded, request)


def _reference(request: Message) -> Any:
    """protobuf's own JSON mapping of `request`, with OTLP's hex ids in place of base64."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    node[key] = base64.b64decode(value).hex()
                else:
                    fix(value)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(document)
    return document


@pytest.mark.parametrize(("signal", "build"), FIXTURES, ids=[s for s, _ in FIXTURES])
def test_encoding_is_protobuf_json_with_hex_ids(signal: Signal, build: Callable[[], Message]) -> None:
    """Same names, int64 strings, omitted defaults and integer enums as json_format, but hex ids."""
    request = build()
    assert orjson.loads(encode(request)) == _reference(request)
    # and decode reads protobuf's mapping (once the ids are hex) back to the same request
    assert _same(decode(signal, _json(_reference(request))), request)


def test_encoded_traces_have_hex_ids_string_int64s_and_integer_enums() -> None:
    document = orjson.loads(encode(fixtures.traces_request()))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    first, second = spans[0], spans[2]
    assert first["traceId"] == fixtures.TRACE_ID.hex()
    assert first["spanId"] == "0101010101010101"
    assert "parentSpanId" not in first  # empty bytes: the default, omitted
    assert "kind" not in first  # 0: the default, omitted
    assert second["kind"] == 2
    assert second["parentSpanId"] == fixtures.SPAN_ID.hex()
    assert second["startTimeUnixNano"] == "1700000000000000002"
    assert spans[5]["endTimeUnixNano"] == str(2**64 - 1)
    assert second["status"] == {"code": 2, "message": "boom"}
    assert second["links"][0]["traceId"] == bytes(range(16, 32)).hex()
    assert second["links"][0]["flags"] == 0x301
    attributes = {kv["key"]: kv.get("value") for kv in first["attributes"]}
    assert attributes["int"] == {"intValue": str(-(2**63))}
    assert attributes["zero"] == {"intValue": "0"}
    assert attributes["bytes"] == {"bytesValue": "AP8="}
    assert attributes["empty_str"] == {"stringValue": ""}
    assert attributes["empty_value"] == {}
    assert attributes["unset_value"] is None
    assert first["events"][0] == {
        "timeUnixNano": "5",
        "name": "exception",
        "attributes": [{"key": "exception.type", "value": {"stringValue": "E"}}],
        "droppedAttributesCount": 1,
    }


def test_encoded_metrics_keep_optional_presence_and_uint64_lists_as_strings() -> None:
    document = orjson.loads(encode(fixtures.metrics_request()))
    metrics = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    histogram = metrics[3]["histogram"]
    assert histogram["aggregationTemporality"] == 2
    points = histogram["dataPoints"]
    assert points[0]["bucketCounts"] == ["1", "2", "3"]
    assert points[0]["count"] == "6"
    assert "sum" not in points[1]
    assert points[2]["sum"] == 0.0
    assert points[2]["min"] == 0.0
    assert metrics[4] == {"name": "gauge.empty", "gauge": {}}
    assert metrics[0]["gauge"]["dataPoints"][0]["exemplars"][0]["spanId"] == fixtures.SPAN_ID.hex()


def test_encode_of_an_empty_request() -> None:
    assert encode(ExportTraceServiceRequest()) == b"{}"


# --- malformed input ----------------------------------------------------------------------------------


def _error(signal: Signal, data: bytes | str) -> str:
    with pytest.raises(MalformedData) as caught:
        decode(signal, data)
    return str(caught.value)


def test_not_json() -> None:
    assert "not JSON" in _error(Signal.TRACES, b'{"resourceSpans": [')
    assert "not JSON" in _error(Signal.TRACES, b"\xff\xfe")
    assert "not JSON" in _error(Signal.LOGS, "")


def test_not_an_object() -> None:
    assert _error(Signal.TRACES, b"[]") == "an OTLP/JSON traces request is a JSON object, not an array"
    assert "not null" in _error(Signal.METRICS, b"null")
    assert "not 5" in _error(Signal.LOGS, b"5")


def test_bad_hex_ids_name_the_field_and_its_path() -> None:
    spans = [{"name": str(i), "traceId": TRACE_HEX} for i in range(3)] + [{"traceId": "xyz"}]
    data = _json({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    assert (
        _error(Signal.TRACES, data)
        == "resourceSpans[0].scopeSpans[0].spans[3].traceId: 'xyz' is not 32 hex digits"
    )
    for bad in [
        TRACE_HEX[:-2],
        TRACE_HEX + "00",
        "g" * 32,
        " " + TRACE_HEX[1:],
        base64.b64encode(b"x" * 16).decode(),
    ]:
        assert "traceId: " in _error(Signal.TRACES, _span_json(traceId=bad))
    assert "spans[0].spanId: '0102' is not 16 hex digits" in _error(Signal.TRACES, _span_json(spanId="0102"))
    message = _error(Signal.TRACES, _span_json(links=[{}, {"spanId": 5}]))
    assert message == "resourceSpans[0].scopeSpans[0].spans[0].links[1].spanId: 5 is not 16 hex digits"


def test_wrong_types_name_the_field_and_its_path() -> None:
    prefix = "resourceSpans[0].scopeSpans[0].spans[0]"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": 5}, f"{prefix}.name: 5 is not a string"),
        ({"name": {}}, f"{prefix}.name: an object is not a string"),
        ({"startTimeUnixNano": "soon"}, f"{prefix}.startTimeUnixNano: 'soon' is not a uint64"),
        ({"startTimeUnixNano": "1_000"}, f"{prefix}.startTimeUnixNano: '1_000' is not a uint64"),
        ({"startTimeUnixNano": " 1"}, f"{prefix}.startTimeUnixNano: ' 1' is not a uint64"),
        ({"startTimeUnixNano": 1.5}, f"{prefix}.startTimeUnixNano: 1.5 is not a uint64"),
        ({"startTimeUnixNano": True}, f"{prefix}.startTimeUnixNano: true is not a uint64"),
        ({"kind": "SERVER"}, f"{prefix}.kind: 'SERVER' is not a SpanKind (an integer or a value name)"),
        ({"attributes": {}}, f"{prefix}.attributes: an object is not an array"),
        ({"attributes": [{"key": "a"}, 7]}, f"{prefix}.attributes[1]: 7 is not an object"),
        (
            {"attributes": [{"key": "a", "value": {"intValue": "x"}}]},
            f"{prefix}.attributes[0].value.intValue: 'x' is not an int64",
        ),
        (
            {"attributes": [{"key": "a", "value": {"boolValue": "true"}}]},
            f"{prefix}.attributes[0].value.boolValue: 'true' is not a boolean",
        ),
        (
            {"attributes": [{"key": "a", "value": {"doubleValue": "inf"}}]},
            f"{prefix}.attributes[0].value.doubleValue: 'inf' is not a number",
        ),
        (
            {"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]},
            f"{prefix}.attributes[0].value.bytesValue: '!!' is not base64",
        ),
        (
            {"events": [{"attributes": [{"key": 1, "value": {"stringValue": "v"}}]}]},
            f"{prefix}.events[0].attributes[0].key: 1 is not a string",
        ),
        (
            {
                "attributes": [
                    {
                        "key": "a",
                        "value": {
                            "kvlistValue": {
                                "values": [
                                    {"key": "b", "value": {"arrayValue": {"values": [{"intValue": []}]}}}
                                ]
                            }
                        },
                    }
                ]
            },
            f"{prefix}.attributes[0].value.kvlistValue.values[0].value.arrayValue.values[0].intValue: "
            "an array is not an int64",
        ),
    ]
    for span, message in cases:
        assert _error(Signal.TRACES, _span_json(**span)) == message
    assert _error(Signal.TRACES, b'{"resourceSpans": {}}') == "resourceSpans: an object is not an array"


def test_integers_out_of_range_name_the_field() -> None:
    prefix = "resourceSpans[0].scopeSpans[0].spans[0]"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"startTimeUnixNano": 2**64}, "startTimeUnixNano: 1.8446744073709552e+19 is not a uint64"),
        ({"startTimeUnixNano": "18446744073709551616"}, "is not a uint64"),
        ({"startTimeUnixNano": -1}, "startTimeUnixNano: -1 is not a uint64"),
        ({"droppedAttributesCount": -1}, "droppedAttributesCount: -1 is not a uint32"),
        ({"flags": 2**32}, "flags: 4294967296 is not a uint32"),
        ({"kind": 2**31}, "kind: 2147483648 is not a SpanKind"),
        (
            {"attributes": [{"key": "a", "value": {"intValue": 2**63}}]},
            "intValue: 9223372036854775808 is not an int64",
        ),
    ]
    for span, message in cases:
        error = _error(Signal.TRACES, _span_json(**span))
        assert error.startswith(prefix), error
        assert message in error, error


def test_errors_in_metrics_and_logs_carry_their_paths() -> None:
    metrics = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "ok"},
                            {"histogram": {"dataPoints": [{"bucketCounts": ["1", "x"]}]}},
                        ]
                    }
                ]
            }
        ]
    }
    assert (
        _error(Signal.METRICS, _json(metrics))
        == "resourceMetrics[0].scopeMetrics[0].metrics[1].histogram.dataPoints[0].bucketCounts[1]: "
        "'x' is not a uint64"
    )
    exemplar = {
        "resourceMetrics": [
            {"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"exemplars": [{"traceId": "ab"}]}]}}]}]}
        ]
    }
    assert "gauge.dataPoints[0].exemplars[0].traceId: 'ab' is not 32 hex digits" in _error(
        Signal.METRICS, _json(exemplar)
    )
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": 1}}]}]}]}
    assert (
        _error(Signal.LOGS, _json(logs))
        == "resourceLogs[0].scopeLogs[0].logRecords[0].body.stringValue: 1 is not a string"
    )


def _nested_log(depth: int, container: str = "arrayValue") -> str:
    """A logs request whose body nests `depth` containers."""
    if container == "arrayValue":
        opening, closing = '{"arrayValue":{"values":[', "]}}"
    else:
        opening, closing = '{"kvlistValue":{"values":[{"key":"k","value":', "}]}}"
    body = opening * depth + '{"intValue":"1"}' + closing * depth
    return '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + body + "}]}]}]}"


@pytest.mark.parametrize("container", ["arrayValue", "kvlistValue"])
def test_values_nest_as_deep_as_binary_protobuf_allows(container: str) -> None:
    request = decode(Signal.LOGS, _nested_log(MAX_VALUE_NESTING, container))
    assert type(request).FromString(request.SerializeToString()) == request  # upb's depth limit holds
    message = _error(Signal.LOGS, _nested_log(MAX_VALUE_NESTING + 1, container))
    assert message.startswith(f"resourceLogs[0].scopeLogs[0].logRecords[0].body.{container}.values[0].")
    assert message.endswith(f": values nested more than {MAX_VALUE_NESTING} deep")


def test_very_deep_nesting_is_malformed_not_a_crash() -> None:
    for depth in (300, 400):  # within orjson's nesting limit (1024 levels), and past it
        with pytest.raises(MalformedData):
            decode(Signal.LOGS, _nested_log(depth))


def test_malformed_data_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        decode(Signal.TRACES, b"nope")
