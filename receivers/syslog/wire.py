"""Protobuf wire encoding of OTLP log records, written by hand for speed.

Only the few messages a syslog record needs: `ExportLogsServiceRequest` > `ResourceLogs` >
`ScopeLogs` > `LogRecord`, and `KeyValue` / `AnyValue` attributes (strings, ints, kvlists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

from collector.pdata.protowire import VARINTS as _VARINTS
from collector.pdata.protowire import fixed64, len_field, varint

__all__ = [
    "AttrValue",
    "attribute_fields",
    "export_request",
    "fixed64",
    "int_attribute",
    "kvlist_attribute",
    "len_field",
    "resource_field",
    "string_attribute",
    "string_body",
    "varint",
]

AttrValue: TypeAlias = "str | int | Mapping[str, AttrValue]"

# LogRecord fields (tag bytes: field number << 3 | wire type).
TIME = b"\x09"  # 1 time_unix_nano, fixed64
SEVERITY_NUMBER = b"\x10"  # 2, varint
SEVERITY_TEXT = b"\x1a"  # 3, bytes
BODY = b"\x2a"  # 5, AnyValue
ATTRIBUTE = b"\x32"  # 6, KeyValue (repeated)
OBSERVED_TIME = b"\x59"  # 11 observed_time_unix_nano, fixed64
# AnyValue / KeyValue / KeyValueList fields.
STRING_VALUE = b"\x0a"  # AnyValue.string_value (1)
INT_VALUE = b"\x18"  # AnyValue.int_value (3), varint
KVLIST_VALUE = b"\x32"  # AnyValue.kvlist_value (6)
KEY = b"\x0a"  # KeyValue.key (1); also KeyValueList.values (1)
VALUE = b"\x12"  # KeyValue.value (2)
LOG_RECORD = b"\x12"  # ScopeLogs.log_records (2)


def _any_value(value: AttrValue) -> bytes:
    if isinstance(value, str):
        return len_field(STRING_VALUE, value.encode())
    if isinstance(value, int):
        return INT_VALUE + varint(value)
    return len_field(KVLIST_VALUE, b"".join(_key_value(k, v) for k, v in value.items()))


def _key_value(key: str, value: AttrValue) -> bytes:
    return len_field(KEY, len_field(KEY, key.encode()) + len_field(VALUE, _any_value(value)))


def string_attribute(key_field: bytes, value: bytes) -> bytes:
    """A LogRecord attribute field with a string value; `key_field` is `len_field(KEY, key)`."""
    size = len(value)
    if size >= 0x3F00 or len(key_field) > 0x80:
        return len_field(ATTRIBUTE, key_field + len_field(VALUE, len_field(STRING_VALUE, value)))
    value_size = _VARINTS[size]
    any_value = size + 1 + len(value_size)
    any_value_size = _VARINTS[any_value]
    key_value = len(key_field) + 1 + len(any_value_size) + any_value
    return b"".join(
        (b"\x32", _VARINTS[key_value], key_field, b"\x12", any_value_size, b"\x0a", value_size, value)
    )


def string_body(value: bytes) -> bytes:
    """The LogRecord `body` field holding a string."""
    size = len(value)
    if size >= 0x3F00:
        return len_field(BODY, len_field(STRING_VALUE, value))
    value_size = _VARINTS[size]
    return b"".join((b"\x2a", _VARINTS[size + 1 + len(value_size)], b"\x0a", value_size, value))


def int_attribute(key: str, value: int) -> bytes:
    """A LogRecord attribute field with an int value."""
    return len_field(ATTRIBUTE, _kv_body(key, value))


def kvlist_attribute(key: str, value: Mapping[str, AttrValue]) -> bytes:
    """A LogRecord attribute field holding a kvlist (nested maps of strings)."""
    return len_field(ATTRIBUTE, _kv_body(key, value))


def attribute_fields(attributes: Mapping[str, AttrValue]) -> bytes:
    """LogRecord attribute fields for a map of strings, ints and nested maps."""
    return b"".join(len_field(ATTRIBUTE, _kv_body(k, v)) for k, v in attributes.items())


def _kv_body(key: str, value: AttrValue) -> bytes:
    return len_field(KEY, key.encode()) + len_field(VALUE, _any_value(value))


def resource_field(attributes: Mapping[str, str]) -> bytes:
    """`ResourceLogs.resource` with these attributes (empty bytes when there are none)."""
    if not attributes:
        return b""
    body = b"".join(len_field(KEY, _kv_body(k, v)) for k, v in attributes.items())
    return len_field(b"\x0a", body)


def export_request(resource: bytes, records: Iterable[bytes]) -> bytes:
    """An ExportLogsServiceRequest with one resource and one (unnamed) scope holding `records`.

    Each record is an encoded LogRecord already wrapped as a `ScopeLogs.log_records` field.
    """
    scope_logs = b"".join(records)
    resource_logs = resource + len_field(b"\x12", scope_logs)
    return len_field(b"\x0a", resource_logs)
