"""OTLP decoded by ClickHouse itself: a `.proto` schema, the matching input structure and pdata's `AsString` in SQL.

ClickHouse reads a serialized Export*ServiceRequest in the `ProtobufSingle` format with an inline
schema (`format_schema_source = 'string'`), so neither chDB nor a remote server needs schema files.
The schema is generated from opentelemetry-proto's Python descriptors (field names and numbers
stay the package's), keeping only the fields a table needs; ClickHouse skips the others.

`AnyValue` is recursive, which ClickHouse's Protobuf format cannot map, so it is unrolled
`ANY_VALUE_DEPTH` levels deep; a container nested deeper arrives as its serialized bytes and is
stored as base64 (documented limit). `any_value_string(expr)` renders a value the way pdata's
`Value.AsString()` does (the contrib exporter's attribute values): strings as they are, ints in
decimal, doubles as Go's JSON encoder (ES6 form), bools `true`/`false`, bytes base64, arrays and
maps as Go's `json.Marshal` of `AsRaw()` (map keys sorted, the last of duplicate keys wins, no
HTML escaping; `[]` / `{}` when empty, which ClickHouse reads as a present tuple with no values),
an empty value as `""`. A container holding a NaN or ±Inf double is `""`: json.Marshal fails on
them and AsString ignores the error (a top-level NaN or ±Inf is the error's text, as pdata has it).

For another table (metrics): `proto_schema(RequestType, spec)` + `input_structure(RequestType, spec)`
with a spec of the fields to read (`ATTRIBUTES` / `ANY_VALUE` mark KeyValue lists and values), then
`attributes_map(expr)` / `any_value_string(expr)` in the SELECT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = [
    "ANY_VALUE",
    "ANY_VALUE_DEPTH",
    "ATTRIBUTES",
    "Spec",
    "any_value_string",
    "attributes_map",
    "hex_id",
    "input_structure",
    "proto_schema",
]

ANY_VALUE_DEPTH: Final = 2
"""Levels of AnyValue nesting decoded into columns; deeper containers are kept as base64 of their bytes."""

ATTRIBUTES: Final = "attributes"
"""Spec marker: a `repeated KeyValue` field (attributes)."""
ANY_VALUE: Final = "any_value"
"""Spec marker: an `AnyValue` field (a log body)."""

Spec = Mapping[str, Any]
"""Field name -> None (a scalar), a nested Spec (a message) or ATTRIBUTES / ANY_VALUE."""

_PROTO_SCALARS: dict[int, str] = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
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
    "uint32": "UInt32",
    "uint64": "UInt64",
    "fixed32": "UInt32",
    "fixed64": "UInt64",
    "sfixed64": "Int64",
    "double": "Float64",
}
# The scalar members of AnyValue, in the order the SQL tests them.
_ANY_SCALARS = ("string_value", "bool_value", "int_value", "double_value", "bytes_value")


def _any_value_fields() -> dict[str, FieldDescriptor]:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    return dict(AnyValue.DESCRIPTOR.fields_by_name)


# -- the .proto text ---------------------------------------------------------------------------------


def _any_value_messages(depth: int | None = None) -> list[str]:
    """`AnyValue0` .. `AnyValue{depth-1}` with their array and kvlist messages."""
    depth = depth or ANY_VALUE_DEPTH
    fields = _any_value_fields()
    messages = []
    for level in range(depth):
        deeper = level + 1 < depth
        lines = [f"message AnyValue{level} {{"]
        for name in _ANY_SCALARS:
            field = fields[name]
            lines.append(f"  {_PROTO_SCALARS[field.type]} {name} = {field.number};")
        for name, container in (("array_value", "ArrayValue"), ("kvlist_value", "KeyValueList")):
            type_ = f"{container}{level}" if deeper else "bytes"
            lines.append(f"  {type_} {name} = {fields[name].number};")
        lines.append("}")
        messages.append("\n".join(lines))
        if deeper:
            messages.append(f"message ArrayValue{level} {{ repeated AnyValue{level + 1} values = 1; }}")
            messages.append(f"message KeyValueList{level} {{ repeated KeyValue{level} values = 1; }}")
            messages.append(f"message KeyValue{level} {{ string key = 1; AnyValue{level + 1} value = 2; }}")
    messages.append("message Attribute { string key = 1; AnyValue0 value = 2; }")
    return messages


def proto_schema(root: Descriptor, spec: Spec) -> str:
    """A proto3 schema whose message `Root` reads `spec`'s fields of `root` (wire-compatible)."""
    messages: list[str] = []

    def message(name: str, descriptor: Descriptor, spec: Spec) -> None:
        lines = [f"message {name} {{"]
        for field_name, sub in spec.items():
            field = descriptor.fields_by_name[field_name]
            label = "repeated " if _repeated(field) else ""
            if sub == ATTRIBUTES:
                type_ = "Attribute"
            elif sub == ANY_VALUE:
                type_ = "AnyValue0"
            elif sub is None:
                type_ = _PROTO_SCALARS[field.type]
            else:
                type_ = f"{name}_{field_name}"
                message(type_, field.message_type, sub)
            lines.append(f"  {label}{type_} {field_name} = {field.number};")
        lines.append("}")
        messages.append("\n".join(lines))

    message("Root", root, spec)
    return "\n".join(['syntax = "proto3";', *_any_value_messages(), *messages]) + "\n"


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


# -- the ClickHouse structure ------------------------------------------------------------------------


def _any_value_type(level: int = 0, depth: int | None = None) -> str:
    depth = depth or ANY_VALUE_DEPTH
    scalars = [
        "string_value Nullable(String)",
        "bool_value Nullable(Bool)",
        "int_value Nullable(Int64)",
        "double_value Nullable(Float64)",
        "bytes_value Nullable(String)",
    ]
    if level + 1 < depth:
        inner = _any_value_type(level + 1, depth)
        containers = [
            f"array_value Nullable(Tuple(values Array({inner})))",
            f"kvlist_value Nullable(Tuple(values Array(Tuple(key String, value {inner}))))",
        ]
    else:
        containers = ["array_value Nullable(String)", "kvlist_value Nullable(String)"]
    return f"Tuple({', '.join(scalars + containers)})"


def input_structure(root: Descriptor, spec: Spec) -> str:
    """The columns (`name Type, ...`) ClickHouse reads `proto_schema(root, spec)`'s Root into."""

    def column_type(field: FieldDescriptor, sub: Any) -> str:
        if sub == ATTRIBUTES:
            return f"Array(Tuple(key String, value {_any_value_type()}))"
        if sub == ANY_VALUE:
            type_ = _any_value_type()
        elif sub is None:
            type_ = _CH_SCALARS[_PROTO_SCALARS[field.type]]
        else:
            inner = ", ".join(
                f"{name} {column_type(field.message_type.fields_by_name[name], s)}" for name, s in sub.items()
            )
            type_ = f"Tuple({inner})"
        return f"Array({type_})" if _repeated(field) else type_

    return ", ".join(f"{name} {column_type(root.fields_by_name[name], sub)}" for name, sub in spec.items())


# -- SQL: pdata's AsString ---------------------------------------------------------------------------


def _go_double(expr: str) -> str:
    """Go's ES6-style float text: ClickHouse's shortest form with an explicit `+` in positive exponents."""
    return f"replaceRegexpOne(toString({expr}), 'e([0-9])', 'e+\\\\1')"


def _json_string(expr: str) -> str:
    """A JSON string literal as Go's encoder writes it (no HTML escaping; invalid UTF-8 replaced)."""
    return f"toJSONString(toValidUTF8({expr}))"


def _any_value_json(expr: str, level: int, depth: int | None = None) -> str:
    """JSON of `AsRaw()` for an AnyValue at `level` (Go's json.Marshal)."""
    depth = depth or ANY_VALUE_DEPTH
    scalars = [
        f"{expr}.string_value IS NOT NULL, {_json_string(f'{expr}.string_value')}",
        f"{expr}.bool_value IS NOT NULL, if({expr}.bool_value, 'true', 'false')",
        f"{expr}.int_value IS NOT NULL, toString({expr}.int_value)",
        # json.Marshal fails on NaN and ±Inf: a NUL byte (escaped everywhere else) marks the failure.
        f"{expr}.double_value IS NOT NULL, "
        f"if(isFinite({expr}.double_value), {_go_double(f'{expr}.double_value')}, '\\0')",
        f"{expr}.bytes_value IS NOT NULL, concat('\"', base64Encode({expr}.bytes_value), '\"')",
    ]
    if level + 1 >= depth:  # too deep: the container's serialized bytes, as a base64 JSON string
        containers = [
            f"{expr}.array_value IS NOT NULL, concat('\"', base64Encode({expr}.array_value), '\"')",
            f"{expr}.kvlist_value IS NOT NULL, concat('\"', base64Encode({expr}.kvlist_value), '\"')",
        ]
    else:
        containers = [_containers_json(expr, level, depth)]
    return f"multiIf({', '.join(scalars + containers)}, 'null')"


def _containers_json(expr: str, level: int, depth: int, top: bool = False) -> str:
    """The array/kvlist branch of multiIf, referencing the next level's SQL once (analysis stays linear)."""
    x, y = f"x{level}", f"y{level}"
    array = f"assumeNotNull({expr}.array_value).values"
    reversed_kvlist = f"arrayReverse(assumeNotNull({expr}.kvlist_value).values)"
    # Go's map: the last of duplicate keys wins (the first in reverse), keys sorted bytewise; an
    # array keeps its order. Only one of the two is set (a oneof), so elements are one list of
    # (prefix, value) pairs: '' for an array's, the JSON key and ':' for a map's.
    kvlist = (
        f"arraySort({x} -> {x}.key, arrayFilter(({x}, {y}) -> {y} = 1, {reversed_kvlist}, "
        f"arrayEnumerateUniq(arrayMap({x} -> {x}.key, {reversed_kvlist}))))"
    )
    pairs = (
        f"arrayConcat(arrayMap({x} -> ('', {x}), {array}), "
        f"arrayMap({x} -> (concat({_json_string(f'{x}.key')}, ':'), {x}.value), {kvlist}))"
    )
    value = _any_value_json(f"{x}.2", level + 1, depth)
    joined = f"arrayStringConcat(arrayMap({x} -> concat({x}.1, {value}), {pairs}), ',')"
    is_map = f"{expr}.array_value IS NULL"
    json = f"concat(if({is_map}, '{{', '['), {joined}, if({is_map}, '}}', ']'))"
    if top:  # AsString ignores json.Marshal's error: a container holding NaN or ±Inf is ''
        json = f"replaceRegexpOne({json}, '(?s)^[^\\\\x00]*\\\\x00.*', '')"  # one reference: cheaper analysis
    return f"{expr}.array_value IS NOT NULL OR {expr}.kvlist_value IS NOT NULL, {json}"


def any_value_string(expr: str) -> str:
    """SQL for pdata's `Value.AsString()` of the AnyValue tuple `expr` (read with `input_structure`)."""
    double = f"{expr}.double_value"
    # One multiIf (the scalars' JSON forms are their AsString but for strings and bytes): the
    # smaller the expression, the cheaper the view's analysis, which every insert pays.
    return (
        f"multiIf({expr}.string_value IS NOT NULL, {expr}.string_value, "
        f"{expr}.bytes_value IS NOT NULL, base64Encode({expr}.bytes_value), "
        f"{expr}.bool_value IS NOT NULL, if({expr}.bool_value, 'true', 'false'), "
        f"{expr}.int_value IS NOT NULL, toString({expr}.int_value), "
        f"isNaN({double}), 'json: unsupported value: NaN', "
        f"isInfinite({double}), if({double} > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), "
        f"{double} IS NOT NULL, {_go_double(double)}, "
        f"{_containers_json(expr, 0, ANY_VALUE_DEPTH, top=True)}, '')"
    )


def attributes_map(expr: str) -> str:
    """SQL for the contrib exporter's `Map(LowCardinality(String), String)` of a KeyValue list `expr`."""
    return (
        f"mapFromArrays(arrayMap(a -> a.key, {expr}), arrayMap(a -> {any_value_string('a.value')}, {expr}))"
    )


def hex_id(expr: str, width: int) -> str:
    """Lower-case hex of a trace or span id, or '' for an empty or all-zero id (traceutil's rule)."""
    return f"if({expr} = '' OR {expr} = repeat('\\0', {width}), '', lower(hex({expr})))"
