"""OTLP/JSON codec: Export*ServiceRequest <-> the JSON body of OTLP/HTTP (`application/json`).

The proto3 JSON mapping with OTLP's deviations: hex `traceId`/`spanId`/`parentSpanId`, integer enums,
unknown fields ignored. Decoding also accepts snake_case keys, enum names and int64s as numbers.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import threading
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.pdata.errors import MalformedData
from collector.pdata.gc_pause import gc_paused
from collector.signal import Signal

__all__ = ["MAX_VALUE_NESTING", "decode", "encode"]

_Conv = Callable[[Any], Any]

_REQUESTS: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}

# `bytes` fields carried as hex in OTLP/JSON (in Span, Link, LogRecord, Exemplar), with their width.
_HEX_IDS = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}

_T = FieldDescriptor
_INT_RANGES = {
    _T.TYPE_INT64: (-(2**63), 2**63 - 1, "an int64"),
    _T.TYPE_SINT64: (-(2**63), 2**63 - 1, "an int64"),
    _T.TYPE_SFIXED64: (-(2**63), 2**63 - 1, "an int64"),
    _T.TYPE_UINT64: (0, 2**64 - 1, "a uint64"),
    _T.TYPE_FIXED64: (0, 2**64 - 1, "a uint64"),
    _T.TYPE_INT32: (-(2**31), 2**31 - 1, "an int32"),
    _T.TYPE_SINT32: (-(2**31), 2**31 - 1, "an int32"),
    _T.TYPE_SFIXED32: (-(2**31), 2**31 - 1, "an int32"),
    _T.TYPE_UINT32: (0, 2**32 - 1, "a uint32"),
    _T.TYPE_FIXED32: (0, 2**32 - 1, "a uint32"),
}
_INT64_TYPES = {_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64, _T.TYPE_UINT64, _T.TYPE_FIXED64}
_FLOAT_TYPES = {_T.TYPE_DOUBLE, _T.TYPE_FLOAT}


# ---------------------------------------------------------------------------------------------------
# Decoding


class _FieldError(Exception):
    """A value that does not fit its field; `path` collects the location while the stack unwinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []  # innermost first: ["traceId", "[3]", "spans", ...]


def _show(value: Any) -> str:
    """A short JSON-ish rendering of a bad value for an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(path: list[str]) -> str:
    """`["traceId", "[3]", "spans"]` -> `spans[3].traceId`."""
    text = ""
    for part in reversed(path):
        text += part if part.startswith("[") or not text else "." + part
    return text


def _string(value: Any) -> str:
    """A JSON string as is."""
    if type(value) is str:
        return value
    raise _FieldError(f"{_show(value)} is not a string")


def _bool(value: Any) -> bool:
    """JSON true or false."""
    if type(value) is bool:
        return value
    raise _FieldError(f"{_show(value)} is not a boolean")


def _int_decoder(low: int, high: int, what: str) -> _Conv:
    """An integer given as a JSON number or a decimal string, range-checked."""

    def convert(value: Any) -> int:
        kind = type(value)
        if kind is int:
            if low <= value <= high:
                return value  # type: ignore[no-any-return]
        elif kind is str:
            digits = value[1:] if value[:1] == "-" else value
            if digits.isascii() and digits.isdigit():
                number = int(value)
                if low <= number <= high:
                    return number
        elif kind is float and value.is_integer():  # 1e3; orjson also yields floats beyond 64 bits
            number = int(value)
            if low <= number <= high:
                return number
        raise _FieldError(f"{_show(value)} is not {what}")

    return convert


_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


def _double(value: Any) -> float:
    """A JSON number, or a string: "NaN", "Infinity", "-Infinity" or a number's digits."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if kind is str:
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        if _JSON_NUMBER.match(value):
            return float(value)
    raise _FieldError(f"{_show(value)} is not a number")


def _enum_decoder(enum: EnumDescriptor) -> _Conv:
    """An enum as its integer (any int32: proto3 enums are open) or, leniently, its name."""
    names: dict[str, int] = {name: number.number for name, number in enum.values_by_name.items()}

    def convert(value: Any) -> int:
        if type(value) is int:
            if -(2**31) <= value < 2**31:
                return value
        elif type(value) is str:
            number = names.get(value)
            if number is not None:
                return number
        raise _FieldError(f"{_show(value)} is not a {enum.name} (an integer or a value name)")

    return convert


_URLSAFE = str.maketrans("-_", "+/")


def _base64(value: Any) -> bytes:
    """Standard base64; also URL-safe and unpadded, as the proto3 JSON mapping accepts."""
    if type(value) is str:
        text = value.translate(_URLSAFE) if "-" in value or "_" in value else value
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _FieldError(f"{_show(value)} is not base64")


def _hex_decoder(size: int) -> _Conv:
    """An id of `size` bytes as hex digits in either case; "" is the empty (invalid) id."""
    digits = size * 2

    def convert(value: Any) -> bytes:
        if type(value) is str:
            if len(value) == digits:
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raw = b""
                if len(raw) == size:  # fromhex skips spaces: the length proves all were digits
                    return raw
            elif not value:
                return b""
        raise _FieldError(f"{_show(value)} is not {digits} hex digits")

    return convert


def _repeated_decoder(convert: _Conv) -> _Conv:
    """A JSON array, each item by `convert`; an error names the item's index."""

    def convert_all(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _FieldError(f"{_show(value)} is not an array")
        out: list[Any] = []
        append = out.append
        try:
            for item in value:
                append(convert(item))
        except _FieldError as bad:
            bad.path.append(f"[{len(out)}]")  # the items before the bad one are in `out`
            raise
        return out

    return convert_all


# upb refuses to parse binary messages nested deeper than 100; an AnyValue level costs 2 (array) or 3
# (kvlist) of those, on top of up to 9 for the AnyValue of an exemplar's attribute: refuse what the
# binary decoder would.
MAX_VALUE_NESTING = 30
_nesting = threading.local()


def _nested(convert: _Conv) -> _Conv:
    """`convert` of an arrayValue/kvlistValue, counting how deep values nest (per thread)."""

    def convert_nested(value: Any) -> Any:
        depth: int = getattr(_nesting, "depth", 0)
        if depth >= MAX_VALUE_NESTING:
            raise _FieldError(f"values nested more than {MAX_VALUE_NESTING} deep")
        _nesting.depth = depth + 1
        try:
            return convert(value)
        finally:
            _nesting.depth = depth

    return convert_nested


# A field of a table: (constructor keyword, the JSON value's Python type that passes as is, decoder).
_Field = tuple[str, type | None, _Conv]


def _message_decoder(table: dict[str, _Field]) -> _Conv:
    """A JSON object -> constructor keywords of the message whose fields `table` maps by JSON key."""
    lookup = table.get

    def convert(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _FieldError(f"{_show(value)} is not an object")
        out: dict[str, Any] = {}
        for key, item in value.items():
            field = lookup(key)
            if field is None or item is None:  # unknown field, or null (the default)
                continue
            name, same, decoder = field
            if type(item) is same:
                out[name] = item
                continue
            try:
                out[name] = decoder(item)
            except _FieldError as bad:
                bad.path.append(key)
                raise
        return out

    return convert


# Decoders by (message full name, strict). The fast ones pass integers unchecked (the constructor
# range-checks them); when the constructor refuses, the strict ones find the culprit and its path.
_DECODERS: dict[tuple[str, bool], _Conv] = {}


def _decoder_for(descriptor: Descriptor, strict: bool) -> _Conv:
    """The (memoized) decoder of a message type, built from its descriptor."""
    known = _DECODERS.get((descriptor.full_name, strict))
    if known is not None:
        return known
    table: dict[str, _Field] = {}
    decoder = _DECODERS[descriptor.full_name, strict] = _message_decoder(table)  # before recursing
    for field in descriptor.fields:
        convert, same = _field_decoder(field, strict)
        if field.is_repeated:
            same = None
            if field.message_type is KeyValue.DESCRIPTOR and not strict:
                convert = _key_values
            else:
                convert = _repeated_decoder(convert)
        if field.containing_type is AnyValue.DESCRIPTOR and field.message_type is not None:
            convert = _nested(convert)
        table[field.json_name] = table[field.name] = (field.name, same, convert)
    return decoder


def _field_decoder(field: FieldDescriptor, strict: bool) -> tuple[_Conv, type | None]:
    """The decoder of one value of `field`, and the Python type that may skip it."""
    kind = field.type
    if kind == _T.TYPE_MESSAGE:
        return _decoder_for(field.message_type, strict), None
    if kind == _T.TYPE_STRING:
        return _string, str
    if kind == _T.TYPE_BOOL:
        return _bool, bool
    if kind in _FLOAT_TYPES:
        return _double, float
    if kind == _T.TYPE_ENUM:
        return _enum_decoder(field.enum_type), None if strict else int
    if kind == _T.TYPE_BYTES:
        size = _HEX_IDS.get(field.name)
        return (_base64 if size is None else _hex_decoder(size)), None
    low, high, what = _INT_RANGES[kind]
    return _int_decoder(low, high, what), None if strict else int


def _key_values(value: Any) -> list[dict[str, Any]]:
    """Attributes: a fast path for `{"key": k, "value": {"stringValue": s}}`, the rest generically."""
    if type(value) is not list:
        raise _FieldError(f"{_show(value)} is not an array")
    out: list[dict[str, Any]] = []
    append = out.append
    try:
        for kv in value:
            if type(kv) is dict:
                inner = kv.get("value")
                if type(inner) is dict and len(inner) == 1:  # one member: no oneof clash to report
                    text = inner.get("stringValue")
                    key = kv.get("key")
                    if type(text) is str and type(key) is str:
                        append({"key": key, "value": {"string_value": text}})
                        continue
            append(_key_value(kv))
    except _FieldError as bad:
        bad.path.append(f"[{len(out)}]")
        raise
    return out


_key_value = _decoder_for(KeyValue.DESCRIPTOR, strict=False)
_FAST = {signal: _decoder_for(cls.DESCRIPTOR, strict=False) for signal, cls in _REQUESTS.items()}
_STRICT = {signal: _decoder_for(cls.DESCRIPTOR, strict=True) for signal, cls in _REQUESTS.items()}


@gc_paused
def decode(signal: Signal, data: bytes | str) -> Message:
    """The signal's Export*ServiceRequest from OTLP/JSON; MalformedData names what is wrong and where."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MalformedData(f"not JSON: {error}") from None
    cls = _REQUESTS[signal]
    if type(document) is not dict:
        raise MalformedData(f"an OTLP/JSON {signal} request is a JSON object, not {_show(document)}")
    try:
        try:
            return cls(**_FAST[signal](document))
        except (TypeError, ValueError) as error:  # an integer out of range: find it
            _STRICT[signal](document)
            raise MalformedData(f"not an OTLP {signal} request: {error}") from None
    except _FieldError as bad:
        raise MalformedData(f"{_where(bad.path)}: {bad.message}") from None
    except RecursionError:
        raise MalformedData("values nested too deeply") from None


# ---------------------------------------------------------------------------------------------------
# Encoding


def _encode_double(value: float) -> float | str:
    """A finite double as a number; NaN and the infinities as the strings proto3 JSON uses."""
    if value - value == 0.0:  # finite; inf - inf and NaN - NaN are NaN
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _encode_base64(value: bytes) -> str:
    """Standard padded base64."""
    return base64.b64encode(value).decode("ascii")


_Encoder = Callable[[Message], dict[str, Any]]
_ENCODERS: dict[str, _Encoder] = {}


def _encoder_for(descriptor: Descriptor) -> _Encoder:
    """The (memoized) encoder of a message type: set fields only, by their lowerCamelCase names."""
    known = _ENCODERS.get(descriptor.full_name)
    if known is not None:
        return known
    table: dict[FieldDescriptor, tuple[str, _Conv | None]] = {}

    def encode_message(message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in message.ListFields():
            name, convert = table[field]
            out[name] = value if convert is None else convert(value)
        return out

    _ENCODERS[descriptor.full_name] = encode_message
    for field in descriptor.fields:
        table[field] = (field.json_name, _field_encoder(field))
    return encode_message


def _field_encoder(field: FieldDescriptor) -> _Conv | None:
    """The encoder of `field`'s value (a whole list if repeated); None when the value is JSON as is."""
    kind = field.type
    one: _Conv | None
    if kind == _T.TYPE_MESSAGE:
        if field.is_repeated and field.message_type is KeyValue.DESCRIPTOR:
            return _encode_key_values
        one = _encoder_for(field.message_type)
    elif kind in _INT64_TYPES:
        one = str
    elif kind in _FLOAT_TYPES:
        one = _encode_double
    elif kind == _T.TYPE_BYTES:
        one = bytes.hex if field.name in _HEX_IDS else _encode_base64
    else:  # string, bool, 32-bit integers, enums (as integers)
        one = None
    if not field.is_repeated:
        return one
    if one is None:
        return list
    convert = one
    return lambda values: [convert(value) for value in values]


def _encode_key_values(kvs: Any) -> list[dict[str, Any]]:
    """Attributes: a fast path for string values, the rest generically."""
    out: list[dict[str, Any]] = []
    append = out.append
    for kv in kvs:
        value = kv.value
        if value.WhichOneof("value") == "string_value" and kv.key:
            append({"key": kv.key, "value": {"stringValue": value.string_value}})
        else:
            append(_encode_key_value(kv))
    return out


_encode_key_value = _encoder_for(KeyValue.DESCRIPTOR)


@gc_paused
def encode(request: Message) -> bytes:
    """OTLP/JSON of an Export*ServiceRequest: what the collector's otlphttp exporter sends as json."""
    return orjson.dumps(_encoder_for(request.DESCRIPTOR)(request))
