"""Prometheus remote-write 1.0 messages (`prometheus.WriteRequest` and the types it holds), built at run time.

The descriptors follow prometheus/prompb `types.proto` and `remote.proto` field for field (no protoc
is needed): `WriteRequest{timeseries=1, metadata=3}`, `TimeSeries{labels=1, samples=2, exemplars=3,
histograms=4}`, `Label{name=1, value=2}`, `Sample{value=1, timestamp=2}`, `Exemplar{labels=1, value=2,
timestamp=3}`, the native `Histogram` (fields 1-16) with its `BucketSpan`, and `MetricMetadata{type=1,
metric_family_name=2, help=4, unit=5}`.

`RawWriteRequest` reads the same bytes but keeps each `TimeSeries` undecoded (a length-delimited
field reads the same as a message or as bytes): the receiver walks them itself, using a series'
label bytes as a cache key, and decodes a label set only the first time it sees it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = [
    "BucketSpan",
    "Exemplar",
    "Histogram",
    "Label",
    "MetricMetadata",
    "MetricType",
    "RawWriteRequest",
    "Sample",
    "TimeSeries",
    "WriteRequest",
]

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


class MetricType:
    """`MetricMetadata.MetricType` values (prometheus/prompb types.proto)."""

    UNKNOWN = 0
    COUNTER = 1
    GAUGE = 2
    HISTOGRAM = 3
    GAUGEHISTOGRAM = 4
    SUMMARY = 5
    INFO = 6
    STATESET = 7


def _message(
    file: descriptor_pb2.FileDescriptorProto,
    name: str,
    fields: list[tuple[str, int, int, int, str]],
    oneofs: dict[str, list[str]] | None = None,
) -> descriptor_pb2.DescriptorProto:
    """Add message `name` with (name, number, type, label, type_name) fields; `oneofs` groups some of them."""
    message = file.message_type.add(name=name)
    oneof_index: dict[str, int] = {}
    for index, (oneof, members) in enumerate((oneofs or {}).items()):
        message.oneof_decl.add(name=oneof)
        oneof_index.update(dict.fromkeys(members, index))
    for field_name, number, type_, label, type_name in fields:
        field = message.field.add(name=field_name, number=number, type=type_, label=label)
        if type_name:
            field.type_name = type_name
        if field_name in oneof_index:
            field.oneof_index = oneof_index[field_name]
    return message


def _enum(parent: Any, name: str, values: list[tuple[str, int]]) -> None:
    enum = parent.enum_type.add(name=name)
    for value_name, number in values:
        enum.value.add(name=value_name, number=number)


def _types_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="airis/prometheus/prompb.proto", package="prometheus")
    file.syntax = "proto3"
    metadata = _message(
        file,
        "MetricMetadata",
        [
            ("type", 1, _F.TYPE_ENUM, _OPTIONAL, ".prometheus.MetricMetadata.MetricType"),
            ("metric_family_name", 2, _F.TYPE_STRING, _OPTIONAL, ""),
            ("help", 4, _F.TYPE_STRING, _OPTIONAL, ""),
            ("unit", 5, _F.TYPE_STRING, _OPTIONAL, ""),
        ],
    )
    _enum(
        metadata,
        "MetricType",
        [
            ("UNKNOWN", 0),
            ("COUNTER", 1),
            ("GAUGE", 2),
            ("HISTOGRAM", 3),
            ("GAUGEHISTOGRAM", 4),
            ("SUMMARY", 5),
            ("INFO", 6),
            ("STATESET", 7),
        ],
    )
    _message(
        file,
        "Sample",
        [("value", 1, _F.TYPE_DOUBLE, _OPTIONAL, ""), ("timestamp", 2, _F.TYPE_INT64, _OPTIONAL, "")],
    )
    _message(
        file,
        "Exemplar",
        [
            ("labels", 1, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Label"),
            ("value", 2, _F.TYPE_DOUBLE, _OPTIONAL, ""),
            ("timestamp", 3, _F.TYPE_INT64, _OPTIONAL, ""),
        ],
    )
    histogram = _message(
        file,
        "Histogram",
        [
            ("count_int", 1, _F.TYPE_UINT64, _OPTIONAL, ""),
            ("count_float", 2, _F.TYPE_DOUBLE, _OPTIONAL, ""),
            ("sum", 3, _F.TYPE_DOUBLE, _OPTIONAL, ""),
            ("schema", 4, _F.TYPE_SINT32, _OPTIONAL, ""),
            ("zero_threshold", 5, _F.TYPE_DOUBLE, _OPTIONAL, ""),
            ("zero_count_int", 6, _F.TYPE_UINT64, _OPTIONAL, ""),
            ("zero_count_float", 7, _F.TYPE_DOUBLE, _OPTIONAL, ""),
            ("negative_spans", 8, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.BucketSpan"),
            ("negative_deltas", 9, _F.TYPE_SINT64, _REPEATED, ""),
            ("negative_counts", 10, _F.TYPE_DOUBLE, _REPEATED, ""),
            ("positive_spans", 11, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.BucketSpan"),
            ("positive_deltas", 12, _F.TYPE_SINT64, _REPEATED, ""),
            ("positive_counts", 13, _F.TYPE_DOUBLE, _REPEATED, ""),
            ("reset_hint", 14, _F.TYPE_ENUM, _OPTIONAL, ".prometheus.Histogram.ResetHint"),
            ("timestamp", 15, _F.TYPE_INT64, _OPTIONAL, ""),
            ("custom_values", 16, _F.TYPE_DOUBLE, _REPEATED, ""),
        ],
        oneofs={"count": ["count_int", "count_float"], "zero_count": ["zero_count_int", "zero_count_float"]},
    )
    _enum(histogram, "ResetHint", [("UNKNOWN", 0), ("YES", 1), ("NO", 2), ("GAUGE", 3)])
    _message(
        file,
        "BucketSpan",
        [("offset", 1, _F.TYPE_SINT32, _OPTIONAL, ""), ("length", 2, _F.TYPE_UINT32, _OPTIONAL, "")],
    )
    _message(
        file,
        "TimeSeries",
        [
            ("labels", 1, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Label"),
            ("samples", 2, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Sample"),
            ("exemplars", 3, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Exemplar"),
            ("histograms", 4, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Histogram"),
        ],
    )
    _message(
        file,
        "Label",
        [("name", 1, _F.TYPE_STRING, _OPTIONAL, ""), ("value", 2, _F.TYPE_STRING, _OPTIONAL, "")],
    )
    request = _message(
        file,
        "WriteRequest",
        [
            ("timeseries", 1, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.TimeSeries"),
            ("metadata", 3, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.MetricMetadata"),
        ],
    )
    request.reserved_range.add(start=2, end=3)  # Cortex's `source`
    # The receiver's view of the same bytes: each series kept as its undecoded bytes.
    _message(
        file,
        "RawWriteRequest",
        [
            ("timeseries", 1, _F.TYPE_BYTES, _REPEATED, ""),
            ("metadata", 3, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.MetricMetadata"),
        ],
    )
    return file


_POOL = descriptor_pool.DescriptorPool()
_FILE = _POOL.Add(_types_file())


def _class(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"prometheus.{name}"))


WriteRequest: Any = _class("WriteRequest")
TimeSeries: Any = _class("TimeSeries")
Label: Any = _class("Label")
Sample: Any = _class("Sample")
Exemplar: Any = _class("Exemplar")
Histogram: Any = _class("Histogram")
BucketSpan: Any = _class("BucketSpan")
MetricMetadata: Any = _class("MetricMetadata")
RawWriteRequest: Any = _class("RawWriteRequest")
