"""Just enough of the protobuf wire format to write OTLP metrics requests from pre-encoded parts.

The receiver encodes each series' attributes once and then joins bytes: a data point is its cached
attributes, a fixed64 time and a double whose 8 bytes are the sample's own (Prometheus and OTLP both
write doubles little-endian). Field numbers are those of opentelemetry-proto `metrics/v1`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from collector.pdata.protowire import varint

__all__ = [
    "AGGREGATION_CUMULATIVE",
    "NO_RECORDED_VALUE",
    "delimited",
    "double_field",
    "fixed64_field",
    "key_value",
    "packed_doubles",
    "packed_fixed64",
    "string_field",
    "time_field",
    "varint",
]

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")

AGGREGATION_CUMULATIVE = b"\x10\x02"
"""`aggregation_temporality: CUMULATIVE` (field 2 of Sum, Histogram and ExponentialHistogram)."""
NO_RECORDED_VALUE = 1
"""The data point flag Prometheus's stale marker becomes."""


def delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field (message, string or bytes) numbered `field`."""
    return bytes([(field << 3) | 2]) + varint(len(payload)) + payload


def string_field(field: int, text: str) -> bytes:
    """A string field; empty strings are left out, as proto3 does."""
    return delimited(field, text.encode()) if text else b""


def fixed64_field(field: int, value: int) -> bytes:
    """A fixed64 field (OTLP times and counts)."""
    return bytes([(field << 3) | 1]) + _FIXED64.pack(value)


def double_field(field: int, value: float) -> bytes:
    """A double field."""
    return bytes([(field << 3) | 1]) + _DOUBLE.pack(value)


def time_field(milliseconds: int) -> bytes:
    """`time_unix_nano` (field 3 of every OTLP data point) from Prometheus milliseconds."""
    return b"\x19" + _FIXED64.pack(max(0, milliseconds) * 1_000_000)


def packed_fixed64(field: int, values: Iterable[int]) -> bytes:
    """A packed repeated fixed64 field (histogram bucket counts)."""
    items = list(values)
    return delimited(field, struct.pack(f"<{len(items)}Q", *items)) if items else b""


def packed_doubles(field: int, values: Iterable[float]) -> bytes:
    """A packed repeated double field (histogram bounds)."""
    items = list(values)
    return delimited(field, struct.pack(f"<{len(items)}d", *items)) if items else b""


def key_value(key: str, value: str) -> bytes:
    """An OTLP `KeyValue` with a string value (not wrapped in its field)."""
    any_value = delimited(1, value.encode())
    return delimited(1, key.encode()) + delimited(2, any_value)
