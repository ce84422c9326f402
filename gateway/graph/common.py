"""Types and inputs every part of the schema shares: time ranges, Relay page info, cursors, attributes."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry import scalars

from gateway.errors import ErrorCode, GatewayError

NANOS = 1_000_000_000

JSON = scalars.JSON
"""Attribute maps and label sets."""


@strawberry.federation.type(shareable=True, description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.input(description="A time range; `end` defaults to now and `start` to an hour before `end`.")
class TimeRange:
    start: datetime | None = None
    end: datetime | None = None


@strawberry.input(description="One attribute equality: attribute `key` equals `value`.")
class AttributeFilter:
    key: str
    value: str


def unix_seconds(moment: datetime) -> str:
    """`moment` as Unix seconds text, the services' time parameter (naive times are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def range_params(time_range: TimeRange | None) -> list[tuple[str, str]]:
    """The `start`/`end` query parameters of a time range (none: the service's default)."""
    if time_range is None:
        return []
    params = []
    if time_range.start is not None:
        params.append(("start", unix_seconds(time_range.start)))
    if time_range.end is not None:
        params.append(("end", unix_seconds(time_range.end)))
    return params


def from_nanos(value: int | str) -> datetime:
    """A datetime (UTC, microsecond precision) from Unix nanoseconds."""
    nanos = int(value)
    return datetime.fromtimestamp(nanos // 1000 / 1_000_000, tz=UTC)


def bad_input(message: str, argument: str) -> GatewayError:
    """A BAD_USER_INPUT error naming `argument`."""
    return GatewayError(ErrorCode.BAD_USER_INPUT, f"{argument}: {message}")


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque cursor holding `state`."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, argument: str = "after") -> dict[str, Any]:
    """The state in a cursor from `encode_cursor`; BAD_USER_INPUT when it is not one."""
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise bad_input("is not a cursor this API returned", argument) from None
    if not isinstance(state, dict):
        raise bad_input("is not a cursor this API returned", argument)
    return state


def check_first(first: int, maximum: int, argument: str = "first") -> int:
    """`first` within 1..maximum."""
    if first < 1 or first > maximum:
        raise bad_input(f"{first} must be between 1 and {maximum}", argument)
    return first


__all__ = [
    "JSON",
    "NANOS",
    "AttributeFilter",
    "PageInfo",
    "TimeRange",
    "bad_input",
    "check_first",
    "decode_cursor",
    "encode_cursor",
    "from_nanos",
    "range_params",
    "unix_seconds",
]
