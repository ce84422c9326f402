"""Metric points written to the contrib clickhouseexporter's five tables, read back column by column.

Expected rows are computed here from the OTLP request by walking its messages one point at a time,
independently of the columnar code under test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from collector.pdata.arrow_schema import MetricType
from collector.pdata.batch import Batch
from exporters.clickhouse.metrics import MetricsTables, metrics_tables, write
from tests.backend.conftest import backend_config, chdb_folder, clickhouse_backend
from tests.collector.pdata.fixtures import SPAN_ID, TRACE_ID, every_value, metrics_request

__all__ = ["backend_config", "chdb_folder", "clickhouse_backend"]  # the chDB fixtures, used by name

TABLES = MetricsTables()
ZERO_SPAN = "0" * 16
ZERO_TRACE = "0" * 32

# Every column of each table, as selected back (times as Unix nanoseconds to keep their precision).
HEAD = [
    "ResourceAttributes",
    "ResourceSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "ScopeDroppedAttrCount",
    "ScopeSchemaUrl",
    "ServiceName",
    "MetricName",
    "MetricDescription",
    "MetricUnit",
    "Attributes",
    "StartTimeUnix",
    "TimeUnix",
]
EXEMPLARS = [
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
]
COLUMNS = {
    MetricType.GAUGE: [*HEAD, "Value", "Flags", *EXEMPLARS],
    MetricType.SUM: [*HEAD, "Value", "Flags", *EXEMPLARS, "AggregationTemporality", "IsMonotonic"],
    MetricType.HISTOGRAM: [
        *HEAD,
        "Count",
        "Sum",
        "BucketCounts",
        "ExplicitBounds",
        *EXEMPLARS,
        "Flags",
        "Min",
        "Max",
        "AggregationTemporality",
    ],
    MetricType.EXPONENTIAL_HISTOGRAM: [
        *HEAD,
        "Count",
        "Sum",
        "Scale",
        "ZeroCount",
        "PositiveOffset",
        "PositiveBucketCounts",
        "NegativeOffset",
        "NegativeBucketCounts",
        *EXEMPLARS,
        "Flags",
        "Min",
        "Max",
        "AggregationTemporality",
    ],
    MetricType.SUMMARY: [
        *HEAD,
        "Count",
        "Sum",
        "ValueAtQuantiles.Quantile",
        "ValueAtQuantiles.Value",
        "Flags",
    ],
}
_NANOS = {
    "StartTimeUnix": "toUnixTimestamp64Nano(StartTimeUnix)",
    "TimeUnix": "toUnixTimestamp64Nano(TimeUnix)",
    "Exemplars.TimeUnix": "arrayMap(t -> toUnixTimestamp64Nano(t), `Exemplars.TimeUnix`)",
}


async def _read(backend: Any, kind: MetricType) -> list[dict[str, Any]]:
    """Every row of `kind`'s table as a dict of its columns, in a stable order."""
    columns = COLUMNS[kind]
    select = ", ".join(_NANOS.get(c, f"`{c}`") for c in columns)
    rows = await backend.query_rows(f"SELECT {select} FROM {TABLES.name(kind)}")
    out = [dict(zip(columns, row.values() if isinstance(row, dict) else row, strict=True)) for row in rows]
    return sorted(out, key=repr)


async def _table_columns(backend: Any, kind: MetricType) -> list[str]:
    rows = await backend.query_rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position",
        {"t": TABLES.name(kind)},
    )
    return [next(iter(row.values())) if isinstance(row, dict) else row[0] for row in rows]


# -- the reference mapping: one point at a time, straight from the protobuf ------------------------


def _string(kv: KeyValue) -> str:
    """`AsString()` of the simple values the fixtures use (every kind is covered by its own test)."""
    value = kv.value
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    raise AssertionError(f"the reference does not stringify {kind}")


def _map(kvs: Any) -> dict[str, str]:
    return {kv.key: _string(kv) for kv in kvs}


def _number(point: Any) -> float:
    kind = point.WhichOneof("value")
    return float(getattr(point, kind)) if kind else 0.0


def _exemplars(point: Any) -> dict[str, Any]:
    ex = list(point.exemplars)
    return {
        "Exemplars.FilteredAttributes": [_map(e.filtered_attributes) for e in ex],
        "Exemplars.TimeUnix": [e.time_unix_nano for e in ex],
        "Exemplars.Value": [_number(e) for e in ex],
        "Exemplars.SpanId": [e.span_id.hex() or ZERO_SPAN for e in ex],
        "Exemplars.TraceId": [e.trace_id.hex() or ZERO_TRACE for e in ex],
    }


def _expected(request: ExportMetricsServiceRequest, kind: MetricType) -> list[dict[str, Any]]:
    field = {
        MetricType.GAUGE: "gauge",
        MetricType.SUM: "sum",
        MetricType.HISTOGRAM: "histogram",
        MetricType.EXPONENTIAL_HISTOGRAM: "exponential_histogram",
        MetricType.SUMMARY: "summary",
    }[kind]
    rows = []
    for rm in request.resource_metrics:
        resource = _map(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.WhichOneof("data") != field:
                    continue
                data = getattr(metric, field)
                for p in data.data_points:
                    row: dict[str, Any] = {
                        "ResourceAttributes": resource,
                        "ResourceSchemaUrl": rm.schema_url,
                        "ScopeName": sm.scope.name,
                        "ScopeVersion": sm.scope.version,
                        "ScopeAttributes": _map(sm.scope.attributes),
                        "ScopeDroppedAttrCount": sm.scope.dropped_attributes_count,
                        "ScopeSchemaUrl": sm.schema_url,
                        "ServiceName": resource.get("service.name", ""),
                        "MetricName": metric.name,
                        "MetricDescription": metric.description,
                        "MetricUnit": metric.unit,
                        "Attributes": _map(p.attributes),
                        "StartTimeUnix": p.start_time_unix_nano,
                        "TimeUnix": p.time_unix_nano,
                    }
                    if kind in (MetricType.GAUGE, MetricType.SUM):
                        row |= {"Value": _number(p), "Flags": p.flags, **_exemplars(p)}
                    if kind is MetricType.SUM:
                        row |= {
                            "AggregationTemporality": data.aggregation_temporality,
                            "IsMonotonic": data.is_monotonic,
                        }
                    if kind is MetricType.HISTOGRAM:
                        row |= {
                            "Count": p.count,
                            "Sum": p.sum,  # proto3 optional: 0 when absent, as pdata's Sum() gives
                            "BucketCounts": list(p.bucket_counts),
                            "ExplicitBounds": list(p.explicit_bounds),
                        }
                    if kind is MetricType.EXPONENTIAL_HISTOGRAM:
                        row |= {
                            "Count": p.count,
                            "Sum": p.sum,
                            "Scale": p.scale,
                            "ZeroCount": p.zero_count,
                            "PositiveOffset": p.positive.offset,
                            "PositiveBucketCounts": list(p.positive.bucket_counts),
                            "NegativeOffset": p.negative.offset,
                            "NegativeBucketCounts": list(p.negative.bucket_counts),
                        }
                    if kind in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM):
                        row |= {
                            **_exemplars(p),
                            "Flags": p.flags,
                            "Min": p.min,
                            "Max": p.max,
                            "AggregationTemporality": data.aggregation_temporality,
                        }
                    if kind is MetricType.SUMMARY:
                        row |= {
                            "Count": p.count,
                            "Sum": p.sum,
                            "ValueAtQuantiles.Quantile": [q.quantile for q in p.quantile_values],
                            "ValueAtQuantiles.Value": [q.value for q in p.quantile_values],
                            "Flags": p.flags,
                        }
                    rows.append({c: row[c] for c in COLUMNS[kind]})
    return sorted(rows, key=repr)


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(COLUMNS), ids=lambda k: k.name.lower())
async def test_every_column_of_every_table_holds_the_contrib_mapping(
    clickhouse_backend: Any, kind: MetricType
) -> None:
    request = metrics_request()
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    assert await _table_columns(clickhouse_backend, kind) == COLUMNS[kind]
    expected = _expected(request, kind)
    assert expected, "the fixture has points of every type"
    assert await _read(clickhouse_backend, kind) == expected


async def test_the_fixture_spreads_its_points_over_the_five_tables(clickhouse_backend: Any) -> None:
    await write(clickhouse_backend, TABLES, Batch.from_otlp(metrics_request()))
    counts = {kind: len(await _read(clickhouse_backend, kind)) for kind in COLUMNS}
    assert counts == {
        MetricType.GAUGE: 4,
        MetricType.SUM: 3,
        MetricType.HISTOGRAM: 3,
        MetricType.EXPONENTIAL_HISTOGRAM: 2,
        MetricType.SUMMARY: 2,
    }


def _one_metric(**metric: Any) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "svc"
    rm.scope_metrics.add().metrics.add(**metric)
    return request


class _RecordingBackend:
    """Records inserts instead of writing them."""

    def __init__(self) -> None:
        self.inserts: list[tuple[str, int]] = []

    async def insert_arrow(self, table: str, data: Any) -> None:
        self.inserts.append((table, data.num_rows))


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "gauge.empty", "gauge": {}},
        {"name": "sum.empty", "sum": {"aggregation_temporality": 2, "is_monotonic": True}},
        {"name": "histogram.empty", "histogram": {"aggregation_temporality": 1}},
        {"name": "no.data"},
    ],
    ids=["gauge", "sum", "histogram", "no-data"],
)
async def test_a_metric_without_points_inserts_nothing(metric: dict[str, Any]) -> None:
    backend = _RecordingBackend()
    await write(backend, TABLES, Batch.from_otlp(_one_metric(**metric)))  # type: ignore[arg-type]
    assert backend.inserts == []


async def test_an_empty_request_inserts_nothing() -> None:
    backend = _RecordingBackend()
    await write(backend, TABLES, Batch.from_otlp(ExportMetricsServiceRequest()))  # type: ignore[arg-type]
    assert backend.inserts == []


async def test_one_insert_per_table_that_has_points() -> None:
    backend = _RecordingBackend()
    await write(backend, TABLES, Batch.from_otlp(metrics_request()))  # type: ignore[arg-type]
    assert sorted(backend.inserts) == sorted(
        [
            (TABLES.gauge, 4),
            (TABLES.sum, 3),
            (TABLES.histogram, 3),
            (TABLES.exponential_histogram, 2),
            (TABLES.summary, 2),
        ]
    )


async def test_custom_table_names_are_used() -> None:
    backend = _RecordingBackend()
    tables = MetricsTables(gauge="g", sum="s", histogram="h", exponential_histogram="e", summary="q")
    await write(backend, tables, Batch.from_otlp(metrics_request()))  # type: ignore[arg-type]
    assert sorted(name for name, _ in backend.inserts) == ["e", "g", "h", "q", "s"]


async def test_empty_metrics_next_to_points_write_only_the_points(clickhouse_backend: Any) -> None:
    request = _one_metric(name="gauge.empty", gauge={})
    request.resource_metrics[0].scope_metrics[0].metrics.add(name="g", gauge={"data_points": [{"as_int": 5}]})
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    rows = await _read(clickhouse_backend, MetricType.GAUGE)
    assert [(r["MetricName"], r["Value"]) for r in rows] == [("g", 5.0)]


async def test_int_and_double_values_are_both_stored_as_doubles(clickhouse_backend: Any) -> None:
    points = [
        {"time_unix_nano": 1, "as_int": 2**53 + 1},
        {"time_unix_nano": 2, "as_int": -(2**63)},
        {"time_unix_nano": 3, "as_double": -0.125},
        {"time_unix_nano": 4, "as_double": 1e300},
        {"time_unix_nano": 5},  # no value: contrib writes 0
    ]
    request = _one_metric(
        name="s", sum={"aggregation_temporality": 1, "is_monotonic": False, "data_points": points}
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    rows = await _read(clickhouse_backend, MetricType.SUM)
    values = [r["Value"] for r in sorted(rows, key=lambda r: r["TimeUnix"])]
    assert values == [float(2**53 + 1), float(-(2**63)), -0.125, 1e300, 0.0]
    assert values[0] == 9007199254740992.0  # the int rounded to the nearest double, as Go's float64()


async def test_a_histogram_without_sum_min_max_stores_zeros(clickhouse_backend: Any) -> None:
    request = _one_metric(
        name="h",
        histogram={
            "aggregation_temporality": 2,
            "data_points": [{"count": 3, "bucket_counts": [1, 2], "explicit_bounds": [10.0]}],
        },
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, MetricType.HISTOGRAM)
    assert (row["Count"], row["Sum"], row["Min"], row["Max"]) == (3, 0.0, 0.0, 0.0)
    assert (row["BucketCounts"], row["ExplicitBounds"]) == ([1, 2], [10.0])


async def test_exemplars_keep_their_trace_context_as_hex(clickhouse_backend: Any) -> None:
    exemplars = [
        {
            "filtered_attributes": [{"key": "user", "value": {"string_value": "u1"}}],
            "time_unix_nano": 1_700_000_000_123_456_789,
            "as_int": 3,
            "span_id": SPAN_ID,
            "trace_id": TRACE_ID,
        },
        {"time_unix_nano": 5, "as_double": 0.5},
    ]
    request = _one_metric(name="g", gauge={"data_points": [{"as_double": 1.0, "exemplars": exemplars}]})
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, MetricType.GAUGE)
    assert row["Exemplars.SpanId"] == ["0102030405060708", ZERO_SPAN]
    assert row["Exemplars.TraceId"] == ["0102030405060708090a0b0c0d0e0f10", ZERO_TRACE]
    assert row["Exemplars.TimeUnix"] == [1_700_000_000_123_456_789, 5]
    assert row["Exemplars.Value"] == [3.0, 0.5]
    assert row["Exemplars.FilteredAttributes"] == [{"user": "u1"}, {}]


async def test_attribute_values_of_every_kind_are_stringified_like_pdata(clickhouse_backend: Any) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    request.resource_metrics[0].resource.attributes.extend(every_value())
    request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].attributes.extend(
        every_value()
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, MetricType.GAUGE)
    expected = {
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
        "nested": '[1,{"empty":null,"inner":["deep"]},null]',
        "empty_value": "",
        "unset_value": "",
    }
    assert row["Attributes"] == expected
    assert row["ResourceAttributes"] == {"service.name": "svc", **expected}
    assert row["ServiceName"] == "svc"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-0.0, "-0"),
        (1e20, "100000000000000000000"),
        (2.0**53, "9007199254740992"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (-2.5e-300, "-2.5e-300"),
        (float("nan"), "json: unsupported value: NaN"),
        (float("inf"), "json: unsupported value: +Inf"),
        (float("-inf"), "json: unsupported value: -Inf"),
    ],
)
def test_double_attributes_are_formatted_like_go(value: float, text: str) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    point.attributes.add(key="d").value.double_value = value
    rows = metrics_tables(Batch.from_otlp(request).arrow())[MetricType.GAUGE]
    assert rows.column("Attributes").to_pylist() == [[("d", text)]]


def test_a_service_name_of_another_type_is_stringified() -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    resource = request.resource_metrics[0].resource
    del resource.attributes[:]
    resource.attributes.add(key="service.name").value.int_value = 42
    rows = metrics_tables(Batch.from_otlp(request).arrow())[MetricType.GAUGE]
    assert rows.column("ServiceName").to_pylist() == ["42"]


def _many_points(n: int) -> ExportMetricsServiceRequest:
    """`n` points over 10 resources: gauges, sums and histograms with a few attributes each."""
    request = ExportMetricsServiceRequest()
    per_metric = 10
    metrics = n // per_metric
    for r in range(10):
        rm = request.resource_metrics.add()
        for key, value in [
            ("service.name", f"svc{r}"),
            ("host.name", "h"),
            ("k8s.pod.name", "p"),
            ("region", "eu"),
        ]:
            rm.resource.attributes.add(key=key).value.string_value = value
        sm = rm.scope_metrics.add()
        sm.scope.name = "meter"
        for m in range(r * metrics // 10, (r + 1) * metrics // 10):
            metric = sm.metrics.add(name=f"m{m}")
            for p in range(per_metric):
                attrs = [
                    {"key": "route", "value": {"string_value": f"/r{p}"}},
                    {"key": "code", "value": {"int_value": 200}},
                ]
                t = 1_700_000_000_000_000_000 + p
                if m % 3 == 0:
                    metric.gauge.data_points.add(attributes=attrs, time_unix_nano=t, as_double=p * 1.5)
                elif m % 3 == 1:
                    metric.sum.aggregation_temporality = 2
                    metric.sum.data_points.add(attributes=attrs, time_unix_nano=t, as_int=p)
                else:
                    metric.histogram.aggregation_temporality = 2
                    metric.histogram.data_points.add(
                        attributes=attrs,
                        time_unix_nano=t,
                        count=10,
                        sum=5.0,
                        bucket_counts=[1, 2, 3, 4],
                        explicit_bounds=[1.0, 2.0, 3.0],
                    )
    return request


async def test_ten_thousand_points_are_written(clickhouse_backend: Any) -> None:
    request = _many_points(10_000)
    batch = Batch.from_otlp(request)
    assert len(batch) == 10_000
    table = batch.arrow()  # the Batch's own conversion, not this exporter's work
    start = time.perf_counter()
    tables = metrics_tables(table)
    converted = time.perf_counter()
    await write(clickhouse_backend, TABLES, Batch.from_arrow(batch.signal, table))
    done = time.perf_counter()
    rows = sum(t.num_rows for t in tables.values())
    print(
        f"\n10,000 metric points: conversion {1e3 * (converted - start):.1f} ms, "
        f"conversion + insert {1e3 * (done - converted):.1f} ms "
        f"({10_000 / (done - converted):,.0f} points/s)"
    )
    assert rows == 10_000
    stored = 0
    for kind in COLUMNS:
        (row,) = await clickhouse_backend.query_rows(f"SELECT count() FROM {TABLES.name(kind)}")
        stored += next(iter(row.values())) if isinstance(row, dict) else row[0]
    assert stored == 10_000
