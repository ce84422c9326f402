"""The Arrow layout of a Batch: one row per span, log record or metric data point.

Every row repeats its resource and scope (`resource_*`, `scope_*` columns); `resource_index` and
`scope_index` (and, for metrics, `metric_index`) number the groups the row came from, so the OTLP
nesting can be rebuilt. Indexes are ordinals over the whole table, not within the parent group.

Attributes are `list<struct<key, type, str, int, double, bool, bytes>>` where `type` is an
`AnyValueType` and exactly the field named by it is set. ARRAY and KVLIST values are stored in
`bytes` as the serialized `AnyValue` protobuf, so nesting of any depth survives unchanged. A log
body uses the same struct without `key`; a null body means the record had no body.

Metrics: one row per data point. A metric with no data points (or no data at all) becomes one row
with `has_point = false` and null point columns. `sum`, `min` and `max` are null when the point
does not carry them (histogram fields are optional in proto3); `value_type` tells which of
`value_double` / `value_int` a number point or exemplar set. `aggregation_temporality` is null for
gauges and summaries, `is_monotonic` is null except for sums.

This module imports pyarrow only when a schema is asked for, so the enums are free to import.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "AnyValueType",
    "MetricType",
    "NumberValueType",
    "attributes_type",
    "logs_schema",
    "metrics_schema",
    "traces_schema",
    "value_type",
]


class AnyValueType(IntEnum):
    """Which member of an OTLP `AnyValue` is set (the `type` field of a typed value)."""

    EMPTY = 0
    STRING = 1
    BOOL = 2
    INT = 3
    DOUBLE = 4
    BYTES = 5
    ARRAY = 6
    KVLIST = 7
    STRING_INDEX = 8  # `string_value_strindex` (profiles dictionaries), kept in `int`


class MetricType(IntEnum):
    """Which data member of an OTLP `Metric` is set (`NONE`: none is)."""

    NONE = 0
    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


class NumberValueType(IntEnum):
    """Which value a number data point or exemplar carries."""

    NONE = 0
    DOUBLE = 1
    INT = 2


def _value_fields() -> list[pa.Field]:
    import pyarrow as pa

    return [
        pa.field("type", pa.uint8(), nullable=False),
        pa.field("str", pa.string()),
        pa.field("int", pa.int64()),
        pa.field("double", pa.float64()),
        pa.field("bool", pa.bool_()),
        pa.field("bytes", pa.binary()),
    ]


@cache
def value_type() -> pa.StructType:
    """A typed `AnyValue`: `type` says which other field holds the value (see the module docstring)."""
    import pyarrow as pa

    return pa.struct(_value_fields())


@cache
def attributes_type() -> pa.ListType:
    """A list of typed key/values; ARRAY and KVLIST values are serialized `AnyValue` bytes."""
    import pyarrow as pa

    return pa.list_(pa.struct([pa.field("key", pa.string(), nullable=False), *_value_fields()]))


def _resource_scope_fields() -> list[pa.Field]:
    import pyarrow as pa

    entity_ref = pa.struct(
        [
            ("schema_url", pa.string()),
            ("type", pa.string()),
            ("id_keys", pa.list_(pa.string())),
            ("description_keys", pa.list_(pa.string())),
        ]
    )
    return [
        pa.field("resource_index", pa.int64(), nullable=False),
        pa.field("resource_attributes", attributes_type()),
        pa.field("resource_dropped_attributes_count", pa.uint32()),
        pa.field("resource_entity_refs", pa.list_(entity_ref)),
        pa.field("resource_schema_url", pa.string()),
        pa.field("scope_index", pa.int64(), nullable=False),
        pa.field("scope_name", pa.string()),
        pa.field("scope_version", pa.string()),
        pa.field("scope_attributes", attributes_type()),
        pa.field("scope_dropped_attributes_count", pa.uint32()),
        pa.field("scope_schema_url", pa.string()),
    ]


@cache
def traces_schema() -> pa.Schema:
    """One row per span."""
    import pyarrow as pa

    attrs = attributes_type()
    event = pa.struct(
        [
            ("time_unix_nano", pa.uint64()),
            ("name", pa.string()),
            ("attributes", attrs),
            ("dropped_attributes_count", pa.uint32()),
        ]
    )
    link = pa.struct(
        [
            ("trace_id", pa.binary(16)),
            ("span_id", pa.binary(8)),
            ("trace_state", pa.string()),
            ("attributes", attrs),
            ("dropped_attributes_count", pa.uint32()),
            ("flags", pa.uint32()),
        ]
    )
    return pa.schema(
        [
            *_resource_scope_fields(),
            pa.field("trace_id", pa.binary(16)),  # null when the span had an empty id
            pa.field("span_id", pa.binary(8)),
            pa.field("trace_state", pa.string()),
            pa.field("parent_span_id", pa.binary()),
            pa.field("flags", pa.uint32()),
            pa.field("name", pa.string()),
            pa.field("kind", pa.int32()),
            pa.field("start_time_unix_nano", pa.uint64()),
            pa.field("end_time_unix_nano", pa.uint64()),
            pa.field("attributes", attrs),
            pa.field("dropped_attributes_count", pa.uint32()),
            pa.field("events", pa.list_(event)),
            pa.field("dropped_events_count", pa.uint32()),
            pa.field("links", pa.list_(link)),
            pa.field("dropped_links_count", pa.uint32()),
            pa.field("status_code", pa.int32()),
            pa.field("status_message", pa.string()),
        ]
    )


@cache
def logs_schema() -> pa.Schema:
    """One row per log record."""
    import pyarrow as pa

    return pa.schema(
        [
            *_resource_scope_fields(),
            pa.field("time_unix_nano", pa.uint64()),
            pa.field("observed_time_unix_nano", pa.uint64()),
            pa.field("severity_number", pa.int32()),
            pa.field("severity_text", pa.string()),
            pa.field("body", value_type()),
            pa.field("attributes", attributes_type()),
            pa.field("dropped_attributes_count", pa.uint32()),
            pa.field("flags", pa.uint32()),
            pa.field("trace_id", pa.binary()),
            pa.field("span_id", pa.binary()),
            pa.field("event_name", pa.string()),
        ]
    )


@cache
def metrics_schema() -> pa.Schema:
    """One row per data point, plus one `has_point = false` row per metric without points."""
    import pyarrow as pa

    attrs = attributes_type()
    exemplar = pa.struct(
        [
            ("filtered_attributes", attrs),
            ("time_unix_nano", pa.uint64()),
            ("value_type", pa.uint8()),
            ("value_double", pa.float64()),
            ("value_int", pa.int64()),
            ("span_id", pa.binary()),
            ("trace_id", pa.binary()),
        ]
    )
    quantile = pa.struct([("quantile", pa.float64()), ("value", pa.float64())])
    return pa.schema(
        [
            *_resource_scope_fields(),
            pa.field("metric_index", pa.int64(), nullable=False),
            pa.field("metric_name", pa.string()),
            pa.field("metric_description", pa.string()),
            pa.field("metric_unit", pa.string()),
            pa.field("metric_metadata", attrs),
            pa.field("metric_type", pa.uint8()),
            pa.field("aggregation_temporality", pa.int32()),
            pa.field("is_monotonic", pa.bool_()),
            pa.field("has_point", pa.bool_(), nullable=False),
            pa.field("attributes", attrs),
            pa.field("start_time_unix_nano", pa.uint64()),
            pa.field("time_unix_nano", pa.uint64()),
            pa.field("flags", pa.uint32()),
            pa.field("value_type", pa.uint8()),
            pa.field("value_double", pa.float64()),
            pa.field("value_int", pa.int64()),
            pa.field("count", pa.uint64()),
            pa.field("sum", pa.float64()),
            pa.field("min", pa.float64()),
            pa.field("max", pa.float64()),
            pa.field("bucket_counts", pa.list_(pa.uint64())),
            pa.field("explicit_bounds", pa.list_(pa.float64())),
            pa.field("scale", pa.int32()),
            pa.field("zero_count", pa.uint64()),
            pa.field("zero_threshold", pa.float64()),
            pa.field("positive_offset", pa.int32()),
            pa.field("positive_bucket_counts", pa.list_(pa.uint64())),
            pa.field("negative_offset", pa.int32()),
            pa.field("negative_bucket_counts", pa.list_(pa.uint64())),
            pa.field("quantile_values", pa.list_(quantile)),
            pa.field("exemplars", pa.list_(exemplar)),
        ]
    )
