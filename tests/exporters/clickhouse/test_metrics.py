"""Metric points written to the contrib clickhouseexporter's five tables, read back column by column.

Expected rows are computed here from the OTLP request by walking its messages one point at a time,
independently of the SQL under test (ClickHouse decodes the request and maps it in its views).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.pdata.batch import Batch
from collector.signal import Signal
from exporters.clickhouse.metrics import MetricsTables, write
from tests.backend.conftest import backend_config, chdb_folder, clickhouse_backend
from tests.collector.pdata.fixtures import SPAN_ID, TRACE_ID, every_value, metrics_request
from tests.exporters.clickhouse.expected import attributes

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
    "gauge": [*HEAD, "Value", "Flags", *EXEMPLARS],
    "sum": [*HEAD, "Value", "Flags", *EXEMPLARS, "AggregationTemporality", "IsMonotonic"],
    "histogram": [
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
    "exponential_histogram": [
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
    "summary": [
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


async def _read(backend: Any, kind: str, tables: MetricsTables = TABLES) -> list[dict[str, Any]]:
    """Every row of `kind`'s table as a dict of its columns, in a stable order."""
    columns = COLUMNS[kind]
    select = ", ".join(_NANOS.get(c, f"`{c}`") for c in columns)
    rows = await backend.query_rows(f"SELECT {select} FROM {backend.table(tables.name(kind))}")
    out = [dict(zip(columns, row.values() if isinstance(row, dict) else row, strict=True)) for row in rows]
    return sorted(out, key=repr)


async def _counts(backend: Any, tables: MetricsTables = TABLES) -> dict[str, int]:
    """The number of rows of each table."""
    counts = {}
    for kind in COLUMNS:
        rows = await backend.query_rows(f"SELECT count() FROM {backend.table(tables.name(kind))}")
        counts[kind] = int(str(rows[0][0]))
    return counts


async def _table_columns(backend: Any, kind: str) -> list[str]:
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


def _expected(request: ExportMetricsServiceRequest, kind: str) -> list[dict[str, Any]]:
    field = kind
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
                    if kind in ("gauge", "sum"):
                        row |= {"Value": _number(p), "Flags": p.flags, **_exemplars(p)}
                    if kind == "sum":
                        row |= {
                            "AggregationTemporality": data.aggregation_temporality,
                            "IsMonotonic": data.is_monotonic,
                        }
                    if kind == "histogram":
                        row |= {
                            "Count": p.count,
                            "Sum": p.sum,  # proto3 optional: 0 when absent, as pdata's Sum() gives
                            "BucketCounts": list(p.bucket_counts),
                            "ExplicitBounds": list(p.explicit_bounds),
                        }
                    if kind == "exponential_histogram":
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
                    if kind in ("histogram", "exponential_histogram"):
                        row |= {
                            **_exemplars(p),
                            "Flags": p.flags,
                            "Min": p.min,
                            "Max": p.max,
                            "AggregationTemporality": data.aggregation_temporality,
                        }
                    if kind == "summary":
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


@pytest.mark.parametrize("kind", list(COLUMNS))
async def test_every_column_of_every_table_holds_the_contrib_mapping(
    clickhouse_backend: Any, kind: str
) -> None:
    request = metrics_request()
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    assert await _table_columns(clickhouse_backend, kind) == COLUMNS[kind]
    expected = _expected(request, kind)
    assert expected, "the fixture has points of every type"
    assert await _read(clickhouse_backend, kind) == expected


async def test_one_insert_fills_the_five_tables(
    clickhouse_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserts: list[str] = []
    raw_insert = clickhouse_backend.raw_insert

    async def recording(table: str, data: bytes, fmt: str, **kwargs: Any) -> None:
        inserts.append(table)
        await raw_insert(table, data, fmt, **kwargs)

    monkeypatch.setattr(clickhouse_backend, "raw_insert", recording)
    await write(clickhouse_backend, TABLES, Batch.from_otlp(metrics_request()))
    assert len(inserts) == 1
    assert await _counts(clickhouse_backend) == {
        "gauge": 4,
        "sum": 3,
        "histogram": 3,
        "exponential_histogram": 2,
        "summary": 2,
    }


def _one_metric(**metric: Any) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "svc"
    rm.scope_metrics.add().metrics.add(**metric)
    return request


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "gauge.empty", "gauge": {}},
        {"name": "sum.empty", "sum": {"aggregation_temporality": 2, "is_monotonic": True}},
        {"name": "histogram.empty", "histogram": {"aggregation_temporality": 1}},
        {"name": "exponential.empty", "exponential_histogram": {"aggregation_temporality": 1}},
        {"name": "summary.empty", "summary": {}},
        {"name": "no.data"},
    ],
    ids=["gauge", "sum", "histogram", "exponential_histogram", "summary", "no-data"],
)
async def test_a_metric_without_points_writes_no_row(clickhouse_backend: Any, metric: dict[str, Any]) -> None:
    await write(clickhouse_backend, TABLES, Batch.from_otlp(_one_metric(**metric)))
    assert set((await _counts(clickhouse_backend)).values()) == {0}


class _NoBackend:
    """A backend that must not be used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the backend was used ({name})")


async def test_an_empty_request_inserts_nothing() -> None:
    await write(_NoBackend(), TABLES, Batch.from_otlp(ExportMetricsServiceRequest()))  # type: ignore[arg-type]


async def test_custom_table_names_are_used(clickhouse_backend: Any) -> None:
    tables = MetricsTables(gauge="g", sum="s", histogram="h", exponential_histogram="e", summary="q")
    for kind in COLUMNS:
        await clickhouse_backend.command(
            f"CREATE TABLE {clickhouse_backend.table(tables.name(kind))} "
            f"AS {clickhouse_backend.table(TABLES.name(kind))}"
        )
    request = metrics_request()
    await write(clickhouse_backend, tables, Batch.from_otlp(request))
    assert set((await _counts(clickhouse_backend)).values()) == {0}
    for kind in COLUMNS:
        assert await _read(clickhouse_backend, kind, tables) == _expected(request, kind)


async def test_empty_metrics_next_to_points_write_only_the_points(clickhouse_backend: Any) -> None:
    request = _one_metric(name="gauge.empty", gauge={})
    request.resource_metrics[0].scope_metrics[0].metrics.add(name="g", gauge={"data_points": [{"as_int": 5}]})
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    rows = await _read(clickhouse_backend, "gauge")
    assert [(r["MetricName"], r["Value"]) for r in rows] == [("g", 5.0)]


@pytest.mark.parametrize("kind", ["gauge", "sum"])
async def test_int_and_double_values_are_both_stored_as_doubles(clickhouse_backend: Any, kind: str) -> None:
    points = [
        {"time_unix_nano": 1, "as_int": 2**53 + 1},
        {"time_unix_nano": 2, "as_int": -(2**63)},
        {"time_unix_nano": 3, "as_double": -0.125},
        {"time_unix_nano": 4, "as_double": 1e300},
        {"time_unix_nano": 5},  # no value: contrib writes 0
        {"time_unix_nano": 6, "as_int": 0},
        {"time_unix_nano": 7, "as_double": float("inf")},
    ]
    data: dict[str, Any] = {"data_points": points}
    if kind == "sum":
        data |= {"aggregation_temporality": 1, "is_monotonic": False}
    request = _one_metric(name="m", **{kind: data})
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    rows = await _read(clickhouse_backend, kind)
    values = [r["Value"] for r in sorted(rows, key=lambda r: r["TimeUnix"])]
    assert values == [float(2**53 + 1), float(-(2**63)), -0.125, 1e300, 0.0, 0.0, float("inf")]
    assert values[0] == 9007199254740992.0  # the int rounded to the nearest double, as Go's float64()


async def test_nan_values_and_bounds_are_kept(clickhouse_backend: Any) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_double": float("nan")}]})
    request.resource_metrics[0].scope_metrics[0].metrics.add(
        name="h",
        histogram={
            "data_points": [
                {
                    "count": 1,
                    "sum": float("nan"),
                    "explicit_bounds": [float("-inf"), 0.0],
                    "bucket_counts": [1],
                }
            ]
        },
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    ((value,),) = await clickhouse_backend.query_rows(
        f"SELECT Value FROM {clickhouse_backend.table(TABLES.gauge)}"
    )
    assert math.isnan(value)
    (row,) = await _read(clickhouse_backend, "histogram")
    assert math.isnan(row["Sum"]) and row["ExplicitBounds"] == [float("-inf"), 0.0]


async def test_a_histogram_without_sum_min_max_stores_zeros(clickhouse_backend: Any) -> None:
    request = _one_metric(
        name="h",
        histogram={
            "aggregation_temporality": 2,
            "data_points": [{"count": 3, "bucket_counts": [1, 2], "explicit_bounds": [10.0]}],
        },
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "histogram")
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
        {
            "time_unix_nano": 6,
            "as_int": -(2**63),
            "filtered_attributes": [{"key": "n", "value": {"int_value": 2}}],
        },
    ]
    request = _one_metric(name="g", gauge={"data_points": [{"as_double": 1.0, "exemplars": exemplars}]})
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "gauge")
    assert row["Exemplars.SpanId"] == ["0102030405060708", ZERO_SPAN, ZERO_SPAN]
    assert row["Exemplars.TraceId"] == ["0102030405060708090a0b0c0d0e0f10", ZERO_TRACE, ZERO_TRACE]
    assert row["Exemplars.TimeUnix"] == [1_700_000_000_123_456_789, 5, 6]
    assert row["Exemplars.Value"] == [3.0, 0.5, float(-(2**63))]
    assert row["Exemplars.FilteredAttributes"] == [{"user": "u1"}, {}, {"n": "2"}]


async def test_attribute_values_of_every_kind_are_stringified_like_pdata(clickhouse_backend: Any) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    request.resource_metrics[0].resource.attributes.extend(every_value())
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    point.attributes.extend(every_value())
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "gauge")
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
        # A container inside a container is kept as base64 of its protobuf (ANY_VALUE_DEPTH = 2),
        # the documented limit the traces and logs tables share.
        "nested": '[1,"ChMKBWlubmVyEgoqCAoGCgRkZWVwCgcKBWVtcHR5",null]',
        "empty_value": "",
        "unset_value": "",
    }
    assert row["Attributes"] == expected == attributes(point.attributes)
    assert row["ResourceAttributes"] == {"service.name": "svc", **expected}
    assert row["ServiceName"] == "svc"


def _containers() -> list[KeyValue]:
    """Containers in the shapes the byte-level SQL must walk: long values, odd keys, duplicates."""
    long = "x" * 200  # a two-byte varint length
    return [
        KeyValue(key="empty_array", value=_value(array_value={})),
        KeyValue(key="empty_kvlist", value=_value(kvlist_value={})),
        KeyValue(
            key="long", value=_value(array_value={"values": [{"string_value": long}, {"int_value": -1}]})
        ),
        KeyValue(
            key="keys",
            value=_value(
                kvlist_value={
                    "values": [
                        {"key": "b", "value": {"int_value": 1}},
                        {"key": "a!", "value": {"bool_value": True}},
                        {"key": "a", "value": {"double_value": 0.5}},
                        {"key": "", "value": {"string_value": 'q"\\\n<>&\u2028'}},
                        {"key": "b", "value": {"int_value": 2}},  # the last duplicate wins
                        {"key": "unset"},
                        {"key": long, "value": {"bytes_value": b"\x00\x01"}},
                    ]
                }
            ),
        ),
        KeyValue(
            key="many", value=_value(array_value={"values": [{"int_value": i * 1000} for i in range(50)]})
        ),
        KeyValue(
            key="doubles", value=_value(array_value={"values": [{"double_value": d} for d in _DOUBLES]})
        ),
        KeyValue(
            key="nan",
            value=_value(kvlist_value={"values": [{"key": "x", "value": {"double_value": math.nan}}]}),
        ),
        KeyValue(
            key="big",
            value=_value(kvlist_value={"values": [{"key": "k", "value": {"string_value": "v" * 20000}}]}),
        ),
    ]


_DOUBLES = [2.5, -0.1, 1e-5, 1.5e-7, 1e17, 1e21, 123456.789, -0.0, 5e-324]


def _value(**value: Any) -> AnyValue:
    return AnyValue(**value)


async def test_containers_are_rendered_as_go_json(clickhouse_backend: Any) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    point.attributes.extend(_containers())
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "gauge")
    assert row["Attributes"] == attributes(point.attributes)
    assert row["Attributes"]["keys"].startswith('{"":"q\\"\\\\\\n<>&\\u2028","a":0.5,"a!":true,"b":2,')
    assert row["Attributes"]["nan"] == ""


async def test_a_request_holding_a_container_is_written_once_by_the_second_ingest(
    clickhouse_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More points than ClickHouse's default block (65,409 rows), the container in the very last one:
    # the first, refused insert must not have written any row of the blocks before it.
    request = _many_points(70_000)
    last = request.resource_metrics[-1].scope_metrics[-1].metrics[-1]
    point = getattr(last, last.WhichOneof("data")).data_points[-1]
    point.attributes.add(key="list").value.array_value.values.add().int_value = 7
    inserts: list[str] = []
    raw_insert = clickhouse_backend.raw_insert

    async def recording(table: str, data: bytes, fmt: str, **kwargs: Any) -> None:
        inserts.append(table)
        await raw_insert(table, data, fmt, **kwargs)

    monkeypatch.setattr(clickhouse_backend, "raw_insert", recording)
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    assert len(inserts) == 2 and inserts[0] != inserts[1]
    assert sum((await _counts(clickhouse_backend)).values()) == 70_000
    rows = await clickhouse_backend.query_rows(
        f"SELECT Attributes FROM {clickhouse_backend.table(TABLES.name(last.WhichOneof('data')))} "
        "WHERE mapContains(Attributes, 'list')"
    )
    assert rows == [({"route": "/r9", "code": "200", "list": "[7]"},)]


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
async def test_double_attributes_are_formatted_like_go(
    clickhouse_backend: Any, value: float, text: str
) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    point.attributes.add(key="d").value.double_value = value
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "gauge")
    assert row["Attributes"] == {"d": text}


async def test_a_service_name_of_another_type_is_stringified(clickhouse_backend: Any) -> None:
    request = _one_metric(name="g", gauge={"data_points": [{"as_int": 1}]})
    resource = request.resource_metrics[0].resource
    del resource.attributes[:]
    resource.attributes.add(key="service.name").value.int_value = 42
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "gauge")
    assert row["ServiceName"] == "42"


async def test_an_empty_resource_and_scope_give_empty_columns(clickhouse_backend: Any) -> None:
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.add(
        name="s", sum={"data_points": [{"as_double": 2.0}]}
    )
    await write(clickhouse_backend, TABLES, Batch.from_otlp(request))
    (row,) = await _read(clickhouse_backend, "sum")
    assert row == _expected(request, "sum")[0]
    assert (row["ServiceName"], row["ResourceAttributes"], row["ScopeName"], row["ScopeAttributes"]) == (
        "",
        {},
        "",
        {},
    )
    assert (row["AggregationTemporality"], row["IsMonotonic"], row["Flags"]) == (0, False, 0)


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
    batch = Batch.from_otlp_bytes(Signal.METRICS, _many_points(10_000).SerializeToString())
    assert batch.check() == 10_000
    await write(clickhouse_backend, TABLES, batch)
    assert sum((await _counts(clickhouse_backend)).values()) == 10_000
