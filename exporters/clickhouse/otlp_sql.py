"""OTLP decoded by ClickHouse itself: a `.proto` schema and the matching input structure.

ClickHouse reads a serialized Export*ServiceRequest in the `ProtobufSingle` format with an inline
schema (`format_schema_source = 'string'`), so neither chDB nor a remote server needs schema files.
The schema is generated from opentelemetry-proto's Python descriptors (field names and numbers
stay the package's), keeping only the fields a table needs; ClickHouse skips the others.

`AnyValue` is recursive, which ClickHouse's Protobuf format cannot map: a value is read as its
serialized bytes (`ANY_VALUE`), and a KeyValue list as (key, serialized value) pairs
(`ATTRIBUTES`); `any_value_bytes` renders them in SQL as pdata's `AsString()` does. Two streams per
list instead of dozens of decoded columns keep both the insert and the view's analysis cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["ANY_VALUE", "ATTRIBUTES", "Spec", "hex_id", "input_structure", "proto_schema"]

ATTRIBUTES: Final = "attributes"
"""Spec marker: a `repeated KeyValue` field, read as `Array(Tuple(key String, value String))` (value: its bytes)."""
ANY_VALUE: Final = "any_value"
"""Spec marker: an `AnyValue` field (a log body), read as its serialized bytes."""

Spec = Mapping[str, Any]
"""Field name -> None (a scalar), a nested Spec (a message) or ATTRIBUTES / ANY_VALUE."""

_PROTO_SCALARS: dict[int, str] = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_ENUM: "int32",  # wire-compatible with an enum; read as a number
}
_CH_SCALARS: dict[str, str] = {
    "string": "String",
    "bytes": "String",
    "bool": "Bool",
    "int32": "Int32",
    "int64": "Int64",
    "sint32": "Int32",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "fixed32": "UInt32",
    "fixed64": "UInt64",
    "sfixed64": "Int64",
    "double": "Float64",
}
_KEY_VALUE: Final = "message KeyValue { string key = 1; bytes value = 2; }"


def proto_schema(root: Descriptor, spec: Spec) -> str:
    """A proto3 schema whose message `Root` reads `spec`'s fields of `root` (wire-compatible)."""
    messages = [_KEY_VALUE]

    def message(name: str, descriptor: Descriptor, spec: Spec) -> None:
        lines = [f"message {name} {{"]
        for field_name, sub in spec.items():
            field = descriptor.fields_by_name[field_name]
            label = "repeated " if field.is_repeated else ""
            if sub == ATTRIBUTES:
                type_ = "KeyValue"
            elif sub == ANY_VALUE:
                type_ = "bytes"
            elif sub is None:
                type_ = _PROTO_SCALARS[field.type]
            else:
                type_ = f"{name}_{field_name}"
                message(type_, field.message_type, sub)
            lines.append(f"  {label}{type_} {field_name} = {field.number};")
        lines.append("}")
        messages.append("\n".join(lines))

    message("Root", root, spec)
    return "\n".join(['syntax = "proto3";', *messages]) + "\n"


def input_structure(root: Descriptor, spec: Spec) -> str:
    """The columns (`name Type, ...`) ClickHouse reads `proto_schema(root, spec)`'s Root into."""

    def column_type(field: FieldDescriptor, sub: Any) -> str:
        if sub == ATTRIBUTES:
            return "Array(Tuple(key String, value String))"
        if sub == ANY_VALUE:
            type_ = "String"
        elif sub is None:
            type_ = _CH_SCALARS[_PROTO_SCALARS[field.type]]
        else:
            inner = ", ".join(
                f"{name} {column_type(field.message_type.fields_by_name[name], s)}" for name, s in sub.items()
            )
            type_ = f"Tuple({inner})"
        return f"Array({type_})" if field.is_repeated else type_

    return ", ".join(f"{name} {column_type(root.fields_by_name[name], sub)}" for name, sub in spec.items())


def hex_id(expr: str, width: int) -> str:
    """Lower-case hex of a trace or span id, or '' for an empty or all-zero id (traceutil's rule)."""
    return f"if({expr} = '' OR {expr} = repeat('\\0', {width}), '', lower(hex({expr})))"
