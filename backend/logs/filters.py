"""The filters every log route shares, read from the request and turned into one bound SQL condition.

`q` (full text, see text_query), `match_case`, `service` (repeated), `severity` (severity texts,
repeated, any case), `min_severity` (a number, or trace|debug|info|warn|error|fatal), `trace_id`,
`attr=key:value` on LogAttributes and `resource=key:value` on ResourceAttributes (repeated; `key`
alone: the key is present), `start`/`end` (the range is [start, end]).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from backend.logs.text_query import TextQuery
from backend.service import NANOS, BadRequestError, Query

MAX_VALUES = 20
"""The most values of one repeated filter parameter."""
MAX_VALUE_CHARS = 1_000
"""The longest filter value."""
MAX_TIME_NS = 4_294_967_295 * NANOS
"""The last second otel_logs' TimestampTime (a DateTime) can hold."""
SEVERITY_NAMES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
"""OpenTelemetry's severity ranges by their first number."""
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


class Bindings:
    """Query parameters gathered while SQL is built: each value gets a fresh placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, value: object, type_: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


@dataclass(frozen=True)
class AttributeMatch:
    """`key` equals `value` in a map column; with `value` None, the key is present."""

    key: str
    value: str | None

    @classmethod
    def parse(cls, text: str, parameter: str) -> AttributeMatch:
        key, colon, value = text.partition(":")
        if not key:
            raise BadRequestError(f"{text!r} must be key:value or key", parameter)
        return cls(key, value if colon else None)

    def condition(self, column: str, bind: Bindings) -> str:
        key = bind(self.key, "String")
        if self.value is None:
            return f"mapContains({column}, {key})"
        if self.value == "":
            return f"(mapContains({column}, {key}) AND {column}[{key}] = '')"
        return f"{column}[{key}] = {bind(self.value, 'String')}"


@dataclass(frozen=True)
class LogFilter:
    """Which records a request is about; `where` renders it with bound parameters."""

    start_ns: int | None = None
    end_ns: int | None = None
    text: TextQuery = field(default_factory=TextQuery)
    services: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    """Severity texts, lower-cased."""
    min_severity: int | None = None
    trace_id: str = ""
    attributes: tuple[AttributeMatch, ...] = ()
    resources: tuple[AttributeMatch, ...] = ()

    @classmethod
    def from_query(cls, query: Query, time_range: bool = True) -> LogFilter:
        """The filters of a request; `time_range` False ignores start and end (the live tail)."""
        start_ns = end_ns = None
        if time_range:
            start_ns, end_ns = query.time_range()
            start_ns, end_ns = max(start_ns, 0), min(end_ns, MAX_TIME_NS)
        trace_id = query.text("trace_id").strip()
        if trace_id and not _TRACE_ID.match(trace_id):
            raise BadRequestError(f"{trace_id!r} is not 32 hex digits", "trace_id")
        return cls(
            start_ns=start_ns,
            end_ns=end_ns,
            text=TextQuery.parse(query.text("q"), _boolean(query, "match_case")),
            services=_values(query, "service"),
            severities=tuple(value.lower() for value in _values(query, "severity")),
            min_severity=_severity(query.text("min_severity").strip()),
            trace_id=trace_id.lower(),
            attributes=tuple(AttributeMatch.parse(v, "attr") for v in _values(query, "attr")),
            resources=tuple(AttributeMatch.parse(v, "resource") for v in _values(query, "resource")),
        )

    def where(self, bind: Bindings) -> str:
        """The condition on otel_logs (the time range also on TimestampTime, which the primary key sorts)."""
        conditions: list[str] = []
        if self.start_ns is not None:
            conditions.append(f"Timestamp >= fromUnixTimestamp64Nano({bind(self.start_ns, 'Int64')})")
            conditions.append(f"TimestampTime >= toDateTime({bind(self.start_ns // NANOS, 'Int64')})")
        if self.end_ns is not None:
            conditions.append(f"Timestamp <= fromUnixTimestamp64Nano({bind(self.end_ns, 'Int64')})")
            conditions.append(f"TimestampTime <= toDateTime({bind(self.end_ns // NANOS, 'Int64')})")
        if self.services:
            conditions.append(f"ServiceName IN {bind(list(self.services), 'Array(String)')}")
        if self.severities:
            conditions.append(f"lower(SeverityText) IN {bind(list(self.severities), 'Array(String)')}")
        if self.min_severity is not None:
            conditions.append(f"SeverityNumber >= {bind(self.min_severity, 'UInt8')}")
        if self.trace_id:
            conditions.append(f"TraceId = {bind(self.trace_id, 'String')}")
        conditions += [match.condition("LogAttributes", bind) for match in self.attributes]
        conditions += [match.condition("ResourceAttributes", bind) for match in self.resources]
        text = self.text.condition(bind)
        if text:
            conditions.append(text)
        return " AND ".join(conditions) or "1"


def fingerprint(query: Query, ignore: tuple[str, ...] = ("cursor", "limit")) -> bytes:
    """8 bytes that differ when the request's parameters (but those in `ignore`) differ."""
    items = sorted((k, v) for k, v in query.params.multi_items() if k not in ignore)
    return hashlib.blake2b(repr(items).encode(), digest_size=8).digest()


def _values(query: Query, name: str) -> tuple[str, ...]:
    values = [value for value in query.texts(name) if value != ""]
    if len(values) > MAX_VALUES:
        raise BadRequestError(f"is given {len(values)} times, at most {MAX_VALUES}", name)
    for value in values:
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequestError(f"a value is longer than {MAX_VALUE_CHARS} characters", name)
    return tuple(dict.fromkeys(values))


def _boolean(query: Query, name: str) -> bool:
    raw = query.text(name).strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise BadRequestError(f"{raw!r} is not true or false", name)


def _severity(raw: str) -> int | None:
    if not raw:
        return None
    if raw.lower() in SEVERITY_NAMES:
        return SEVERITY_NAMES[raw.lower()]
    try:
        number = int(raw)
    except ValueError:
        names = "|".join(SEVERITY_NAMES)
        raise BadRequestError(f"{raw!r} is not a severity number or {names}", "min_severity") from None
    if not 0 <= number <= 255:
        raise BadRequestError(f"{number} must be between 0 and 255", "min_severity")
    return number


__all__ = [
    "MAX_VALUES",
    "SEVERITY_NAMES",
    "AttributeMatch",
    "Bindings",
    "LogFilter",
    "fingerprint",
]
