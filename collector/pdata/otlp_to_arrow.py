"""OTLP requests -> Arrow tables (layout in `arrow_schema`), built column by column.

Each column is gathered as one flat Python list with C-level iteration (`map` + `attrgetter`,
`itertools.chain`) and turned into an Arrow array once; list columns get an offsets array;
resource, scope and metric columns are built once per group and expanded with `take`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, chain, compress, repeat
from operator import attrgetter, eq, methodcaller
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata.arrow_schema import (
    AnyValueType,
    MetricType,
    NumberValueType,
    attributes_type,
    logs_schema,
    metrics_schema,
    traces_schema,
    value_type,
)
from collector.pdata.errors import MalformedData
from collector.pdata.gc_pause import gc_paused

__all__ = ["logs_to_arrow", "metrics_to_arrow", "traces_to_arrow"]

_Getter = Callable[[Any], Any]

_WHICH_VALUE = methodcaller("WhichOneof", "value")
_WHICH_DATA = methodcaller("WhichOneof", "data")
_SERIALIZE = methodcaller("SerializeToString")
_ATTRIBUTES = attrgetter("attributes")
_SUM = attrgetter("sum")
_HAS_SUM = methodcaller("HasField", "sum")
_KEY = attrgetter("key")
_VALUE = attrgetter("value")
_VALUE_STRING = attrgetter("value.string_value")

# AnyValue member -> (type code, column, getter). ARRAY/KVLIST keep the whole AnyValue serialized.
_ANY_VALUE_MEMBERS: dict[str | None, tuple[int, str, _Getter]] = {
    None: (AnyValueType.EMPTY, "", _VALUE),
    "string_value": (AnyValueType.STRING, "str", attrgetter("string_value")),
    "bool_value": (AnyValueType.BOOL, "bool", attrgetter("bool_value")),
    "int_value": (AnyValueType.INT, "int", attrgetter("int_value")),
    "double_value": (AnyValueType.DOUBLE, "double", attrgetter("double_value")),
    "bytes_value": (AnyValueType.BYTES, "bytes", attrgetter("bytes_value")),
    "array_value": (AnyValueType.ARRAY, "bytes", _SERIALIZE),
    "kvlist_value": (AnyValueType.KVLIST, "bytes", _SERIALIZE),
    "string_value_strindex": (AnyValueType.STRING_INDEX, "int", attrgetter("string_value_strindex")),
}
_NUMBER_MEMBERS: dict[str | None, tuple[int, str, _Getter]] = {
    None: (NumberValueType.NONE, "", _VALUE),
    "as_double": (NumberValueType.DOUBLE, "value_double", attrgetter("as_double")),
    "as_int": (NumberValueType.INT, "value_int", attrgetter("as_int")),
}
_METRIC_TYPES: dict[str | None, MetricType] = {
    None: MetricType.NONE,
    "gauge": MetricType.GAUGE,
    "sum": MetricType.SUM,
    "histogram": MetricType.HISTOGRAM,
    "exponential_histogram": MetricType.EXPONENTIAL_HISTOGRAM,
    "summary": MetricType.SUMMARY,
}


# ---------------------------------------------------------------------------------------------
# Building blocks


def _offsets(lengths: Iterable[int]) -> pa.Array:
    return pa.array(list(accumulate(lengths, initial=0)), pa.int32())


def _parent_indices(lengths: list[int]) -> pa.Array:
    """For children counted by `lengths`, the index of each child's parent (vectorized repeat)."""
    total = sum(lengths)
    return pc.list_parent_indices(pa.ListArray.from_arrays(_offsets(lengths), pa.nulls(total)))


def _list_array(lengths: list[int], values: pa.Array, list_type: pa.ListType) -> pa.Array:
    return pa.ListArray.from_arrays(_offsets(lengths), values, type=list_type)


def _flatten(containers: Sequence[Any]) -> tuple[list[int], list[Any]]:
    """Lengths of each repeated field and all their elements in one list."""
    return list(map(len, containers)), list(chain.from_iterable(containers))


def _oneof_columns(
    messages: list[Any],
    which: _Getter,
    members: dict[str | None, tuple[int, str, _Getter]],
    columns: dict[str, pa.DataType],
) -> tuple[pa.Array, dict[str, pa.Array]]:
    """A type-code array and one array per column, null where another member is set."""
    n = len(messages)
    kinds = list(map(which, messages))
    present = set(kinds)
    try:
        codes = [members[k][0] for k in present]
    except KeyError as e:
        raise MalformedData(f"unsupported value member {e.args[0]!r}") from None
    if len(present) == 1:
        type_array = pa.repeat(pa.scalar(codes[0], pa.uint8()), n)
    else:
        type_array = pa.array([members[k][0] for k in kinds], pa.uint8())
    out: dict[str, pa.Array] = {}
    for column, column_type in columns.items():
        result: pa.Array | None = None
        for kind in present:
            code, target, getter = members[kind]
            if target != column:
                continue
            if len(present) == 1:
                result = pa.array(list(map(getter, messages)), column_type)
                break
            dense = pa.array(list(map(getter, compress(messages, map(eq, kinds, repeat(kind))))), column_type)
            base = pa.nulls(n, column_type) if result is None else result
            result = pc.replace_with_mask(base, pc.equal(type_array, code), dense)
        out[column] = pa.nulls(n, column_type) if result is None else result
    return type_array, out


_VALUE_COLUMNS = {
    "str": pa.string(),
    "int": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "bytes": pa.binary(),
}


def _typed_value_children(values: list[Any]) -> list[pa.Array]:
    type_array, columns = _oneof_columns(values, _WHICH_VALUE, _ANY_VALUE_MEMBERS, _VALUE_COLUMNS)
    return [type_array, *columns.values()]


def typed_values(values: list[Any], mask: pa.Array | None = None) -> pa.Array:
    """`AnyValue`s as a struct array of `value_type()` (null rows where `mask` is true)."""
    return pa.StructArray.from_arrays(_typed_value_children(values), type=value_type(), mask=mask)


def attributes_array(containers: Sequence[Any]) -> pa.Array:
    """One `attributes_type()` list per repeated `KeyValue` field in `containers`."""
    lengths, kvs = _flatten(containers)
    item_type = attributes_type().value_type
    keys = pa.array(list(map(_KEY, kvs)), pa.string())
    # Fast path: a non-empty string_value proves the value is a string, so the common all-strings
    # case needs neither the AnyValue objects nor WhichOneof.
    strings = list(map(_VALUE_STRING, kvs))
    if all(strings):
        n = len(strings)
        children = [
            pa.repeat(pa.scalar(AnyValueType.STRING, pa.uint8()), n),
            pa.array(strings, pa.string()),
            *(pa.nulls(n, t) for name, t in _VALUE_COLUMNS.items() if name != "str"),
        ]
    else:
        children = _typed_value_children(list(map(_VALUE, kvs)))
    struct = pa.StructArray.from_arrays([keys, *children], type=item_type)
    return _list_array(lengths, struct, attributes_type())


def _ids(values: list[bytes], width: int, name: str) -> pa.Array:
    """Ids as fixed-size binary; an empty id becomes null, any other wrong width is malformed."""
    array = pa.array(values, pa.binary())
    try:
        return array.cast(pa.binary(width))
    except pa.ArrowInvalid:
        pass
    lengths = pc.binary_length(array)
    array = pc.if_else(pc.equal(lengths, 0), pa.scalar(None, pa.binary()), array)
    try:
        return array.cast(pa.binary(width))
    except pa.ArrowInvalid:
        raise MalformedData(f"{name} must be {width} bytes or empty") from None


def _column(items: list[Any], field: str, arrow_type: pa.DataType) -> pa.Array:
    return pa.array(list(map(attrgetter(field), items)), arrow_type)


def _optional(items: list[Any], field: str, arrow_type: pa.DataType) -> pa.Array:
    """A proto3 `optional` field: null where the message does not carry it."""
    values = list(map(attrgetter(field), items))
    has = list(map(methodcaller("HasField", field), items))
    if all(has):
        return pa.array(values, arrow_type)
    return pa.array([v if h else None for v, h in zip(values, has, strict=True)], arrow_type)


def _struct(children: dict[str, pa.Array], struct_type: pa.StructType) -> pa.Array:
    return pa.StructArray.from_arrays([children[f.name] for f in struct_type], type=struct_type)


def _table(schema: pa.Schema, columns: dict[str, pa.Array]) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _entity_refs(resources: list[Any], list_type: pa.ListType) -> pa.Array:
    refs = [
        [
            {
                "schema_url": e.schema_url,
                "type": e.type,
                "id_keys": list(e.id_keys),
                "description_keys": list(e.description_keys),
            }
            for e in r.entity_refs
        ]
        for r in resources
    ]
    return pa.array(refs, list_type)


def _resource_scope_columns(
    schema: pa.Schema,
    resource_groups: Sequence[Any],
    scope_field: str,
    items_per_scope: list[int],
) -> tuple[dict[str, pa.Array], list[Any]]:
    """The `resource_*`/`scope_*` columns for each row, and the flat list of scope groups."""
    scopes_per_resource, scope_groups = _flatten(list(map(attrgetter(scope_field), resource_groups)))
    resources = list(map(attrgetter("resource"), resource_groups))
    scopes = list(map(attrgetter("scope"), scope_groups))
    row_scope = _parent_indices(items_per_scope)
    row_resource = pc.take(_parent_indices(scopes_per_resource), row_scope)
    per_resource = pa.table(
        {
            "resource_attributes": attributes_array(list(map(_ATTRIBUTES, resources))),
            "resource_dropped_attributes_count": _column(resources, "dropped_attributes_count", pa.uint32()),
            "resource_entity_refs": _entity_refs(resources, schema.field("resource_entity_refs").type),
            "resource_schema_url": _column(list(resource_groups), "schema_url", pa.string()),
        }
    ).take(row_resource)
    per_scope = pa.table(
        {
            "scope_name": _column(scopes, "name", pa.string()),
            "scope_version": _column(scopes, "version", pa.string()),
            "scope_attributes": attributes_array(list(map(_ATTRIBUTES, scopes))),
            "scope_dropped_attributes_count": _column(scopes, "dropped_attributes_count", pa.uint32()),
            "scope_schema_url": _column(scope_groups, "schema_url", pa.string()),
        }
    ).take(row_scope)
    columns: dict[str, pa.Array] = {"resource_index": row_resource, "scope_index": row_scope}
    for table in (per_resource, per_scope):
        for name in table.column_names:
            columns[name] = table.column(name).combine_chunks()
    return columns, scope_groups


# ---------------------------------------------------------------------------------------------
# Traces


@gc_paused
def traces_to_arrow(request: ExportTraceServiceRequest) -> pa.Table:
    """One row per span (see `arrow_schema.traces_schema`)."""
    schema = traces_schema()
    resource_groups = request.resource_spans
    scope_groups = list(chain.from_iterable(map(attrgetter("scope_spans"), resource_groups)))
    spans_per_scope, spans = _flatten(list(map(attrgetter("spans"), scope_groups)))
    columns, _ = _resource_scope_columns(schema, resource_groups, "scope_spans", spans_per_scope)

    columns["trace_id"] = _ids(list(map(attrgetter("trace_id"), spans)), 16, "trace_id")
    columns["span_id"] = _ids(list(map(attrgetter("span_id"), spans)), 8, "span_id")
    for name in ("trace_state", "name", "parent_span_id", "flags", "kind"):
        columns[name] = _column(spans, name, schema.field(name).type)
    for name in ("start_time_unix_nano", "end_time_unix_nano"):
        columns[name] = _column(spans, name, pa.uint64())
    for name in ("dropped_attributes_count", "dropped_events_count", "dropped_links_count"):
        columns[name] = _column(spans, name, pa.uint32())
    columns["status_code"] = _column(spans, "status.code", pa.int32())
    columns["status_message"] = _column(spans, "status.message", pa.string())
    columns["attributes"] = attributes_array(list(map(_ATTRIBUTES, spans)))

    events_type: pa.ListType = schema.field("events").type
    event_counts, events = _flatten(list(map(attrgetter("events"), spans)))
    event_columns = {
        "time_unix_nano": _column(events, "time_unix_nano", pa.uint64()),
        "name": _column(events, "name", pa.string()),
        "attributes": attributes_array(list(map(_ATTRIBUTES, events))),
        "dropped_attributes_count": _column(events, "dropped_attributes_count", pa.uint32()),
    }
    columns["events"] = _list_array(event_counts, _struct(event_columns, events_type.value_type), events_type)

    links_type: pa.ListType = schema.field("links").type
    link_counts, links = _flatten(list(map(attrgetter("links"), spans)))
    link_columns = {
        "trace_id": _ids(list(map(attrgetter("trace_id"), links)), 16, "link trace_id"),
        "span_id": _ids(list(map(attrgetter("span_id"), links)), 8, "link span_id"),
        "trace_state": _column(links, "trace_state", pa.string()),
        "attributes": attributes_array(list(map(_ATTRIBUTES, links))),
        "dropped_attributes_count": _column(links, "dropped_attributes_count", pa.uint32()),
        "flags": _column(links, "flags", pa.uint32()),
    }
    columns["links"] = _list_array(link_counts, _struct(link_columns, links_type.value_type), links_type)
    return _table(schema, columns)


# ---------------------------------------------------------------------------------------------
# Logs


@gc_paused
def logs_to_arrow(request: ExportLogsServiceRequest) -> pa.Table:
    """One row per log record (see `arrow_schema.logs_schema`)."""
    schema = logs_schema()
    resource_groups = request.resource_logs
    scope_groups = list(chain.from_iterable(map(attrgetter("scope_logs"), resource_groups)))
    records_per_scope, records = _flatten(list(map(attrgetter("log_records"), scope_groups)))
    columns, _ = _resource_scope_columns(schema, resource_groups, "scope_logs", records_per_scope)

    for name in ("time_unix_nano", "observed_time_unix_nano"):
        columns[name] = _column(records, name, pa.uint64())
    for name in (
        "severity_number",
        "severity_text",
        "dropped_attributes_count",
        "flags",
        "trace_id",
        "span_id",
        "event_name",
    ):
        columns[name] = _column(records, name, schema.field(name).type)
    has_body = list(map(methodcaller("HasField", "body"), records))
    mask = None if all(has_body) else pc.invert(pa.array(has_body, pa.bool_()))
    columns["body"] = typed_values(list(map(attrgetter("body"), records)), mask)
    columns["attributes"] = attributes_array(list(map(_ATTRIBUTES, records)))
    return _table(schema, columns)


# ---------------------------------------------------------------------------------------------
# Metrics

_NUMBER_TYPES = (MetricType.GAUGE, MetricType.SUM)
_EXEMPLAR_TYPES = (MetricType.GAUGE, MetricType.SUM, MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM)
_COUNT_TYPES = (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY)
_TEMPORALITY_TYPES = (MetricType.SUM, MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM)


class _PointRows:
    """Where each metric type's points sit among the table's rows, for scattering dense columns.

    The points of a set of types are gathered once per distinct set (C-level `chain`/`compress`
    over the metrics' point lists) and cached, so each point column costs one pass over its points.
    """

    def __init__(
        self,
        types: list[MetricType],
        point_lists: list[Any],
        point_counts: list[int],
        row_type: pa.Array,
        has_point: pa.Array,
    ):
        self.types = types
        self.point_lists = point_lists
        self.row_type = row_type
        self.has_point = has_point
        self.present = {t for t, n in zip(types, point_counts, strict=True) if n}
        self.all_points = all(point_counts)
        self._cache: dict[frozenset[MetricType], list[Any]] = {}

    def points_of(self, types: Sequence[MetricType]) -> list[Any]:
        """The points of metrics of `types`, in row order (a shared list: do not mutate it)."""
        wanted = frozenset(self.present.intersection(types))
        if wanted == self.present:
            wanted = frozenset(MetricType)  # every point: one cache entry for all supersets
        cached = self._cache.get(wanted)
        if cached is None:
            if not self.present.intersection(wanted):
                cached = []
            elif wanted == frozenset(MetricType):
                cached = list(chain.from_iterable(self.point_lists))
            else:
                selected = [t in wanted for t in self.types]
                cached = list(chain.from_iterable(compress(self.point_lists, selected)))
            self._cache[wanted] = cached
        return cached

    def scatter(self, types: Sequence[MetricType], dense: pa.Array) -> pa.Array:
        """`dense` (one value per point of `types`) placed at those rows; null elsewhere."""
        if self.all_points and self.present.issubset(types):
            return dense
        mask = pc.and_(pc.is_in(self.row_type, pa.array(types, pa.uint8())), self.has_point)
        return _scatter(mask, dense)


def _scatter(mask: pa.Array, dense: pa.Array) -> pa.Array:
    """`dense` spread over the rows where `mask` is true, null elsewhere (works for any type)."""
    positions = pc.subtract(pc.cumulative_sum(pc.cast(mask, pa.int64())), 1)
    return dense.take(pc.if_else(mask, positions, pa.scalar(None, pa.int64())))


def _sums(rows: _PointRows) -> pa.Array:
    """`sum` of histogram-like and summary points in row order; null where a histogram has none."""
    points = rows.points_of(_COUNT_TYPES)
    sums = list(map(_SUM, points))
    kinds = rows.present.intersection(_COUNT_TYPES)
    if MetricType.SUMMARY in kinds:
        if len(kinds) == 1:
            return pa.array(sums, pa.float64())  # a summary's sum is not optional
        has = [
            h
            for t, p in zip(rows.types, rows.point_lists, strict=True)
            if t in _COUNT_TYPES
            for h in ([True] * len(p) if t is MetricType.SUMMARY else map(_HAS_SUM, p))
        ]
    else:
        has = list(map(_HAS_SUM, points))
    if all(has):
        return pa.array(sums, pa.float64())
    return pa.array([v if h else None for v, h in zip(sums, has, strict=True)], pa.float64())


def _exemplars(points: list[Any], list_type: pa.ListType) -> pa.Array:
    containers = list(map(attrgetter("exemplars"), points))
    counts = list(map(len, containers))
    if not any(counts):  # the common case: no point carries exemplars
        empty = pa.array([], list_type.value_type)
        return pa.ListArray.from_arrays(pa.array([0] * (len(points) + 1), pa.int32()), empty, type=list_type)
    exemplars = list(chain.from_iterable(containers))
    value_kind, values = _oneof_columns(
        exemplars,
        _WHICH_VALUE,
        _NUMBER_MEMBERS,
        {"value_double": pa.float64(), "value_int": pa.int64()},
    )
    children = {
        "filtered_attributes": attributes_array(list(map(attrgetter("filtered_attributes"), exemplars))),
        "time_unix_nano": _column(exemplars, "time_unix_nano", pa.uint64()),
        "value_type": value_kind,
        **values,
        "span_id": _column(exemplars, "span_id", pa.binary()),
        "trace_id": _column(exemplars, "trace_id", pa.binary()),
    }
    return _list_array(counts, _struct(children, list_type.value_type), list_type)


def _buckets(points: list[Any], field: str) -> pa.Array:
    lengths, values = _flatten(list(map(attrgetter(field), points)))
    list_type = pa.list_(pa.uint64() if field.endswith("bucket_counts") else pa.float64())
    return _list_array(lengths, pa.array(values, list_type.value_type), list_type)


@gc_paused
def metrics_to_arrow(request: ExportMetricsServiceRequest) -> pa.Table:
    """One row per data point; one `has_point = false` row per metric without points."""
    schema = metrics_schema()
    resource_groups = request.resource_metrics
    scope_groups = list(chain.from_iterable(map(attrgetter("scope_metrics"), resource_groups)))
    metrics_per_scope, metrics = _flatten(list(map(attrgetter("metrics"), scope_groups)))

    kinds = list(map(_WHICH_DATA, metrics))
    types = [_METRIC_TYPES[k] for k in kinds]
    datas: list[Any] = [getattr(m, k) if k else None for m, k in zip(metrics, kinds, strict=True)]
    point_lists = [d.data_points if d is not None else () for d in datas]
    point_counts = list(map(len, point_lists))
    rows_per_metric = [n or 1 for n in point_counts]

    rows_per_scope = [0] * len(scope_groups)
    metric_scope = _parent_indices(metrics_per_scope).to_pylist()
    for scope, n_rows in zip(metric_scope, rows_per_metric, strict=True):
        rows_per_scope[scope] += n_rows
    columns, _ = _resource_scope_columns(schema, resource_groups, "scope_metrics", rows_per_scope)

    row_metric = _parent_indices(rows_per_metric)
    temporality = [
        d.aggregation_temporality if t in _TEMPORALITY_TYPES else None
        for d, t in zip(datas, types, strict=True)
    ]
    monotonic = [d.is_monotonic if t is MetricType.SUM else None for d, t in zip(datas, types, strict=True)]
    per_metric = pa.table(
        {
            "metric_name": _column(metrics, "name", pa.string()),
            "metric_description": _column(metrics, "description", pa.string()),
            "metric_unit": _column(metrics, "unit", pa.string()),
            "metric_metadata": attributes_array(list(map(attrgetter("metadata"), metrics))),
            "metric_type": pa.array(types, pa.uint8()),
            "aggregation_temporality": pa.array(temporality, pa.int32()),
            "is_monotonic": pa.array(monotonic, pa.bool_()),
            "has_point": pa.array([n > 0 for n in point_counts], pa.bool_()),
        }
    ).take(row_metric)
    columns["metric_index"] = row_metric
    for name in per_metric.column_names:
        columns[name] = per_metric.column(name).combine_chunks()

    rows = _PointRows(types, point_lists, point_counts, columns["metric_type"], columns["has_point"])
    all_types = tuple(MetricType)[1:]
    every = rows.points_of(all_types)
    columns["attributes"] = rows.scatter(all_types, attributes_array(list(map(_ATTRIBUTES, every))))
    for name in ("start_time_unix_nano", "time_unix_nano", "flags"):
        columns[name] = rows.scatter(all_types, _column(every, name, schema.field(name).type))

    numbers = rows.points_of(_NUMBER_TYPES)
    value_kind, values = _oneof_columns(
        numbers, _WHICH_VALUE, _NUMBER_MEMBERS, {"value_double": pa.float64(), "value_int": pa.int64()}
    )
    columns["value_type"] = rows.scatter(_NUMBER_TYPES, value_kind)
    for name, array in values.items():
        columns[name] = rows.scatter(_NUMBER_TYPES, array)

    counted = rows.points_of(_COUNT_TYPES)
    columns["count"] = rows.scatter(_COUNT_TYPES, _column(counted, "count", pa.uint64()))
    columns["sum"] = rows.scatter(_COUNT_TYPES, _sums(rows))
    histograms = (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM)
    hist_points = rows.points_of(histograms)
    for name in ("min", "max"):
        columns[name] = rows.scatter(histograms, _optional(hist_points, name, pa.float64()))

    explicit = (MetricType.HISTOGRAM,)
    explicit_points = rows.points_of(explicit)
    for name in ("bucket_counts", "explicit_bounds"):
        columns[name] = rows.scatter(explicit, _buckets(explicit_points, name))

    exponential = (MetricType.EXPONENTIAL_HISTOGRAM,)
    exp_points = rows.points_of(exponential)
    for name, field in (
        ("scale", "scale"),
        ("zero_count", "zero_count"),
        ("zero_threshold", "zero_threshold"),
        ("positive_offset", "positive.offset"),
        ("negative_offset", "negative.offset"),
    ):
        columns[name] = rows.scatter(exponential, _column(exp_points, field, schema.field(name).type))
    for sign in ("positive", "negative"):
        array = _buckets(exp_points, f"{sign}.bucket_counts")
        columns[f"{sign}_bucket_counts"] = rows.scatter(exponential, array)

    summary = (MetricType.SUMMARY,)
    summary_points = rows.points_of(summary)
    quantiles_type: pa.ListType = schema.field("quantile_values").type
    q_counts, quantiles = _flatten(list(map(attrgetter("quantile_values"), summary_points)))
    q_children = {
        "quantile": _column(quantiles, "quantile", pa.float64()),
        "value": _column(quantiles, "value", pa.float64()),
    }
    q_array = _list_array(q_counts, _struct(q_children, quantiles_type.value_type), quantiles_type)
    columns["quantile_values"] = rows.scatter(summary, q_array)

    exemplar_points = rows.points_of(_EXEMPLAR_TYPES)
    exemplars = _exemplars(exemplar_points, schema.field("exemplars").type)
    columns["exemplars"] = rows.scatter(_EXEMPLAR_TYPES, exemplars)
    return _table(schema, columns)
