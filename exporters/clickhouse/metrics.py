"""Metric data points into the contrib clickhouseexporter's five metrics tables, decoded and mapped by ClickHouse.

One insert of the ExportMetricsServiceRequest's bytes fills all five tables: a Null table reads
it, one view (the relay's) explodes it into one row per data point with the union of the five
tables' columns plus `MetricType`, and one view per table picks its type's rows. A metric's
`data` is a oneof, so of its five data point lists one is non-empty: each point field is the
concatenation of that field's arrays over the five types, and the fields are ARRAY JOINed side by
side (`enable_unaligned_array_join` gives defaults to those the metric's type lacks).

Every insert pays for ClickHouse analysing the views' queries, and the SQL rendering array and
kvlist attribute values is the largest part of them. So a request goes first through an ingest
without it, which refuses (before writing any row) a request holding such a value; that request
is then inserted again through the ingest with it (`write`).

Row mapping of contrib's metrics exporter (internal/*_metrics.go): ints become doubles (Go's
float64()), absent optional fields 0 (pdata's getters), attribute maps with `Value.AsString()`
values (`any_value_bytes`), ServiceName the resource's `service.name`, times as DateTime64(9),
exemplar ids as lower-case hex of pdata's fixed-size ids (zeros when absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from exporters.clickhouse import any_value_bytes
from exporters.clickhouse.ingest import ContainerFallback, ProtobufIngest, Relay, Select, ingest_for
from exporters.clickhouse.otlp_sql import ATTRIBUTES, Spec

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend
    from collector.pdata import Batch

__all__ = ["COLUMNS", "KINDS", "SPEC", "MetricsTables", "ingest", "points", "write"]

KINDS: Final = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
"""The metric types (the `data` oneof's members) in `MetricType` order (1 to 5), one table each."""


@dataclass(frozen=True, slots=True)
class MetricsTables:
    """The names of the five metrics tables (the contrib exporter's defaults)."""

    gauge: str = "otel_metrics_gauge"
    sum: str = "otel_metrics_sum"
    histogram: str = "otel_metrics_histogram"
    exponential_histogram: str = "otel_metrics_exponential_histogram"
    summary: str = "otel_metrics_summary"

    def name(self, kind: str) -> str:
        """The table holding points of metric type `kind` (one of KINDS)."""
        return str(getattr(self, kind))


_EXEMPLAR: Spec = {
    "filtered_attributes": ATTRIBUTES,
    "time_unix_nano": None,
    "as_double": None,
    "as_int": None,
    "span_id": None,
    "trace_id": None,
}
_POINT: Spec = {
    "attributes": ATTRIBUTES,
    "start_time_unix_nano": None,
    "time_unix_nano": None,
    "flags": None,
}
_NUMBER_POINT: Spec = {**_POINT, "as_double": None, "as_int": None, "exemplars": _EXEMPLAR}
_BUCKETS: Spec = {"offset": None, "bucket_counts": None}

SPEC: Final[Spec] = {
    "resource_metrics": {
        "resource": {"attributes": ATTRIBUTES},
        "schema_url": None,
        "scope_metrics": {
            "scope": {
                "name": None,
                "version": None,
                "attributes": ATTRIBUTES,
                "dropped_attributes_count": None,
            },
            "schema_url": None,
            "metrics": {
                "name": None,
                "description": None,
                "unit": None,
                "gauge": {"data_points": _NUMBER_POINT},
                "sum": {"data_points": _NUMBER_POINT, "aggregation_temporality": None, "is_monotonic": None},
                "histogram": {
                    "data_points": {
                        **_POINT,
                        **dict.fromkeys(["count", "sum", "bucket_counts", "explicit_bounds", "min", "max"]),
                        "exemplars": _EXEMPLAR,
                    },
                    "aggregation_temporality": None,
                },
                "exponential_histogram": {
                    "data_points": {
                        **_POINT,
                        **dict.fromkeys(["count", "sum", "scale", "zero_count", "min", "max"]),
                        "positive": _BUCKETS,
                        "negative": _BUCKETS,
                        "exemplars": _EXEMPLAR,
                    },
                    "aggregation_temporality": None,
                },
                "summary": {
                    "data_points": {
                        **_POINT,
                        "count": None,
                        "sum": None,
                        "quantile_values": {"quantile": None, "value": None},
                    }
                },
            },
        },
    }
}
"""The request's fields the five tables need."""

_HEAD: Final = (
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
)
_EXEMPLARS: Final = (
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
)
_HISTOGRAM_TAIL: Final = (*_EXEMPLARS, "Flags", "Min", "Max", "AggregationTemporality")
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "gauge": (*_HEAD, "Value", "Flags", *_EXEMPLARS),
    "sum": (*_HEAD, "Value", "Flags", *_EXEMPLARS, "AggregationTemporality", "IsMonotonic"),
    "histogram": (*_HEAD, "Count", "Sum", "BucketCounts", "ExplicitBounds", *_HISTOGRAM_TAIL),
    "exponential_histogram": (
        *_HEAD,
        "Count",
        "Sum",
        "Scale",
        "ZeroCount",
        "PositiveOffset",
        "PositiveBucketCounts",
        "NegativeOffset",
        "NegativeBucketCounts",
        *_HISTOGRAM_TAIL,
    ),
    "summary": (*_HEAD, "Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags"),
}
"""Each table's columns, in the contrib DDL's order."""


def _time(expr: str) -> str:
    """A uint64 ns timestamp as DateTime64(9), wrapping as Go's time.Unix(0, int64(ts)) does."""
    return f"fromUnixTimestamp64Nano(reinterpretAsInt64({expr}))"


def _number(expr: str) -> str:
    """A number point's (`expr` '') or exemplar's value as a double (as_int through Go's float64(); 0 when neither)."""
    prefix = f"{expr}." if expr else ""
    return f"if({prefix}as_int != 0, toFloat64({prefix}as_int), {prefix}as_double)"


def _id(expr: str, width: int) -> str:
    """Hex of a pdata id ([width]byte: all zeros unless exactly `width` bytes arrived)."""
    return f"if(length({expr}) = {width}, lower(hex({expr})), '{'0' * 2 * width}')"


def _points_of(field: str, kinds: tuple[str, ...] = KINDS) -> str:
    """The metric's points' `field`, from whichever of `kinds` it holds (the others are empty)."""
    return f"arrayConcat({', '.join(f'm.{kind}.data_points.{field}' for kind in kinds)})"


_NUMBER_KINDS: Final = ("gauge", "sum")
_EXEMPLAR_KINDS: Final = ("gauge", "sum", "histogram", "exponential_histogram")
_COUNT_KINDS: Final = ("histogram", "exponential_histogram", "summary")
_MIN_MAX_KINDS: Final = ("histogram", "exponential_histogram")

_POINT_FIELDS: Final = (
    "attributes",
    "start_time_unix_nano",
    "time_unix_nano",
    "flags",
    "as_double",
    "as_int",
    "exemplars",
    "count",
    "sum",
    "min",
    "max",
    "bucket_counts",
    "explicit_bounds",
    "scale",
    "zero_count",
    "positive_offset",
    "positive_bucket_counts",
    "negative_offset",
    "negative_bucket_counts",
    "quantiles",
    "quantile_values",
)
"""The point fields, per metric as parallel arrays (of whichever type the metric is), ARRAY JOINed side by side."""

_POINTS: Final = f"""WITH
    CAST(arrayMap(list -> ATTRIBUTES_MAP, arrayConcat([resource, scope_attributes, attributes], tupleElement(exemplars, 'filtered_attributes'))),
        'Array(Map(LowCardinality(String), String))') AS maps,
    arrayMap(x -> ({_time("x.time_unix_nano")}, {_number("x")}, {_id("x.span_id", 8)}, {_id("x.trace_id", 16)}),
        exemplars) AS exemplar_columns
SELECT
    kind AS MetricType,
    maps[1] AS ResourceAttributes,
    resource_schema_url AS ResourceSchemaUrl,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    maps[2] AS ScopeAttributes,
    scope_dropped_attributes_count AS ScopeDroppedAttrCount,
    scope_schema_url AS ScopeSchemaUrl,
    CAST(maps[1]['service.name'], 'LowCardinality(String)') AS ServiceName,
    metric_name AS MetricName,
    metric_description AS MetricDescription,
    metric_unit AS MetricUnit,
    maps[3] AS Attributes,
    {_time("start_time_unix_nano")} AS StartTimeUnix,
    {_time("time_unix_nano")} AS TimeUnix,
    flags AS Flags,
    {_number("")} AS Value,
    arraySlice(maps, 4) AS `Exemplars.FilteredAttributes`,
    tupleElement(exemplar_columns, 1) AS `Exemplars.TimeUnix`,
    tupleElement(exemplar_columns, 2) AS `Exemplars.Value`,
    tupleElement(exemplar_columns, 3) AS `Exemplars.SpanId`,
    tupleElement(exemplar_columns, 4) AS `Exemplars.TraceId`,
    aggregation_temporality AS AggregationTemporality,
    is_monotonic AS IsMonotonic,
    count AS Count,
    sum AS Sum,
    min AS Min,
    max AS Max,
    bucket_counts AS BucketCounts,
    explicit_bounds AS ExplicitBounds,
    scale AS Scale,
    zero_count AS ZeroCount,
    positive_offset AS PositiveOffset,
    positive_bucket_counts AS PositiveBucketCounts,
    negative_offset AS NegativeOffset,
    negative_bucket_counts AS NegativeBucketCounts,
    quantiles AS `ValueAtQuantiles.Quantile`,
    quantile_values AS `ValueAtQuantiles.Value`
FROM (
    SELECT
        resource,
        resource_schema_url,
        scope_name,
        scope_version,
        scope_attributes,
        scope_dropped_attributes_count,
        scope_schema_url,
        m.name AS metric_name,
        m.description AS metric_description,
        m.unit AS metric_unit,
        toUInt8(multiIf(notEmpty(m.gauge.data_points), 1, notEmpty(m.sum.data_points), 2,
            notEmpty(m.histogram.data_points), 3, notEmpty(m.exponential_histogram.data_points), 4, 5)) AS kind,
        toInt32(m.sum.aggregation_temporality + m.histogram.aggregation_temporality
            + m.exponential_histogram.aggregation_temporality) AS aggregation_temporality,
        m.sum.is_monotonic AS is_monotonic,
        {_points_of("attributes")} AS attributes,
        {_points_of("start_time_unix_nano")} AS start_time_unix_nano,
        {_points_of("time_unix_nano")} AS time_unix_nano,
        {_points_of("flags")} AS flags,
        {_points_of("as_double", _NUMBER_KINDS)} AS as_double,
        {_points_of("as_int", _NUMBER_KINDS)} AS as_int,
        {_points_of("exemplars", _EXEMPLAR_KINDS)} AS exemplars,
        {_points_of("count", _COUNT_KINDS)} AS count,
        {_points_of("sum", _COUNT_KINDS)} AS sum,
        {_points_of("min", _MIN_MAX_KINDS)} AS min,
        {_points_of("max", _MIN_MAX_KINDS)} AS max,
        m.histogram.data_points.bucket_counts AS bucket_counts,
        m.histogram.data_points.explicit_bounds AS explicit_bounds,
        m.exponential_histogram.data_points.scale AS scale,
        m.exponential_histogram.data_points.zero_count AS zero_count,
        m.exponential_histogram.data_points.positive.offset AS positive_offset,
        m.exponential_histogram.data_points.positive.bucket_counts AS positive_bucket_counts,
        m.exponential_histogram.data_points.negative.offset AS negative_offset,
        m.exponential_histogram.data_points.negative.bucket_counts AS negative_bucket_counts,
        m.summary.data_points.quantile_values.quantile AS quantiles,
        m.summary.data_points.quantile_values.value AS quantile_values
    FROM (
        SELECT
            resource,
            resource_schema_url,
            sm.scope.name AS scope_name,
            sm.scope.version AS scope_version,
            sm.scope.attributes AS scope_attributes,
            sm.scope.dropped_attributes_count AS scope_dropped_attributes_count,
            sm.schema_url AS scope_schema_url,
            sm.metrics AS metrics
        FROM (
            SELECT rm.resource.attributes AS resource, rm.schema_url AS resource_schema_url, rm.scope_metrics AS scopes
            FROM SOURCE ARRAY JOIN resource_metrics AS rm
        )
        ARRAY JOIN scopes AS sm
    )
    ARRAY JOIN metrics AS m
)
ARRAY JOIN {", ".join(_POINT_FIELDS)}"""

_PATH = re.compile(r"\b(rm|sm|m|x)((?:\.[a-z_]+)+)")


def _tuple_elements(sql: str) -> str:
    """`m.sum.is_monotonic` as `tupleElement(tupleElement(m, 'sum'), 'is_monotonic')`, for the aliases above.

    The analyzer resolves a compound identifier over a big tuple type slowly (~8 ms each on the
    request's type, paid by every insert); explicit tupleElement calls cost next to nothing.
    """

    def call(match: re.Match[str]) -> str:
        expr = match.group(1)
        for name in match.group(2).split(".")[1:]:
            expr = f"tupleElement({expr}, '{name}')"
        return expr

    return _PATH.sub(call, sql)


def points(source: str, containers: bool = True) -> str:
    """The relay view's SELECT: one row per data point of the Null table `source`, every table's columns.

    Without `containers`, an attribute value that is an array or a kvlist fails the query (see `write`).
    """
    return (
        _tuple_elements(_POINTS)
        .replace("ATTRIBUTES_MAP", any_value_bytes.attributes_map("list", containers))
        .replace("SOURCE", source)
    )


def _table_view(kind: str) -> Select:
    """The SELECT of `kind`'s view from the relay table."""
    columns = ", ".join(f"`{column}`" for column in COLUMNS[kind])
    return lambda source, _: f"SELECT {columns} FROM {source} WHERE MetricType = {KINDS.index(kind) + 1}"


_SETTINGS: Final = {
    # The point fields side by side (a metric's type has no count, that one no value, ...).
    "enable_unaligned_array_join": 1,
}


def _relay(containers: bool) -> Relay:
    """The relay of the ingest with or without `containers`."""
    return Relay(lambda source, _: points(source, containers), _SETTINGS)


_RELAYS: Final = {containers: _relay(containers) for containers in (False, True)}


def ingest(backend: ClickHouseBackend, tables: MetricsTables) -> ContainerFallback:
    """The ingest path into `tables` of `backend` (made once per set of tables, shared by exporters)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    views = {tables.name(kind): _table_view(kind) for kind in KINDS}
    return ingest_for(
        backend,
        f"metrics:{','.join(views)}",
        lambda: ContainerFallback(
            lambda containers: ProtobufIngest(
                ExportMetricsServiceRequest.DESCRIPTOR, SPEC, "otel_metrics", views, _RELAYS[containers]
            )
        ),
    )


async def write(backend: ClickHouseBackend, tables: MetricsTables, batch: Batch) -> None:
    """Insert the batch's data points into `tables` (bare names in the backend's database), one insert."""
    if len(batch):
        await ingest(backend, tables).write(backend, batch.otlp_bytes(), len(batch))
