"""Arrow tables (layout in `arrow_schema`) -> OTLP requests.

Each column is read with one `to_pylist()`; nested messages are handed to protobuf as plain dicts
(much cheaper than building intermediate message objects). Rows are grouped into resources and
scopes by runs of equal `resource_index` / `scope_index` (or, when a table has no index columns,
by equal resource / scope values), which is lossless up to semantic equivalence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.pdata.arrow_schema import (
    AnyValueType,
    MetricType,
    NumberValueType,
    logs_schema,
    metrics_schema,
    traces_schema,
)
from collector.pdata.errors import MalformedData
from collector.pdata.gc_pause import gc_paused

__all__ = ["logs_to_otlp", "metrics_to_otlp", "traces_to_otlp"]

_Dict = dict[str, Any]

_RESOURCE_COLUMNS = (
    "resource_attributes",
    "resource_dropped_attributes_count",
    "resource_entity_refs",
    "resource_schema_url",
)
_SCOPE_COLUMNS = (
    "scope_name",
    "scope_version",
    "scope_attributes",
    "scope_dropped_attributes_count",
    "scope_schema_url",
)
_VALUE_MEMBERS: dict[int, tuple[str, str]] = {
    AnyValueType.STRING: ("str", "string_value"),
    AnyValueType.BOOL: ("bool", "bool_value"),
    AnyValueType.INT: ("int", "int_value"),
    AnyValueType.DOUBLE: ("double", "double_value"),
    AnyValueType.BYTES: ("bytes", "bytes_value"),
    AnyValueType.STRING_INDEX: ("int", "string_value_strindex"),
}


# ---------------------------------------------------------------------------------------------
# Building blocks


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null, others cast to the schema's type."""
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise MalformedData(f"column {field.name!r} of type {column.type} is not {field.type}") from e
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema.with_metadata(None))


def _array(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _as_bytes(array: pa.Array) -> list[bytes]:
    """A binary (or fixed-size binary) column as bytes, null as b""."""
    if pa.types.is_fixed_size_binary(array.type):
        array = array.cast(pa.binary())
    return pc.fill_null(array, b"").to_pylist()  # type: ignore[no-any-return]


def _values(array: pa.Array, default: Any) -> list[Any]:
    if array.null_count:
        return pc.fill_null(array, default).to_pylist()  # type: ignore[no-any-return]
    return array.to_pylist()  # type: ignore[no-any-return]


def _offsets_of(array: pa.Array) -> tuple[list[int], pa.Array]:
    """Offsets (nulls as empty lists) and the child values of a list array."""
    if array.null_count:
        array = pc.fill_null(array, pa.scalar([], array.type))
    if array.offset:
        array = pa.concat_arrays([array])  # normalise a sliced array so offsets start at 0
    offsets = array.offsets.to_pylist()
    base = offsets[0]
    values = array.values.slice(base, offsets[-1] - base)
    return [o - base for o in offsets], values


def _split(items: list[Any], offsets: list[int]) -> list[list[Any]]:
    return [items[a:b] for a, b in pairwise(offsets)]


def _value_dicts(struct: pa.Array) -> list[Any]:
    """Typed values (a `value_type()`-shaped struct array) as AnyValue dicts / messages."""
    n = len(struct)
    if n == 0:
        return []
    types = _values(struct.field("type"), 0)
    present = set(types)
    if len(present) == 1 and (code := types[0]) in _VALUE_MEMBERS:
        name, member = _VALUE_MEMBERS[code]
        return [{member: v} for v in struct.field(name).to_pylist()]
    cache: dict[str, list[Any]] = {}

    def column(name: str) -> list[Any]:
        if name not in cache:
            cache[name] = struct.field(name).to_pylist()
        return cache[name]

    out: list[Any] = [None] * n
    for code in present:
        indices = [i for i, t in enumerate(types) if t == code]
        if code in _VALUE_MEMBERS:
            name, member = _VALUE_MEMBERS[code]
            values = column(name)
            for i in indices:
                out[i] = {member: values[i]}
        elif code in (AnyValueType.ARRAY, AnyValueType.KVLIST):
            values = column("bytes")
            for i in indices:
                out[i] = AnyValue.FromString(values[i] or b"")
        elif code == AnyValueType.EMPTY:
            for i in indices:
                out[i] = {}
        else:
            raise MalformedData(f"unknown AnyValue type {code}")
    return out


def _attribute_lists(array: pa.Array) -> list[list[_Dict]]:
    """An `attributes_type()` column as one list of KeyValue dicts per row."""
    offsets, items = _offsets_of(array)
    if len(items) == 0:
        return [[] for _ in range(len(array))]
    keys = items.field("key").to_pylist()
    types = items.field("type")
    if types.null_count == 0 and pc.all(pc.equal(types, AnyValueType.STRING)).as_py():
        strings = items.field("str").to_pylist()
        string_kvs = [{"key": k, "value": {"string_value": v}} for k, v in zip(keys, strings, strict=True)]
        return _split(string_kvs, offsets)
    values = _value_dicts(items)
    kvs = [{"key": k, "value": v} if v else {"key": k} for k, v in zip(keys, values, strict=True)]
    return _split(kvs, offsets)


def _struct_lists(
    array: pa.Array,
    build: Callable[[pa.Array], list[Any]],
) -> list[list[Any]]:
    """A list<struct> column as one list of dicts per row, each dict made by `build(children)`."""
    offsets, items = _offsets_of(array)
    if len(items) == 0:
        return [[] for _ in range(len(array))]
    return _split(build(items), offsets)


def _lists(array: pa.Array) -> list[list[Any]]:
    """A list<primitive> column as Python lists (null as empty)."""
    return _values(array, pa.scalar([], array.type))


def _equal_runs(table: pa.Table, columns: Sequence[str]) -> pa.Array:
    """Group ids for tables without index columns: rows with equal values share an id."""
    if not columns:
        return pa.repeat(pa.scalar(0, pa.int64()), table.num_rows)
    seen: dict[str, int] = {}
    pylists = [table.column(name).to_pylist() for name in columns]
    ids = [seen.setdefault(repr(key), len(seen)) for key in zip(*pylists, strict=True)]
    return pa.array(ids, pa.int64())


def _run_starts(*keys: pa.Array) -> list[int]:
    """Row positions where any of `keys` differs from the previous row (always including 0)."""
    n = len(keys[0])
    if n == 0:
        return []
    changed: pa.Array | None = None
    for key in keys:
        filled = pc.fill_null(key, -1)
        diff = pc.not_equal(filled.slice(1), filled.slice(0, n - 1))
        changed = diff if changed is None else pc.or_(changed, diff)
    assert changed is not None
    return [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())]


def _ends(starts: list[int], n: int) -> list[int]:
    """The end row of each run given the runs' start rows."""
    return [*starts[1:], n] if starts else []


class _Groups:
    """Resource and scope runs of a table, with the Resource / InstrumentationScope of each."""

    def __init__(self, table: pa.Table, item_keys: Sequence[str] = ()):
        names = set(table.column_names)
        resource = (
            _array(table, "resource_index")
            if "resource_index" in names
            else _equal_runs(table, [c for c in _RESOURCE_COLUMNS if c in names])
        )
        scope = (
            _array(table, "scope_index")
            if "scope_index" in names
            else _equal_runs(table, [c for c in _SCOPE_COLUMNS if c in names])
        )
        self.resource_starts = _run_starts(resource)
        self.scope_starts = _run_starts(resource, scope)
        self.resource_ids = resource
        self.scope_ids = scope
        self.n = table.num_rows

    def build(self, conformed: pa.Table) -> list[tuple[_Dict, str, list[tuple[_Dict, str, int, int]]]]:
        """[(resource, schema_url, [(scope, schema_url, first row, end row), ...]), ...]."""
        resources = conformed.select(list(_RESOURCE_COLUMNS)).take(pa.array(self.resource_starts, pa.int64()))
        scopes = conformed.select(list(_SCOPE_COLUMNS)).take(pa.array(self.scope_starts, pa.int64()))
        r_attrs = _attribute_lists(_array(resources, "resource_attributes"))
        r_dropped = _values(_array(resources, "resource_dropped_attributes_count"), 0)
        r_refs = _lists(_array(resources, "resource_entity_refs"))
        r_urls = _values(_array(resources, "resource_schema_url"), "")
        s_attrs = _attribute_lists(_array(scopes, "scope_attributes"))
        s_names = _values(_array(scopes, "scope_name"), "")
        s_versions = _values(_array(scopes, "scope_version"), "")
        s_dropped = _values(_array(scopes, "scope_dropped_attributes_count"), 0)
        s_urls = _values(_array(scopes, "scope_schema_url"), "")

        scope_ends = _ends(self.scope_starts, self.n)
        resource_ends = _ends(self.resource_starts, self.n)
        out: list[tuple[_Dict, str, list[tuple[_Dict, str, int, int]]]] = []
        s = 0
        for r, r_end in enumerate(resource_ends):
            resource: _Dict = {"attributes": r_attrs[r], "dropped_attributes_count": r_dropped[r]}
            if r_refs[r]:
                resource["entity_refs"] = r_refs[r]
            scope_list: list[tuple[_Dict, str, int, int]] = []
            while s < len(scope_ends) and scope_ends[s] <= r_end:
                scope = {
                    "name": s_names[s],
                    "version": s_versions[s],
                    "attributes": s_attrs[s],
                    "dropped_attributes_count": s_dropped[s],
                }
                scope_list.append((scope, s_urls[s], self.scope_starts[s], scope_ends[s]))
                s += 1
            out.append((resource, r_urls[r], scope_list))
        return out


# ---------------------------------------------------------------------------------------------
# Traces


def _events(items: pa.Array) -> list[_Dict]:
    attrs = _attribute_lists(items.field("attributes"))
    return [
        {"time_unix_nano": t, "name": n, "attributes": a, "dropped_attributes_count": d}
        for t, n, a, d in zip(
            _values(items.field("time_unix_nano"), 0),
            _values(items.field("name"), ""),
            attrs,
            _values(items.field("dropped_attributes_count"), 0),
            strict=True,
        )
    ]


def _links(items: pa.Array) -> list[_Dict]:
    attrs = _attribute_lists(items.field("attributes"))
    return [
        {
            "trace_id": t,
            "span_id": s,
            "trace_state": ts,
            "attributes": a,
            "dropped_attributes_count": d,
            "flags": f,
        }
        for t, s, ts, a, d, f in zip(
            _as_bytes(items.field("trace_id")),
            _as_bytes(items.field("span_id")),
            _values(items.field("trace_state"), ""),
            attrs,
            _values(items.field("dropped_attributes_count"), 0),
            _values(items.field("flags"), 0),
            strict=True,
        )
    ]


@gc_paused
def traces_to_otlp(table: pa.Table) -> ExportTraceServiceRequest:
    """Rebuild the OTLP request of a `traces_schema()` table."""
    groups = _Groups(table)
    table = _conform(table, traces_schema())
    trace_ids = _as_bytes(_array(table, "trace_id"))
    span_ids = _as_bytes(_array(table, "span_id"))
    parent_ids = _as_bytes(_array(table, "parent_span_id"))
    trace_states = _values(_array(table, "trace_state"), "")
    flags = _values(_array(table, "flags"), 0)
    names = _values(_array(table, "name"), "")
    kinds = _values(_array(table, "kind"), 0)
    starts = _values(_array(table, "start_time_unix_nano"), 0)
    ends = _values(_array(table, "end_time_unix_nano"), 0)
    attrs = _attribute_lists(_array(table, "attributes"))
    dropped_attrs = _values(_array(table, "dropped_attributes_count"), 0)
    events = _struct_lists(_array(table, "events"), _events)
    dropped_events = _values(_array(table, "dropped_events_count"), 0)
    links = _struct_lists(_array(table, "links"), _links)
    dropped_links = _values(_array(table, "dropped_links_count"), 0)
    codes = _values(_array(table, "status_code"), 0)
    messages = _values(_array(table, "status_message"), "")

    request = ExportTraceServiceRequest()
    for resource, r_url, scopes in groups.build(table):
        rs = request.resource_spans.add(resource=resource, schema_url=r_url)
        for scope, s_url, first, end in scopes:
            add = rs.scope_spans.add(scope=scope, schema_url=s_url).spans.add
            for i in range(first, end):
                code, message = codes[i], messages[i]
                add(
                    trace_id=trace_ids[i],
                    span_id=span_ids[i],
                    trace_state=trace_states[i],
                    parent_span_id=parent_ids[i],
                    flags=flags[i],
                    name=names[i],
                    kind=kinds[i],
                    start_time_unix_nano=starts[i],
                    end_time_unix_nano=ends[i],
                    attributes=attrs[i],
                    dropped_attributes_count=dropped_attrs[i],
                    events=events[i],
                    dropped_events_count=dropped_events[i],
                    links=links[i],
                    dropped_links_count=dropped_links[i],
                    status={"code": code, "message": message} if code or message else None,
                )
    return request


# ---------------------------------------------------------------------------------------------
# Logs


@gc_paused
def logs_to_otlp(table: pa.Table) -> ExportLogsServiceRequest:
    """Rebuild the OTLP request of a `logs_schema()` table."""
    groups = _Groups(table)
    table = _conform(table, logs_schema())
    times = _values(_array(table, "time_unix_nano"), 0)
    observed = _values(_array(table, "observed_time_unix_nano"), 0)
    severities = _values(_array(table, "severity_number"), 0)
    severity_texts = _values(_array(table, "severity_text"), "")
    body_array = _array(table, "body")
    bodies = _value_dicts(body_array)
    if body_array.null_count:
        valid = body_array.is_valid().to_pylist()
        bodies = [b if v else None for b, v in zip(bodies, valid, strict=True)]
    attrs = _attribute_lists(_array(table, "attributes"))
    dropped = _values(_array(table, "dropped_attributes_count"), 0)
    flags = _values(_array(table, "flags"), 0)
    trace_ids = _as_bytes(_array(table, "trace_id"))
    span_ids = _as_bytes(_array(table, "span_id"))
    event_names = _values(_array(table, "event_name"), "")

    request = ExportLogsServiceRequest()
    for resource, r_url, scopes in groups.build(table):
        rl = request.resource_logs.add(resource=resource, schema_url=r_url)
        for scope, s_url, first, end in scopes:
            add = rl.scope_logs.add(scope=scope, schema_url=s_url).log_records.add
            for i in range(first, end):
                add(
                    time_unix_nano=times[i],
                    observed_time_unix_nano=observed[i],
                    severity_number=severities[i],
                    severity_text=severity_texts[i],
                    body=bodies[i],
                    attributes=attrs[i],
                    dropped_attributes_count=dropped[i],
                    flags=flags[i],
                    trace_id=trace_ids[i],
                    span_id=span_ids[i],
                    event_name=event_names[i],
                )
    return request


# ---------------------------------------------------------------------------------------------
# Metrics

_DATA_MEMBERS: dict[int, str] = {
    MetricType.GAUGE: "gauge",
    MetricType.SUM: "sum",
    MetricType.HISTOGRAM: "histogram",
    MetricType.EXPONENTIAL_HISTOGRAM: "exponential_histogram",
    MetricType.SUMMARY: "summary",
}


def _number_fields(value_types: list[int], doubles: list[Any], ints: list[Any]) -> list[_Dict]:
    out: list[_Dict] = []
    for t, d, i in zip(value_types, doubles, ints, strict=True):
        if t == NumberValueType.DOUBLE:
            out.append({"as_double": d})
        elif t == NumberValueType.INT:
            out.append({"as_int": i})
        else:
            out.append({})
    return out


def _exemplars(items: pa.Array) -> list[_Dict]:
    attrs = _attribute_lists(items.field("filtered_attributes"))
    values = _number_fields(
        _values(items.field("value_type"), 0),
        items.field("value_double").to_pylist(),
        items.field("value_int").to_pylist(),
    )
    return [
        {"filtered_attributes": a, "time_unix_nano": t, "span_id": s, "trace_id": tr, **v}
        for a, t, v, s, tr in zip(
            attrs,
            _values(items.field("time_unix_nano"), 0),
            values,
            _as_bytes(items.field("span_id")),
            _as_bytes(items.field("trace_id")),
            strict=True,
        )
    ]


def _quantiles(items: pa.Array) -> list[_Dict]:
    return [
        {"quantile": q, "value": v}
        for q, v in zip(
            _values(items.field("quantile"), 0.0), _values(items.field("value"), 0.0), strict=True
        )
    ]


class _PointColumns:
    """The point columns of a metrics table as Python lists, read lazily (a gauge-only table
    never reads the histogram columns)."""

    def __init__(self, table: pa.Table):
        self._table = table
        self._cache: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str) -> list[Any]:
        array = _array(self._table, name)
        if name in ("attributes",):
            return _attribute_lists(array)
        if name == "exemplars":
            return _struct_lists(array, _exemplars)
        if name == "quantile_values":
            return _struct_lists(array, _quantiles)
        if pa.types.is_list(array.type):
            return _lists(array)
        if name == "number":
            raise KeyError(name)
        return array.to_pylist()  # type: ignore[no-any-return]

    def numbers(self) -> list[_Dict]:
        if "number" not in self._cache:
            self._cache["number"] = _number_fields(
                [t or 0 for t in self["value_type"]], self["value_double"], self["value_int"]
            )
        return self._cache["number"]


def _or0(value: Any) -> Any:
    return 0 if value is None else value


def _points(metric_type: int, c: _PointColumns, first: int, end: int) -> list[_Dict]:
    """The data point dicts of rows [first, end) of one metric."""
    attrs, starts, times, flags = c["attributes"], c["start_time_unix_nano"], c["time_unix_nano"], c["flags"]
    points: list[_Dict] = [
        {
            "attributes": attrs[i],
            "start_time_unix_nano": _or0(starts[i]),
            "time_unix_nano": _or0(times[i]),
            "flags": _or0(flags[i]),
        }
        for i in range(first, end)
    ]
    if metric_type in (MetricType.GAUGE, MetricType.SUM):
        numbers, exemplars = c.numbers(), c["exemplars"]
        for p, i in zip(points, range(first, end), strict=True):
            p.update(numbers[i])
            p["exemplars"] = exemplars[i]
    elif metric_type == MetricType.HISTOGRAM:
        count, sums, mins, maxs = c["count"], c["sum"], c["min"], c["max"]
        buckets, bounds, exemplars = c["bucket_counts"], c["explicit_bounds"], c["exemplars"]
        for p, i in zip(points, range(first, end), strict=True):
            p.update(
                count=_or0(count[i]),
                sum=sums[i],
                min=mins[i],
                max=maxs[i],
                bucket_counts=buckets[i],
                explicit_bounds=bounds[i],
                exemplars=exemplars[i],
            )
    elif metric_type == MetricType.EXPONENTIAL_HISTOGRAM:
        count, sums, mins, maxs, exemplars = c["count"], c["sum"], c["min"], c["max"], c["exemplars"]
        scale, zero_count, zero_threshold = c["scale"], c["zero_count"], c["zero_threshold"]
        p_off, p_counts = c["positive_offset"], c["positive_bucket_counts"]
        n_off, n_counts = c["negative_offset"], c["negative_bucket_counts"]
        for p, i in zip(points, range(first, end), strict=True):
            p.update(
                count=_or0(count[i]),
                sum=sums[i],
                min=mins[i],
                max=maxs[i],
                scale=_or0(scale[i]),
                zero_count=_or0(zero_count[i]),
                zero_threshold=_or0(zero_threshold[i]),
                positive={"offset": _or0(p_off[i]), "bucket_counts": p_counts[i]},
                negative={"offset": _or0(n_off[i]), "bucket_counts": n_counts[i]},
                exemplars=exemplars[i],
            )
    elif metric_type == MetricType.SUMMARY:
        count, sums, quantiles = c["count"], c["sum"], c["quantile_values"]
        for p, i in zip(points, range(first, end), strict=True):
            p.update(count=_or0(count[i]), sum=_or0(sums[i]), quantile_values=quantiles[i])
    else:
        raise MalformedData(f"unknown metric_type {metric_type} with data points")
    return points


@gc_paused
def metrics_to_otlp(table: pa.Table) -> ExportMetricsServiceRequest:
    """Rebuild the OTLP request of a `metrics_schema()` table."""
    groups = _Groups(table)
    if "metric_index" in table.column_names:
        metric_ids = _array(table, "metric_index")
    else:
        metric_columns = [
            "metric_name",
            "metric_description",
            "metric_unit",
            "metric_metadata",
            "metric_type",
        ]
        metric_ids = _equal_runs(table, [c for c in metric_columns if c in table.column_names])
    table = _conform(table, metrics_schema())
    metric_starts = _run_starts(groups.resource_ids, groups.scope_ids, metric_ids)
    metric_ends = _ends(metric_starts, table.num_rows)
    metrics = table.select(
        [
            "metric_name",
            "metric_description",
            "metric_unit",
            "metric_metadata",
            "metric_type",
            "aggregation_temporality",
            "is_monotonic",
        ]
    ).take(pa.array(metric_starts, pa.int64()))
    names = _values(_array(metrics, "metric_name"), "")
    descriptions = _values(_array(metrics, "metric_description"), "")
    units = _values(_array(metrics, "metric_unit"), "")
    metadata = _attribute_lists(_array(metrics, "metric_metadata"))
    types = _values(_array(metrics, "metric_type"), 0)
    temporalities = _values(_array(metrics, "aggregation_temporality"), 0)
    monotonic = _values(_array(metrics, "is_monotonic"), False)
    has_point = _values(_array(table, "has_point"), True)
    point_columns = _PointColumns(table)

    request = ExportMetricsServiceRequest()
    m = 0
    for resource, r_url, scopes in groups.build(table):
        rm = request.resource_metrics.add(resource=resource, schema_url=r_url)
        for scope, s_url, _first, end in scopes:
            add = rm.scope_metrics.add(scope=scope, schema_url=s_url).metrics.add
            while m < len(metric_starts) and metric_ends[m] <= end:
                first, last = metric_starts[m], metric_ends[m]
                metric_type = types[m]
                if not any(has_point[first:last]):
                    points: list[_Dict] = []
                elif all(has_point[first:last]):
                    points = _points(metric_type, point_columns, first, last)
                else:
                    raise MalformedData("a metric mixes rows with and without has_point")
                data: _Dict | None = None
                if metric_type != MetricType.NONE:
                    data = {"data_points": points}
                    if metric_type in (
                        MetricType.SUM,
                        MetricType.HISTOGRAM,
                        MetricType.EXPONENTIAL_HISTOGRAM,
                    ):
                        data["aggregation_temporality"] = temporalities[m]
                    if metric_type == MetricType.SUM:
                        data["is_monotonic"] = monotonic[m]
                elif points:
                    raise MalformedData("a metric with metric_type NONE has data points")
                member = _DATA_MEMBERS.get(metric_type)
                if metric_type != MetricType.NONE and member is None:
                    raise MalformedData(f"unknown metric_type {metric_type}")
                kwargs: _Dict = {
                    "name": names[m],
                    "description": descriptions[m],
                    "unit": units[m],
                    "metadata": metadata[m],
                }
                if member is not None:
                    kwargs[member] = data
                add(**kwargs)
                m += 1
    return request
