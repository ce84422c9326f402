"""A log record as the routes answer it: the columns read from otel_logs and their JSON shape.

Records are ordered by (Timestamp, tie): `tie` is a hash of the record's content, so records sharing
a timestamp keep one order across queries and merges (two records equal in time and content have
equal keys: they are told apart by position only, see cursor.py). otel_logs keeps no observed time
(contrib stores the observed time as Timestamp when the record has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backend.service import NANOS

TIE = (
    "cityHash64(ServiceName, SeverityNumber, SeverityText, Body, TraceId, SpanId, "
    "LogAttributes, ResourceAttributes, ScopeName, EventName)"
)
"""The tie-breaker between records of one timestamp (a UInt64)."""

COLUMNS = (
    f"toUnixTimestamp64Nano(Timestamp) AS time_ns, {TIE} AS tie, SeverityText, SeverityNumber, "
    "ServiceName, Body, TraceId, SpanId, TraceFlags, LogAttributes, ResourceAttributes, "
    "ScopeName, ScopeVersion, EventName"
)
"""What a record query selects, in the order `record` reads."""


def rfc3339(time_ns: int) -> str:
    """`2026-11-26T10:00:00.123456789Z`."""
    seconds, nanos = divmod(time_ns, NANOS)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def event_id(time_ns: int, tie: int) -> str:
    """A record's position as text: `<Unix ns>-<tie as 16 hex digits>`."""
    return f"{time_ns}-{tie:016x}"


def record(row: Sequence[Any]) -> dict[str, Any]:
    """The JSON of one row of `COLUMNS`."""
    (time_ns, tie, severity_text, severity_number, service, body, trace_id, span_id, flags) = row[:9]
    attributes, resource, scope_name, scope_version, event_name = row[9:]
    return {
        "id": event_id(int(time_ns), int(tie)),
        "time": rfc3339(int(time_ns)),
        "time_unix_nano": str(int(time_ns)),
        "severity_text": severity_text,
        "severity_number": int(severity_number),
        "service": service,
        "body": body,
        "trace_id": trace_id,
        "span_id": span_id,
        "trace_flags": int(flags),
        "attributes": dict(attributes),
        "resource": dict(resource),
        "scope": {"name": scope_name, "version": scope_version},
        "event_name": event_name,
    }


__all__ = ["COLUMNS", "TIE", "event_id", "record", "rfc3339"]
