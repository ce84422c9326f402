"""Stamping a tenant on every resource of an OTLP request, in bytes or in a parsed message.

The bytes path rewrites only each resource (the client's value of the attribute dropped, the
tenant's appended) and copies the scopes and their items as received, so its cost grows with the
resources, not the items. A request it cannot walk (wire groups, bad lengths) goes through the
message path, which also reports malformed data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import MalformedData
from collector.pdata.protowire import len_field, varint
from collector.signal import Signal

__all__ = ["stamp_otlp_bytes", "stamp_otlp_message"]

_REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
_RESOURCE_GROUPS: dict[Signal, str] = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}
# Field 1, length-delimited: the resource groups of a request, the resource of a group, the
# attributes of a resource, the key of a KeyValue and the string_value of an AnyValue.
_TAG_1 = b"\x0a"
_TAG_VALUE = b"\x12"  # KeyValue.value: field 2, length-delimited
_LEN = 2


class _UnwalkableError(Exception):
    """The bytes are not a request the fast path walks; the message path takes over."""


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _UnwalkableError
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) of each field in data[start:end]."""
    pos = start
    while pos < end:
        field_start = pos
        tag, pos = _varint(data, pos, end)
        wire_type = tag & 7
        if wire_type == 0:
            _, value_end = _varint(data, pos, end)
        elif wire_type == 1:
            value_end = pos + 8
        elif wire_type == _LEN:
            size, pos = _varint(data, pos, end)
            value_end = pos + size
        elif wire_type == 5:
            value_end = pos + 4
        else:
            raise _UnwalkableError  # groups (deprecated) or an invalid wire type
        if value_end > end or tag >> 3 == 0:
            raise _UnwalkableError
        yield tag >> 3, wire_type, field_start, pos, value_end
        pos = value_end


def _key(data: memoryview, start: int, end: int) -> bytes:
    """The `key` of the KeyValue in data[start:end] (the last one if repeated, as protobuf reads it)."""
    key = b""
    for number, wire_type, _, value_start, value_end in _fields(data, start, end):
        if number == 1 and wire_type == _LEN:
            key = bytes(data[value_start:value_end])
    return key


def _resource(
    raw: bytes, data: memoryview, parts: list[tuple[int, int]], key: bytes, stamped: bytes
) -> list[bytes | memoryview]:
    """The resource made of the `parts` (merged, as protobuf merges a repeated message field) with
    every attribute named `key` dropped and `stamped` (an `attributes` field) appended."""
    out: list[bytes | memoryview] = []
    for start, end in parts:
        if raw.find(key, start, end) < 0:  # the usual case: no attribute can be named `key`
            out.append(data[start:end])
            continue
        for number, wire_type, field_start, value_start, value_end in _fields(data, start, end):
            if (
                number == 1
                and wire_type == _LEN
                and raw.find(key, value_start, value_end) >= 0
                and _key(data, value_start, value_end) == key
            ):
                continue
            out.append(data[field_start:value_end])
    out.append(stamped)
    return out


def _stamp_bytes(raw: bytes, key: bytes, stamped: bytes) -> bytes:
    data = memoryview(raw)
    out: list[bytes | memoryview] = []
    for number, wire_type, field_start, group_start, group_end in _fields(data, 0, len(data)):
        if number != 1 or wire_type != _LEN:
            out.append(data[field_start:group_end])  # an unknown field, kept as received
            continue
        resources: list[tuple[int, int]] = []
        rest: list[memoryview] = []
        for inner, inner_type, inner_start, value_start, value_end in _fields(data, group_start, group_end):
            if inner == 1 and inner_type == _LEN:
                resources.append((value_start, value_end))
            else:
                rest.append(data[inner_start:value_end])  # scopes and schema_url, as received
        resource = len_field(_TAG_1, b"".join(_resource(raw, data, resources, key, stamped)))
        # The group's tag and new length, then its pieces: the bytes are copied once, by the last join.
        out.append(_TAG_1 + varint(len(resource) + sum(len(piece) for piece in rest)))
        out.append(resource)
        out.extend(rest)
    return b"".join(out)


def _attribute(key: str, value: str) -> bytes:
    """A resource's `attributes` field holding one KeyValue with a string value."""
    any_value = len_field(_TAG_1, value.encode())
    return len_field(_TAG_1, len_field(_TAG_1, key.encode()) + len_field(_TAG_VALUE, any_value))


def stamp_otlp_message(signal: Signal, request: Any, key: str, value: str) -> None:
    """Set the resource attribute `key` to the string `value` on every resource of `request`, in place,
    replacing whatever value (or values) the request held for it."""
    for group in getattr(request, _RESOURCE_GROUPS[signal]):
        attributes = group.resource.attributes
        for index in reversed([i for i, kv in enumerate(attributes) if kv.key == key]):
            del attributes[index]
        attributes.add(key=key).value.string_value = value


def stamp_otlp_bytes(signal: Signal, data: bytes, key: str, value: str) -> bytes:
    """`data` (a serialized Export*ServiceRequest of `signal`) with `key` = `value` on every resource.

    MalformedData if `data` is not such a request.
    """
    try:
        return _stamp_bytes(bytes(data), key.encode(), _attribute(key, value))
    except _UnwalkableError:
        pass
    request = _REQUEST_TYPES[signal]()
    try:
        request.ParseFromString(data)
    except DecodeError as err:
        raise MalformedData(f"invalid OTLP {signal.value} request: {err}") from None
    stamp_otlp_message(signal, request, key, value)
    return bytes(request.SerializeToString())
