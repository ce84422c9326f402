"""Expected column values computed in Python, independently of the SQL: pdata's AsString and ids."""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from exporters.clickhouse.any_value_bytes import ANY_VALUE_DEPTH

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def go_float(value: float) -> str:
    """Go's JSON number (ES6 form): shortest digits, positional for 1e-6 <= |value| < 1e21."""
    value = float(value)  # not a _GoFloat, whose repr is this function
    if value.is_integer() and abs(value) < 1e21:
        return ("-" if math.copysign(1.0, value) < 0 else "") + str(abs(int(value)))  # -0 keeps its sign
    shortest = float.__repr__(value)
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(shortest), "f")
    return re.sub(r"e([+-])0*(?=\d)", r"e\1", shortest)


def _raw(value: AnyValue, level: int) -> Any:
    kind = value.WhichOneof("value")
    if kind in ("array_value", "kvlist_value") and level >= ANY_VALUE_DEPTH - 1:
        # Documented limit: a container nested too deep is its serialized bytes in base64.
        return base64.b64encode(getattr(value, kind).SerializeToString()).decode()
    if kind == "array_value":
        return [_raw(v, level + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _raw(kv.value, level + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value":
        return _GoFloat(value.double_value)
    return getattr(value, kind) if kind else None


class _GoFloat(float):
    """A float json.dumps writes as Go does."""

    def __repr__(self) -> str:
        return go_float(self)


def _json(raw: Any) -> str:
    if isinstance(raw, _GoFloat):
        return go_float(raw)
    if isinstance(raw, dict):
        return "{" + ",".join(f"{_json(k)}:{_json(raw[k])}" for k in sorted(raw)) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(_json(v) for v in raw) + "]"
    # Go escapes U+2028 and U+2029 even without HTML escaping
    text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def as_string(value: AnyValue) -> str:
    """pdata's `Value.AsString()`."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        double = value.double_value
        if math.isnan(double):
            return "json: unsupported value: NaN"
        if math.isinf(double):
            return f"json: unsupported value: {'+' if double > 0 else '-'}Inf"
        return go_float(double)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    raw = _raw(value, 0)
    return "" if _non_finite(raw) else _json(raw)  # json.Marshal's error, ignored by AsString


def _non_finite(raw: Any) -> bool:
    if isinstance(raw, float):
        return not math.isfinite(raw)
    if isinstance(raw, dict):
        return any(_non_finite(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_non_finite(v) for v in raw)
    return False


def attributes(kvs: Any) -> dict[str, str]:
    """contrib's attribute map."""
    return {kv.key: as_string(kv.value) for kv in kvs}


def hex_id(data: bytes) -> str:
    """traceutil's hex id: '' when empty or all zeros."""
    return "" if not data.strip(b"\0") else data.hex()


def time_ns(ns: int) -> datetime:
    """A DateTime64(9) as clickhouse-connect returns it (naive UTC, microseconds)."""
    return (EPOCH + timedelta(microseconds=ns // 1000)).replace(tzinfo=None)
