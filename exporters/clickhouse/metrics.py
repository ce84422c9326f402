"""Metric data points into the contrib clickhouseexporter's five metrics tables, column by column.

The Batch's Arrow form (one row per data point) is split by metric type and reshaped with
pyarrow.compute into each table's columns, row for row as the contrib exporter writes them: ints
become doubles, absent optional fields become 0, attributes become `Map(String, String)` with
pdata's `Value.AsString()`, exemplar ids become lower-case hex (zeros when absent).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.pdata.arrow_schema import AnyValueType, MetricType, NumberValueType

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend
    from collector.pdata.batch import Batch

__all__ = ["MetricsTables", "metrics_tables", "write"]


@dataclass(frozen=True, slots=True)
class MetricsTables:
    """The names of the five metrics tables (the contrib exporter's defaults)."""

    gauge: str = "otel_metrics_gauge"
    sum: str = "otel_metrics_sum"
    histogram: str = "otel_metrics_histogram"
    exponential_histogram: str = "otel_metrics_exponential_histogram"
    summary: str = "otel_metrics_summary"

    def name(self, metric_type: MetricType) -> str:
        """The table holding points of `metric_type`."""
        return str(getattr(self, _TABLE_FIELD[metric_type]))


_TABLE_FIELD = {
    MetricType.GAUGE: "gauge",
    MetricType.SUM: "sum",
    MetricType.HISTOGRAM: "histogram",
    MetricType.EXPONENTIAL_HISTOGRAM: "exponential_histogram",
    MetricType.SUMMARY: "summary",
}


async def write(backend: ClickHouseBackend, tables: MetricsTables, batch: Batch) -> None:
    """Insert the batch's data points, one insert per metric type that has any.

    The inserts run concurrently (one backend worker each); all of them finish before the first
    failure, if any, is raised.
    """
    inserts = [
        backend.insert_arrow(tables.name(metric_type), rows)
        for metric_type, rows in metrics_tables(batch.arrow()).items()
    ]
    for outcome in await asyncio.gather(*inserts, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


def metrics_tables(table: pa.Table) -> dict[MetricType, pa.Table]:
    """The rows of each non-empty metrics table, columns in the contrib DDL's order."""
    if table.num_rows == 0:
        return {}
    metric_type = table.column("metric_type")
    with_point = pc.fill_null(table.column("has_point"), False)
    out: dict[MetricType, pa.Table] = {}
    for kind, build in _BUILDERS.items():
        mask = pc.and_(with_point, pc.equal(metric_type, pa.scalar(int(kind), pa.uint8())))
        rows = table.filter(pc.fill_null(mask, False))
        if rows.num_rows:
            out[kind] = pa.table(build(rows))
    return out


# -- per table -------------------------------------------------------------------------------------

Columns = dict[str, pa.Array]


def _gauge(t: pa.Table) -> Columns:
    return {
        **_head(t),
        "Value": _number_value(t["value_type"], t["value_double"], t["value_int"]),
        "Flags": _filled(t["flags"], pa.uint32(), 0),
        **_exemplars(t["exemplars"]),
    }


def _sum(t: pa.Table) -> Columns:
    return {
        **_gauge(t),
        "AggregationTemporality": _filled(t["aggregation_temporality"], pa.int32(), 0),
        "IsMonotonic": _filled(t["is_monotonic"], pa.bool_(), False),
    }


def _histogram(t: pa.Table) -> Columns:
    return {
        **_head(t),
        "Count": _filled(t["count"], pa.uint64(), 0),
        "Sum": _filled(t["sum"], pa.float64(), 0.0),
        "BucketCounts": _list(t["bucket_counts"]),
        "ExplicitBounds": _list(t["explicit_bounds"]),
        **_exemplars(t["exemplars"]),
        **_tail(t),
    }


def _exponential_histogram(t: pa.Table) -> Columns:
    return {
        **_head(t),
        "Count": _filled(t["count"], pa.uint64(), 0),
        "Sum": _filled(t["sum"], pa.float64(), 0.0),
        "Scale": _filled(t["scale"], pa.int32(), 0),
        "ZeroCount": _filled(t["zero_count"], pa.uint64(), 0),
        "PositiveOffset": _filled(t["positive_offset"], pa.int32(), 0),
        "PositiveBucketCounts": _list(t["positive_bucket_counts"]),
        "NegativeOffset": _filled(t["negative_offset"], pa.int32(), 0),
        "NegativeBucketCounts": _list(t["negative_bucket_counts"]),
        **_exemplars(t["exemplars"]),
        **_tail(t),
    }


def _summary(t: pa.Table) -> Columns:
    quantiles = _list(t["quantile_values"])
    offsets, flat = _offsets_and_values(quantiles)
    return {
        **_head(t),
        "Count": _filled(t["count"], pa.uint64(), 0),
        "Sum": _filled(t["sum"], pa.float64(), 0.0),
        "ValueAtQuantiles.Quantile": pa.ListArray.from_arrays(
            offsets, _filled(flat.field("quantile"), pa.float64(), 0.0)
        ),
        "ValueAtQuantiles.Value": pa.ListArray.from_arrays(
            offsets, _filled(flat.field("value"), pa.float64(), 0.0)
        ),
        "Flags": _filled(t["flags"], pa.uint32(), 0),
    }


_BUILDERS: dict[MetricType, Callable[[pa.Table], Columns]] = {
    MetricType.GAUGE: _gauge,
    MetricType.SUM: _sum,
    MetricType.HISTOGRAM: _histogram,
    MetricType.EXPONENTIAL_HISTOGRAM: _exponential_histogram,
    MetricType.SUMMARY: _summary,
}


def _head(t: pa.Table) -> Columns:
    """Resource, scope, metric and point identity: the columns every metrics table starts with."""
    resource_attributes = _per_group(t["resource_attributes"], t["resource_index"], _attributes_map)
    service_name = pc.map_lookup(resource_attributes, pa.scalar("service.name"), "first")
    return {
        "ResourceAttributes": resource_attributes,
        "ResourceSchemaUrl": _string(t["resource_schema_url"]),
        "ScopeName": _string(t["scope_name"]),
        "ScopeVersion": _string(t["scope_version"]),
        "ScopeAttributes": _per_group(t["scope_attributes"], t["scope_index"], _attributes_map),
        "ScopeDroppedAttrCount": _filled(t["scope_dropped_attributes_count"], pa.uint32(), 0),
        "ScopeSchemaUrl": _string(t["scope_schema_url"]),
        "ServiceName": pc.fill_null(service_name, ""),
        "MetricName": _string(t["metric_name"]),
        "MetricDescription": _string(t["metric_description"]),
        "MetricUnit": _string(t["metric_unit"]),
        "Attributes": _attributes_map(_array(t["attributes"])),
        "StartTimeUnix": _timestamps(t["start_time_unix_nano"]),
        "TimeUnix": _timestamps(t["time_unix_nano"]),
    }


def _tail(t: pa.Table) -> Columns:
    """The columns histogram tables end with."""
    return {
        "Flags": _filled(t["flags"], pa.uint32(), 0),
        "Min": _filled(t["min"], pa.float64(), 0.0),
        "Max": _filled(t["max"], pa.float64(), 0.0),
        "AggregationTemporality": _filled(t["aggregation_temporality"], pa.int32(), 0),
    }


def _exemplars(column: pa.ChunkedArray) -> Columns:
    """The `Exemplars` Nested columns: five parallel arrays per row."""
    offsets, flat = _offsets_and_values(_list(column))

    def nested(values: pa.Array) -> pa.Array:
        return pa.ListArray.from_arrays(offsets, values)

    return {
        "Exemplars.FilteredAttributes": nested(_attributes_map(flat.field("filtered_attributes"))),
        "Exemplars.TimeUnix": nested(_timestamps(flat.field("time_unix_nano"))),
        "Exemplars.Value": nested(
            _number_value(flat.field("value_type"), flat.field("value_double"), flat.field("value_int"))
        ),
        "Exemplars.SpanId": nested(_hex_ids(flat.field("span_id"), 8)),
        "Exemplars.TraceId": nested(_hex_ids(flat.field("trace_id"), 16)),
    }


# -- column helpers --------------------------------------------------------------------------------


def _array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _filled(column: pa.ChunkedArray | pa.Array, type_: pa.DataType, default: Any) -> pa.Array:
    """`column` cast to `type_`, nulls replaced by `default` (contrib writes a field's zero value)."""
    return pc.fill_null(pc.cast(_array(column), type_), pa.scalar(default, type_))


def _string(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return _filled(column, pa.string(), "")


def _list(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A list column with null lists made empty (ClickHouse arrays are never null)."""
    array = _array(column)
    if array.null_count:
        array = pc.if_else(pc.is_null(array), pa.scalar([], array.type), array)
    return array


def _offsets_and_values(array: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A list array's offsets (from 0) and exactly the values they cover."""
    offsets = array.offsets
    start = offsets[0].as_py()
    values = array.values.slice(start, offsets[-1].as_py() - start)
    if start:
        offsets = pc.subtract(offsets, pa.scalar(start, pa.int32()))
    return offsets, values


def _timestamps(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Unix nanoseconds as UTC timestamps (0 when absent, like pdata's zero Timestamp)."""
    nanos = pc.cast(pc.fill_null(_array(column), 0), pa.int64(), safe=False)
    return pc.cast(nanos, pa.timestamp("ns", tz="UTC"))


def _number_value(value_type: Any, value_double: Any, value_int: Any) -> pa.Array:
    """A number point's or exemplar's value as a double; 0 when it has none."""
    kind = _array(value_type)
    chosen = pc.case_when(
        pc.make_struct(
            pc.equal(kind, pa.scalar(int(NumberValueType.DOUBLE), kind.type)),
            pc.equal(kind, pa.scalar(int(NumberValueType.INT), kind.type)),
        ),
        _array(value_double),
        pc.cast(_array(value_int), pa.float64(), safe=False),  # rounds like float64() in Go
    )
    return pc.fill_null(chosen, 0.0)


_HEX_BYTES = pa.array([f"{i:02x}" for i in range(256)], pa.string())


def _hex_ids(ids: pa.Array, width: int) -> pa.Array:
    """Ids as lower-case hex of `width` bytes; an absent id is all zeros (pdata's empty id)."""
    n = len(ids)
    zero = pa.scalar(bytes(width), pa.binary())
    whole = pc.fill_null(pc.equal(pc.binary_length(ids), width), False)
    fixed = pc.cast(pc.if_else(whole, pc.cast(ids, pa.binary()), zero), pa.binary(width))
    octets = pa.Array.from_buffers(
        pa.uint8(), n * width, [None, fixed.buffers()[1]], offset=fixed.offset * width
    )
    offsets = pa.array(range(0, n * width + 1, width), pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, _HEX_BYTES.take(octets)), "")


def _per_group(
    column: pa.ChunkedArray, index: pa.ChunkedArray, convert: Callable[[pa.Array], pa.Array]
) -> pa.Array:
    """`convert` run once per resource (or scope) group and spread over the group's rows."""
    rows = _array(index)
    groups = pc.unique(rows)
    if len(groups) == len(rows):
        return convert(_array(column))
    first = pc.index_in(groups, value_set=rows)  # each group's first row
    return convert(_array(column).take(first)).take(pc.index_in(rows, value_set=groups))


# -- attributes ------------------------------------------------------------------------------------


def _attributes_map(attributes: pa.Array) -> pa.Array:
    """Typed attribute lists as `map<string, string>` with pdata's `AsString()` of each value."""
    offsets, flat = _offsets_and_values(_list(attributes))
    return pa.MapArray.from_arrays(offsets, flat.field("key"), _as_string(flat))


def _as_string(values: pa.StructArray) -> pa.Array:
    """pdata's `Value.AsString()` over typed values: columnar, Python only for rare kinds."""
    kind = values.field("type")

    def is_(t: AnyValueType) -> pa.Array:
        return pc.equal(kind, pa.scalar(int(t), kind.type))

    doubles = pc.cast(values.field("double"), pa.string())
    text = pc.case_when(
        pc.make_struct(
            is_(AnyValueType.STRING), is_(AnyValueType.BOOL), is_(AnyValueType.INT), is_(AnyValueType.DOUBLE)
        ),
        values.field("str"),
        pc.if_else(values.field("bool"), "true", "false"),
        pc.cast(values.field("int"), pa.string()),
        doubles,
    )
    text = pc.fill_null(text, "")
    # Arrow formats large doubles with an exponent where Go does not, and NaN/Inf differently.
    odd_double = pc.and_(
        is_(AnyValueType.DOUBLE), pc.match_substring_regex(pc.fill_null(doubles, ""), "[en]")
    )
    rare = pc.or_(
        pc.or_(is_(AnyValueType.BYTES), odd_double),
        pc.or_(is_(AnyValueType.ARRAY), is_(AnyValueType.KVLIST)),
    )
    positions = pc.indices_nonzero(rare)
    if len(positions) == 0:
        return text
    picked = values.take(positions)
    fixed = [
        _rare_as_string(t, d, b)
        for t, d, b in zip(
            picked.field("type").to_pylist(),
            picked.field("double").to_pylist(),
            picked.field("bytes").to_pylist(),
            strict=True,
        )
    ]
    return pc.replace_with_mask(text, rare, pa.array(fixed, pa.string()))


def _rare_as_string(kind: int, double: float | None, data: bytes | None) -> str:
    if kind == AnyValueType.DOUBLE:
        return _go_float(double or 0.0)
    if kind == AnyValueType.BYTES:
        return base64.b64encode(data or b"").decode()
    value = AnyValue()
    value.ParseFromString(data or b"")
    try:
        return _go_json(_as_raw(value))
    except ValueError:  # NaN or Inf: Go's json.Marshal fails and AsString yields ""
        return ""


def _go_float(f: float) -> str:
    """Go's `float64AsString`: ES6 number formatting (exponent below 1e-6 and from 1e21)."""
    if math.isnan(f) or math.isinf(f):
        name = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        return f"json: unsupported value: {name}"
    digits = Decimal(repr(f)).normalize()
    if f == 0 or 1e-6 <= abs(f) < 1e21:
        return format(digits, "f")
    sign, mantissa, exponent = digits.as_tuple()
    assert isinstance(exponent, int)
    head = "".join(map(str, mantissa))
    power = exponent + len(head) - 1
    number = head[0] + ("." + head[1:] if len(head) > 1 else "")
    return f"{'-' if sign else ''}{number}e{'+' if power >= 0 else '-'}{abs(power):02d}".replace("e-0", "e-")


def _as_raw(value: AnyValue) -> Any:
    """pdata's `Value.AsRaw()`: the Go value json.Marshal turns into text."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_as_raw(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _as_raw(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value":
        return _GoFloat(value.double_value)
    if kind is None:
        return None
    return getattr(value, kind)


class _GoFloat(float):
    """A double json-encoded the way Go encodes it."""


def _go_json(raw: Any) -> str:
    """Go's json.Marshal (keys sorted, no HTML escaping) of an `AsRaw()` value."""
    if isinstance(raw, _GoFloat):
        if math.isnan(raw) or math.isinf(raw):
            raise ValueError("unsupported value")
        return _go_float(raw)
    if isinstance(raw, dict):
        return "{" + ",".join(f"{_go_json(k)}:{_go_json(raw[k])}" for k in sorted(raw)) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(map(_go_json, raw)) + "]"
    text = json.dumps(raw, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
