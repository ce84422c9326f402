"""pdata's `Value.AsString()` in ClickHouse SQL over serialized AnyValue bytes (`otlp_sql.ATTRIBUTES` / `ANY_VALUE`).

Values render as the contrib exporter's attribute values: strings as they are, ints in decimal,
doubles as Go's JSON encoder (ES6 form), bools `true`/`false`, bytes base64, arrays and maps as
Go's `json.Marshal` of `AsRaw()` (map keys sorted, the last of duplicate keys wins, no HTML
escaping), an empty value as `""`. A container holding a NaN or ±Inf double is `""` (json.Marshal
fails on them and AsString ignores the error; a top-level NaN or ±Inf is the error's text).

An AnyValue holds one field (a oneof): its first byte is the tag, and a length-delimited payload
runs to the end after the varint length, whose size follows from the total length; a string value
(nearly all of them) is a substring of its bytes. A container inside a container is the base64 of
its serialized bytes (`ANY_VALUE_DEPTH` = 2, a documented limit). Lengths inside a container must
stay below 256 MiB (four varint bytes).

ClickHouse analyses a view's query on every insert, at roughly 0.1 ms per function and 0.5 ms per
lambda, and the containers' SQL is most of this one; `containers=False` leaves it out and makes
the query fail with `CONTAINERS_REFUSED` on an array or kvlist value instead, for a cheaper first
attempt that only requests holding one need to repeat (`ingest.ContainerFallback`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["ANY_VALUE_DEPTH", "CONTAINERS_REFUSED", "attributes_map", "value_string"]

ANY_VALUE_DEPTH: Final = 2
"""Levels of AnyValue nesting rendered as JSON; a container deeper down is the base64 of its bytes."""

CONTAINERS_REFUSED: Final = "an attribute value is an array or a kvlist: insert with containers=True"
"""The error message of a query built with `containers=False` that met a container value."""

# The tag byte (field number << 3 | wire type) of each AnyValue member, and of KeyValue's fields.
_STRING: Final = 10
_BOOL: Final = 16
_INT: Final = 24
_DOUBLE: Final = 33
_ARRAY: Final = 42
_KVLIST: Final = 50
_BYTES: Final = 58
_KEY: Final = 10
_VALUE: Final = 18


def _let(name: str, value: str, body: str) -> str:
    """`body` with `name` bound to `value`, which is evaluated once."""
    return f"arrayMap({name} -> {body}, [{value}])[1]"


def _parsed(value: str) -> str:
    """(tag, payload, bytes) of the serialized AnyValue `value` (tag 0 when empty).

    The payload of a length-delimited member starts after the tag and the varint length, whose
    size the total length tells; for other members it is unused.
    """
    size = f"length({value})"
    start = f"multiIf({size} <= 129, 3, {size} <= 16386, 4, {size} <= 2097155, 5, 6)"
    return f"(reinterpretAsUInt8({value}), substring({value}, {start}), {value})"


def _text(tag: str, payload: str, data: str, top: str) -> str:
    """A parsed AnyValue's text: its `AsString()` when `top`, else its JSON inside a container.

    In JSON, NaN and ±Inf are a NUL (json.Marshal refuses them) and a nested container is its bytes in base64.
    """
    double = f"reinterpretAsFloat64(substring({data}, 2, 8))"
    varint = (
        f"reinterpretAsInt64(arraySum(k -> bitShiftLeft(bitAnd(toUInt64(reinterpretAsUInt8("
        f"substring({data}, k + 2, 1))), 127), 7 * k), range(if({tag} = {_INT}, 10, 0))))"
    )
    non_finite = (
        f"if({top}, concat('json: unsupported value: ', "
        f"if(isNaN({double}), 'NaN', if({double} > 0, '+Inf', '-Inf'))), '\\0')"
    )
    return (
        f"multiIf({tag} = {_STRING}, if({top}, {payload}, toJSONString(toValidUTF8({payload}))), "
        f"{tag} = {_BYTES}, if({top}, base64Encode({payload}), concat('\"', base64Encode({payload}), '\"')), "
        f"{tag} = {_BOOL}, if(reinterpretAsUInt8(substring({data}, 2, 1)) = 0, 'false', 'true'), "
        f"{tag} = {_INT}, toString({varint}), "
        f"{tag} = {_DOUBLE}, if(isFinite({double}), "
        f"replaceRegexpOne(toString({double}), 'e([0-9])', 'e+\\\\1'), {non_finite}), "
        f"{tag} IN ({_ARRAY}, {_KVLIST}), concat('\"', base64Encode({payload}), '\"'), if({top}, '', 'null'))"
    )


def _elements(x: str) -> str:
    """(key, tag, payload, bytes) of each element of the parsed array or kvlist `x` (keys '' in an array).

    `r[i]` is where the payload of a field starting at byte i would start and end (`w`: the four
    bytes of its varint length); a small fold follows the entries from the first, each of which
    starts with a byte 0x0A (so there are no more entries than such bytes). A kvlist's entry (a
    KeyValue) holds an optional key field, then an optional value field.
    """
    c = f"{x}.2"
    size = (
        "1 + (bitAnd(w, 128) = 128) * (1 + (bitAnd(w, 32768) = 32768) * (1 + (bitAnd(w, 8388608) = 8388608)))"
    )
    length = (
        "bitAnd(bitAnd(w, 127) + bitAnd(bitShiftRight(w, 1), 16256) + bitAnd(bitShiftRight(w, 2), 2080768) "
        f"+ bitAnd(bitShiftRight(w, 3), 266338304), bitShiftLeft(toUInt32(1), 7 * ({size})) - 1)"
    )
    field = _let(
        "w",
        f"reinterpretAsUInt32(substring({c}, i + 1, 4))",
        f"(i + 1 + {size}, i + 1 + {size} + toUInt64({length}))",
    )
    fields = f"arrayMap(i -> {field}, range(1, if({x}.1 IN ({_ARRAY}, {_KVLIST}), length({c}) + 1, 1)))"
    starts = (
        f"arrayFold((acc, i) -> if(acc[-1] > length({c}), acc, arrayPushBack(acc, r[acc[-1]].2)), "
        f"range(countSubstrings({c}, '\\n')), [toUInt64(1)])"
    )

    def bytes_(start: str, end: str) -> str:
        return f"substring({c}, {start}, {end} - {start})"

    # b: the entry's payload (start, end); v: where a KeyValue's value field starts; s: the AnyValue
    is_map = f"{x}.1 = {_KVLIST}"
    has_key = f"{is_map} AND reinterpretAsUInt8(substring({c}, b.1, 1)) = {_KEY} AND b.1 < b.2"
    key = f"if({has_key}, {bytes_('r[b.1].1', 'r[b.1].2')}, '')"
    value = f"if({has_key}, r[b.1].2, b.1)"
    span = f"if(NOT {is_map}, b, if(v < b.2 AND reinterpretAsUInt8(substring({c}, v, 1)) = {_VALUE}, r[v], (0, 0)))"
    element = (
        f"({key}, reinterpretAsUInt8({bytes_('s.1', 's.1 + 1')}) * (s.1 < s.2), "
        f"{bytes_('r[s.1].1', 'r[s.1].2')}, {bytes_('s.1', 's.2')})"
    )
    entry = _let("v", value, _let("s", span, element))
    return _let("r", fields, f"arrayMap(q -> {_let('b', 'r[q]', entry)}, arrayPopBack({starts}))")


def _container_text(x: str) -> str:
    """Go's JSON of `AsRaw()` of the parsed array or kvlist `x` ('' when it holds NaN or ±Inf: AsString ignores the error)."""
    is_map = f"{x}.1 = {_KVLIST}"
    # Go's map: the last of duplicate keys wins, keys sorted bytewise; an array keeps its order
    last = "arrayReverse(arrayEnumerateUniq(arrayReverse(tupleElement(e, 1))))"
    elements = f"if({is_map}, arraySort(arrayFilter((p, u) -> u = 1, e, {last})), e)"
    key = f"if({is_map}, concat(toJSONString(toValidUTF8(p.1)), ':'), '')"
    json = f"concat(if({is_map}, '{{', '['), arrayStringConcat(arrayMap(p -> concat({key}, {_text('p.2', 'p.3', 'p.4', '0')}), {elements}), ','), if({is_map}, '}}', ']'))"
    return _let("e", _elements(x), _let("j", json, "if(position(j, '\\0') > 0, '', j)"))


def _as_string(x: str, containers: bool) -> str:
    """pdata's `AsString()` of the parsed AnyValue `x` (strings first: the short-circuit keeps them cheap)."""
    if containers:
        other = f"if({x}.1 IN ({_ARRAY}, {_KVLIST}), {_container_text(x)}, {_text(f'{x}.1', f'{x}.2', f'{x}.3', '1')})"
    else:
        other = f"if(throwIf({x}.1 IN ({_ARRAY}, {_KVLIST}), '{CONTAINERS_REFUSED}') = 0, {_text(f'{x}.1', f'{x}.2', f'{x}.3', '1')}, '')"
    return f"if({x}.1 = {_STRING}, {x}.2, {other})"


def attributes_map(expr: str, containers: bool = True) -> str:
    """SQL for the contrib exporter's `Map(LowCardinality(String), String)` of a raw KeyValue list `expr`.

    Without `containers`, an array or kvlist value fails the query with `CONTAINERS_REFUSED`.
    """
    return (
        f"mapFromArrays(arrayMap(a -> a.key, {expr}), "
        f"arrayMap(x -> {_as_string('x', containers)}, arrayMap(a -> {_parsed('a.value')}, {expr})))"
    )


def value_string(expr: str, containers: bool = True) -> str:
    """SQL for pdata's `AsString()` of the serialized AnyValue `expr` ('' when unset)."""
    return _let("x", _parsed(expr), _as_string("x", containers))
