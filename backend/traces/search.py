"""Trace search over otel_traces: matching trace ids, trace summaries, services and operations.

A trace matches when one of its spans matches every condition (as Jaeger searches): service,
operation, span kind, attribute equalities (on the span's or its resource's attributes, or a field
`SpanCondition` names), duration bounds and status, in a time range. Search returns the ids of the
traces whose matching spans are newest, then callers fetch those traces whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.service import BadRequestError, Store
from backend.traces.reader import rows_by_trace

KINDS = {
    "unspecified": "Unspecified",
    "internal": "Internal",
    "server": "Server",
    "client": "Client",
    "producer": "Producer",
    "consumer": "Consumer",
}
"""Span kinds as APIs name them (Jaeger's lower case) → as stored."""
STATUSES = {"unset": "Unset", "ok": "Ok", "error": "Error"}
"""Status codes as APIs name them → as stored."""


@dataclass(frozen=True)
class Attribute:
    """`key` = `value` on the span's or its resource's attributes (a few keys name span fields instead)."""

    key: str
    value: str


@dataclass
class TraceQuery:
    """What one search asks for; times in Unix nanoseconds, durations in nanoseconds."""

    start_ns: int
    end_ns: int
    limit: int
    service: str = ""
    operation: str = ""
    kind: str = ""  # as stored ("Server"), "" for any
    status: str = ""  # as stored ("Error"), "" for any
    attributes: list[Attribute] = field(default_factory=list)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None


@dataclass
class TraceSummary:
    """One trace in a search result."""

    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: list[str]


def kind_parameter(text: str, parameter: str) -> str:
    """A span kind as stored from its API name (any case); "" stays "" (any kind)."""
    if not text:
        return ""
    stored = KINDS.get(text.lower())
    if stored is None:
        raise BadRequestError(f"{text!r} is not a span kind ({', '.join(KINDS)})", parameter)
    return stored


def status_parameter(text: str, parameter: str) -> str:
    """A status code as stored from its API name (any case); "" stays "" (any status)."""
    if not text:
        return ""
    stored = STATUSES.get(text.lower())
    if stored is None:
        raise BadRequestError(f"{text!r} is not a status ({', '.join(STATUSES)})", parameter)
    return stored


# Keys that name a span field rather than an attribute: the tags Jaeger's OTLP translator derives
# (`error=true` is a span with status Error; `error` with another value is an attribute).
_FIELD_CONDITIONS: dict[str, tuple[str, dict[str, str] | None]] = {
    "span.kind": ("SpanKind", {k: v for k, v in KINDS.items() if k != "unspecified"}),
    "otel.status_code": ("StatusCode", {"ok": "Ok", "error": "Error", "unset": "Unset"}),
    "otel.status_description": ("StatusMessage", None),
    "otel.scope.name": ("ScopeName", None),
    "otel.scope.version": ("ScopeVersion", None),
    "w3c.tracestate": ("TraceState", None),
}


def _attribute_condition(index: int, attribute: Attribute, parameters: dict[str, object]) -> str:
    key, value = f"k{index}", f"v{index}"
    if attribute.key == "error" and attribute.value.lower() == "true":
        return "StatusCode = 'Error'"
    field_condition = _FIELD_CONDITIONS.get(attribute.key)
    if field_condition is not None:
        column, names = field_condition
        parameters[value] = names.get(attribute.value.lower(), attribute.value) if names else attribute.value
        return f"{column} = {{{value}:String}}"
    parameters[key], parameters[value] = attribute.key, attribute.value
    return (
        f"((SpanAttributes[{{{key}:String}}] = {{{value}:String}} AND mapContains(SpanAttributes, {{{key}:String}}))"
        f" OR (ResourceAttributes[{{{key}:String}}] = {{{value}:String}}"
        f" AND mapContains(ResourceAttributes, {{{key}:String}})))"
    )


def span_conditions(query: TraceQuery) -> tuple[str, dict[str, object]]:
    """The WHERE clause of spans matching `query` and its bound parameters."""
    parameters: dict[str, object] = {"start": query.start_ns, "end": query.end_ns}
    conditions = [
        "Timestamp >= fromUnixTimestamp64Nano({start:Int64})",
        "Timestamp <= fromUnixTimestamp64Nano({end:Int64})",
    ]
    for name, column, value in (
        ("service", "ServiceName", query.service),
        ("operation", "SpanName", query.operation),
        ("kind", "SpanKind", query.kind),
        ("status", "StatusCode", query.status),
    ):
        if value:
            conditions.append(f"{column} = {{{name}:String}}")
            parameters[name] = value
    if query.min_duration_ns is not None:
        conditions.append("Duration >= {min_duration:UInt64}")
        parameters["min_duration"] = query.min_duration_ns
    if query.max_duration_ns is not None:
        conditions.append("Duration <= {max_duration:UInt64}")
        parameters["max_duration"] = query.max_duration_ns
    for index, attribute in enumerate(query.attributes):
        conditions.append(_attribute_condition(index, attribute, parameters))
    return " AND ".join(conditions), parameters


FIRST_WINDOW_PARTS = 8
"""Search reads the newest 1/8 of the range first."""


async def find_trace_ids(store: Store, query: TraceQuery) -> list[str]:
    """Up to `query.limit` ids of matching traces, the one with the newest matching span first.

    The range is read newest first: its last eighth, then a window sized from the matches found so
    far to reach the limit (at least as long as what was read), or all the rest when none was found.
    Frequent matches read a fraction of the range in a query or two; rare ones read it once in all
    (each query has a fixed cost: the skip indexes of the range are read whole).
    """
    where, parameters = span_conditions(query)
    parameters["limit"] = query.limit
    sql = (
        f"SELECT TraceId, max(Timestamp) AS last FROM {store.table('otel_traces')} WHERE {where} "
        "GROUP BY TraceId ORDER BY last DESC, TraceId LIMIT {limit:UInt32}"
    )
    found: dict[str, None] = {}
    window = max((query.end_ns - query.start_ns) // FIRST_WINDOW_PARTS, 1)
    high = query.end_ns
    while True:
        low = max(query.start_ns, high - window + 1)
        for row in await store.rows(sql, {**parameters, "start": low, "end": high}):
            found.setdefault(str(row[0]))
        if len(found) >= query.limit or low <= query.start_ns:
            return list(found)[: query.limit]
        read = query.end_ns - low + 1
        if not found:
            window = low - query.start_ns
        else:
            window = max(read, int(read * (1.25 * query.limit / len(found) - 1)))
        high = low - 1


async def trace_summaries(store: Store, trace_ids: Sequence[str]) -> list[TraceSummary]:
    """A summary of each trace of `trace_ids` that has spans, in the order of `trace_ids`."""
    rows = await rows_by_trace(store, trace_ids, _SUMMARY_COLUMNS, group=True)
    found = {str(row[0]): _summary(row) for row in rows}
    return [found[trace_id] for trace_id in trace_ids if trace_id in found]


_SUMMARY_COLUMNS = """TraceId,
    argMin(ServiceName, (ParentSpanId != '', Timestamp)),
    argMin(SpanName, (ParentSpanId != '', Timestamp)),
    min(toUnixTimestamp64Nano(Timestamp)),
    max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)),
    count(),
    countIf(StatusCode = 'Error'),
    arraySort(groupUniqArray(ServiceName))"""


def _summary(row: Sequence[Any]) -> TraceSummary:
    trace_id, service, name, start, end, spans, errors, services = row
    return TraceSummary(
        trace_id=trace_id,
        root_service=service,
        root_name=name,
        start_ns=int(start),
        duration_ns=int(end) - int(start),
        span_count=int(spans),
        error_count=int(errors),
        services=list(services),
    )


def _time_condition(start_ns: int | None, end_ns: int | None, parameters: dict[str, object]) -> str:
    """`AND` conditions on Timestamp for the bounds given (none: every stored span, as TTL keeps them)."""
    conditions = ""
    if start_ns is not None:
        conditions += " AND Timestamp >= fromUnixTimestamp64Nano({start:Int64})"
        parameters["start"] = start_ns
    if end_ns is not None:
        conditions += " AND Timestamp <= fromUnixTimestamp64Nano({end:Int64})"
        parameters["end"] = end_ns
    return conditions


async def services(store: Store, start_ns: int | None = None, end_ns: int | None = None) -> list[str]:
    """The services with spans starting in [start_ns, end_ns] (unbounded sides: all stored), sorted."""
    parameters: dict[str, object] = {}
    when = _time_condition(start_ns, end_ns, parameters)
    rows = await store.rows(
        f"SELECT DISTINCT ServiceName FROM {store.table('otel_traces')} WHERE 1 {when} ORDER BY ServiceName",
        parameters,
    )
    return [str(row[0]) for row in rows]


async def operations(
    store: Store, service: str, kind: str = "", start_ns: int | None = None, end_ns: int | None = None
) -> list[tuple[str, str]]:
    """(span name, span kind as stored) of `service`'s spans in the range, of kind `kind` if given, sorted."""
    parameters: dict[str, object] = {"service": service, "kind": kind}
    when = _time_condition(start_ns, end_ns, parameters)
    kind_condition = "AND SpanKind = {kind:String}" if kind else ""
    rows = await store.rows(
        f"SELECT SpanName, SpanKind FROM {store.table('otel_traces')} "
        f"WHERE ServiceName = {{service:String}} {when} {kind_condition} "
        "GROUP BY SpanName, SpanKind ORDER BY SpanName, SpanKind",
        parameters,
    )
    return [(str(name), str(stored_kind)) for name, stored_kind in rows]


def api_kind(stored: str) -> str:
    """A stored span kind as APIs name it ("Server" → "server"; "Unspecified" → "")."""
    return "" if stored in ("Unspecified", "") else stored.lower()


__all__ = [
    "KINDS",
    "STATUSES",
    "Attribute",
    "TraceQuery",
    "TraceSummary",
    "api_kind",
    "find_trace_ids",
    "kind_parameter",
    "operations",
    "services",
    "span_conditions",
    "status_parameter",
    "trace_summaries",
]
