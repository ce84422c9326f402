"""Decoding raw config maps into typed config dataclasses, reporting every mistake with its key path.

A component's config is a dataclass whose defaults are the component's defaults; the user's map is
laid over them. Field types: str, bool, int, float, timedelta (Go durations such as `5s`), Literal,
Enum, `X | None`, list, dict, nested dataclasses and Any. A present but empty section typed
`Section | None` is that section with its defaults, as in the collector. A dataclass may define
`validate(self) -> None` raising ValueError (or ConfigError with relative paths) for cross-field rules.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from collector.confmap import Plain, to_plain_data
from collector.errors import ConfigError, Problem

T = TypeVar("T")
SEP = "::"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def join(path: str, key: object) -> str:
    """The key path of `key` below `path`, with the collector's `::` separator."""
    return f"{path}{SEP}{key}" if path else str(key)


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration (`300ms`, `1h30m`, `-2s`, `0`); ValueError when it is not one."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s.lstrip("+-")
    if body == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"{text!r} is not a duration (expected a number with a unit, e.g. 5s, 200ms, 1m30s)")
    return timedelta(seconds=sign * seconds)


def format_duration(value: timedelta) -> str:
    """A Go-style duration string (`5s`, `200ms`, `1m30s`) that `parse_duration` reads back."""
    micros = round(value.total_seconds() * 1_000_000)
    if micros == 0:
        return "0s"
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    if micros < 1_000:
        return f"{sign}{micros}us"
    if micros < 1_000_000:
        return f"{sign}{micros / 1000:g}ms"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = f"{rest / 1_000_000:.6f}".rstrip("0").rstrip(".")
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + f"{seconds}s"
    return sign + text.removesuffix("0s") if (hours or minutes) and rest == 0 else sign + text


def _describe(raw: object) -> str:
    if isinstance(raw, Mapping):
        return "a map"
    if isinstance(raw, list):
        return "a list"
    if raw is None or (isinstance(raw, Plain) and raw.value is None):
        return "null"
    return repr(str(raw)) if isinstance(raw, str) else repr(raw)


def _is_null(raw: object) -> bool:
    return raw is None or (isinstance(raw, Plain) and raw.value is None)


def _scalar(raw: object) -> object:
    return raw.value if isinstance(raw, Plain) else raw


class _Decoder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def value(self, tp: Any, raw: object, path: str) -> Any:
        """Decode `raw` as `tp`; on a mistake record it and return the `_INVALID` sentinel."""
        origin = get_origin(tp)
        if tp is Any or tp is object:
            return to_plain_data(raw)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"unsupported config field type {tp!r}")
            if _is_null(raw) and not dataclasses.is_dataclass(args[0]):
                return None  # a present key with an empty body means "on, with defaults" for sections
            return self.value(args[0], raw, path)
        if origin is Literal:
            choices = get_args(tp)
            value = str(raw) if isinstance(raw, str) else raw
            if value not in choices:
                self.fail(path, f"{_describe(raw)} is not one of {', '.join(map(str, choices))}")
                return _INVALID
            return value
        if origin is list:
            (item_tp,) = get_args(tp)
            if _is_null(raw):
                return []
            if not isinstance(raw, list):
                self.fail(path, f"expected a list, got {_describe(raw)}")
                return _INVALID
            items = [self.value(item_tp, item, join(path, i)) for i, item in enumerate(raw)]
            return _INVALID if _INVALID in items else items
        if origin in (dict, Mapping):
            _, value_tp = get_args(tp)
            if _is_null(raw):
                return {}
            if not isinstance(raw, Mapping):
                self.fail(path, f"expected a map, got {_describe(raw)}")
                return _INVALID
            out = {str(k): self.value(value_tp, v, join(path, k)) for k, v in raw.items()}
            return _INVALID if _INVALID in out.values() else out
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.dataclass(tp, raw, path)
        return self.scalar(tp, raw, path)

    def scalar(self, tp: Any, raw: object, path: str) -> Any:
        if isinstance(raw, Mapping | list):
            self.fail(path, f"expected {_expected(tp)}, got {_describe(raw)}")
            return _INVALID
        value = _scalar(raw)
        if tp is str:
            if value is None:
                self.fail(path, "expected a string, got null")
                return _INVALID
            return (
                str(raw)
                if isinstance(raw, str)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        if tp is bool and isinstance(value, bool):
            return value
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if tp is timedelta:
            if isinstance(value, timedelta):
                return value
            if isinstance(raw, str) or value == 0:
                try:
                    return parse_duration(str(raw))
                except ValueError as err:
                    self.fail(path, str(err))
                    return _INVALID
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            try:
                return tp(str(raw) if isinstance(raw, str) else value)
            except ValueError:
                choices = ", ".join(str(m.value) for m in tp)
                self.fail(path, f"{_describe(raw)} is not one of {choices}")
                return _INVALID
        self.fail(path, f"expected {_expected(tp)}, got {_describe(raw)}")
        return _INVALID

    def dataclass(self, cls: type[Any], raw: object, path: str) -> Any:
        if _is_null(raw):
            raw = {}
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a map, got {_describe(raw)}")
            return _INVALID
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs: dict[str, Any] = {}
        for key, item in raw.items():
            name = str(key)
            if name not in fields:
                valid = ", ".join(fields) or "none"
                self.fail(join(path, name), f"unknown key (valid keys here: {valid})")
                continue
            value = self.value(hints[name], item, join(path, name))
            if value is not _INVALID:
                kwargs[name] = value
        before = len(self.problems)
        try:
            obj = cls(**kwargs)
        except (TypeError, ValueError) as err:
            self.fail(path, str(err))
            return _INVALID
        if len(self.problems) == before:
            self.validate(obj, path)
        return obj

    def validate(self, obj: object, path: str) -> None:
        check = getattr(obj, "validate", None)
        if check is None:
            return
        try:
            check()
        except ConfigError as err:
            self.problems.extend(
                Problem(join(path, p.path) if p.path else path, p.message) for p in err.problems
            )
        except ValueError as err:
            self.fail(path, str(err))


class _Invalid:
    def __repr__(self) -> str:
        return "<invalid>"


_INVALID: Any = _Invalid()


def _expected(tp: Any) -> str:
    names = {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        timedelta: "a duration (e.g. 5s, 200ms)",
    }
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def decode(cls: type[T], raw: object, path: str = "") -> tuple[T | None, list[Problem]]:
    """Lay `raw` over the defaults of `cls`; return the config (None if unusable) and every problem."""
    decoder = _Decoder()
    obj = decoder.value(cls, raw, path)
    return (None if obj is _INVALID or decoder.problems else obj), decoder.problems


def encode(value: object) -> object:
    """The plain-data (YAML-ready) form of a config object, durations in Go's notation."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return to_plain_data(value)
