"""The logs service's part of the graph: search with facets and a histogram, a trace's logs, the live tail."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from gateway.graph.common import (
    JSON,
    AttributeFilter,
    PageInfo,
    TimeRange,
    bad_input,
    check_first,
    decode_cursor,
    encode_cursor,
    from_nanos,
    range_params,
)
from gateway.graph.context import GraphContext, context_of
from gateway.graph.permissions import Viewer

if TYPE_CHECKING:
    from gateway.graph.traces import Span, Trace

MAX_PAGE = 1_000


@strawberry.type(description="One log record, as stored.")
class LogRecord:
    id: strawberry.ID
    time: datetime
    time_unix_nano: str
    severity_text: str
    severity_number: int
    service: str
    body: str
    trace_id: str
    span_id: str
    trace_flags: int
    attributes: JSON
    resource: JSON
    scope_name: str
    scope_version: str
    event_name: str

    @strawberry.field(description="The record's trace (from the traces service); null without a trace id.")
    def trace(self) -> Annotated[Trace, strawberry.lazy("gateway.graph.traces")] | None:
        from gateway.graph.traces import Trace

        return Trace(trace_id=strawberry.ID(self.trace_id)) if self.trace_id else None


def record_of(data: dict[str, Any]) -> LogRecord:
    """A LogRecord from the logs service's JSON."""
    return LogRecord(
        id=strawberry.ID(data["id"]),
        time=from_nanos(data["time_unix_nano"]),
        time_unix_nano=data["time_unix_nano"],
        severity_text=data["severity_text"],
        severity_number=data["severity_number"],
        service=data["service"],
        body=data["body"],
        trace_id=data["trace_id"],
        span_id=data["span_id"],
        trace_flags=data["trace_flags"],
        attributes=data["attributes"],
        resource=data["resource"],
        scope_name=data["scope"]["name"],
        scope_version=data["scope"]["version"],
        event_name=data.get("event_name", ""),
    )


@strawberry.input(name="LogFilter", description="Which records: every given condition must hold.")
class LogFilterInput:
    query: str | None = strawberry.field(
        default=None, description='Words and "quoted phrases", any case unless matchCase.'
    )
    match_case: bool = False
    services: list[str] | None = None
    severities: list[str] | None = None
    min_severity: str | None = None
    trace_id: str | None = None
    attributes: list[AttributeFilter] | None = None
    resource: list[AttributeFilter] | None = None

    def params(self) -> list[tuple[str, str]]:
        """The logs service's query parameters for this filter."""
        params: list[tuple[str, str]] = []
        if self.query:
            params.append(("q", self.query))
        if self.match_case:
            params.append(("match_case", "true"))
        params += [("service", s) for s in self.services or []]
        params += [("severity", s) for s in self.severities or []]
        if self.min_severity:
            params.append(("min_severity", self.min_severity))
        if self.trace_id:
            params.append(("trace_id", self.trace_id))
        params += [("attr", f"{a.key}:{a.value}") for a in self.attributes or []]
        params += [("resource", f"{a.key}:{a.value}") for a in self.resource or []]
        return params


@strawberry.type
class LogEdge:
    cursor: str
    node: LogRecord


@strawberry.type(description="A page of log records, newest first.")
class LogConnection:
    edges: list[LogEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[LogRecord]:
        return [edge.node for edge in self.edges]


@strawberry.type
class FacetValue:
    value: str
    count: int


@strawberry.type(description="The most common values of a field among the matching records.")
class Facet:
    field: str
    total: int
    distinct: int
    values: list[FacetValue]


@strawberry.type
class HistogramBucket:
    time: datetime
    count: int
    by_severity: JSON | None


@strawberry.type(description="Matching records per time bucket.")
class LogHistogram:
    step_seconds: float
    total: int
    buckets: list[HistogramBucket]


@strawberry.type(description="A log search: a page of records, and facets and a histogram of all matches.")
class LogSearch(LogConnection):
    params: strawberry.Private[list[tuple[str, str]]]

    @strawberry.field(
        description="Top values of `field`: service, severity, scope, attr.<key>, resource.<key>."
    )
    async def facets(self, info: Info[Any, Any], field: str, limit: int = 10) -> Facet | None:
        answer = await context_of(info).get(
            "logs", "/v1/logs/facets", [*self.params, ("field", field), ("limit", str(limit))]
        )
        return Facet(
            field=answer["field"],
            total=answer["total"],
            distinct=answer["distinct"],
            values=[FacetValue(value=v["value"], count=v["count"]) for v in answer["values"]],
        )

    @strawberry.field(description="Counts per bucket of `step` (a duration such as 1m; chosen when absent).")
    async def histogram(
        self, info: Info[Any, Any], step: str | None = None, by_severity: bool = False
    ) -> LogHistogram | None:
        params = [*self.params, *([("step", step)] if step else [])]
        if by_severity:
            params.append(("by", "severity"))
        answer = await context_of(info).get("logs", "/v1/logs/histogram", params)
        return LogHistogram(
            step_seconds=int(answer["step_ns"]) / 1e9,
            total=answer["total"],
            buckets=[
                HistogramBucket(
                    time=from_nanos(b["time_unix_nano"]), count=b["count"], by_severity=b.get("severity")
                )
                for b in answer["buckets"]
            ],
        )


def _resume_point(after: str | None) -> tuple[str | None, int]:
    """The service cursor a page is read from and how many of its records to skip (see `_page`)."""
    if not after:
        return None, 0
    state = decode_cursor(after)
    start, skip = state.get("c"), state.get("n", 0)
    if (
        not (start is None or isinstance(start, str))
        or not isinstance(skip, int)
        or not 0 <= skip <= MAX_PAGE
    ):
        raise bad_input("is not a cursor this API returned", "after")
    return start, skip


async def _page(
    context: GraphContext, params: list[tuple[str, str]], first: int, after: str | None
) -> tuple[list[LogEdge], PageInfo]:
    """A page of `first` records after the edge `after`.

    The service pages by key with a cursor per page, so an edge's cursor is the service cursor its
    page was read from and how many records of it come before the next edge; the last edge of a page
    with more after it carries the service's next cursor.
    """
    check_first(first, MAX_PAGE)
    start, skip = _resume_point(after)
    query = [*params, ("limit", str(skip + first)), *([("cursor", start)] if start else [])]
    answer = await context.get("logs", "/v1/logs", query)
    records = [record_of(r) for r in answer["records"][skip:]]
    next_cursor = answer.get("next_cursor")
    edges = [
        LogEdge(cursor=encode_cursor({"c": start, "n": skip + i + 1}), node=r) for i, r in enumerate(records)
    ]
    if edges and next_cursor:
        edges[-1].cursor = encode_cursor({"c": next_cursor, "n": 0})
    info = PageInfo(
        has_next_page=next_cursor is not None,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return edges, info


MARGIN_NS = 60 * 1_000_000_000
"""Logs are looked for from a minute before a span starts to a minute after it ends."""


def _around(start_ns: int, end_ns: int) -> list[tuple[str, str]]:
    return [("start", f"{(start_ns - MARGIN_NS) / 1e9:.9f}"), ("end", f"{(end_ns + MARGIN_NS) / 1e9:.9f}")]


async def trace_logs(
    root: Trace, info: Info[Any, Any], first: int = 100, after: str | None = None
) -> LogConnection | None:
    """Log records carrying the trace's id, from around the trace's time."""
    from gateway.graph.traces import load_trace

    context = context_of(info)
    spans = await load_trace(context, str(root.trace_id)) or []
    if not spans:
        return LogConnection(
            edges=[],
            page_info=PageInfo(
                has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
            ),
        )
    start = min(int(s.start_time_unix_nano) for s in spans)
    end = max(int(s.start_time_unix_nano) + round(s.duration_ms * 1e6) for s in spans)
    params = [("trace_id", str(root.trace_id)), *_around(start, end)]
    edges, page_info = await _page(context, params, first, after)
    return LogConnection(edges=edges, page_info=page_info)


async def span_logs(root: Span, info: Info[Any, Any], first: int = 100) -> LogConnection | None:
    """Log records carrying the span's id, from around the span's time."""
    start = int(root.start_time_unix_nano)
    params = [("trace_id", str(root.trace_id)), *_around(start, start + round(root.duration_ms * 1e6))]
    edges, _info = await _page(context_of(info), params, MAX_PAGE, None)
    mine = [edge for edge in edges if edge.node.span_id == root.span_id][:first]
    return LogConnection(
        edges=mine,
        page_info=PageInfo(has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None),
    )


@strawberry.type
class LogsQuery:
    @strawberry.field(permission_classes=[Viewer], description="Search log records, newest first.")
    async def logs(
        self,
        info: Info[Any, Any],
        filter: LogFilterInput | None = None,
        range: TimeRange | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> LogSearch | None:
        params = (filter or LogFilterInput()).params() + range_params(range)
        edges, page_info = await _page(context_of(info), params, first, after)
        return LogSearch(edges=edges, page_info=page_info, params=params)


@strawberry.type
class LogsSubscription:
    @strawberry.subscription(permission_classes=[Viewer], description="Matching log records as they arrive.")
    async def log_tail(
        self, info: Info[Any, Any], filter: LogFilterInput | None = None
    ) -> AsyncGenerator[LogRecord, None]:
        async for event in context_of(info).events(
            "logs", "/v1/logs/tail", (filter or LogFilterInput()).params()
        ):
            if event.event in ("", "message", "log", "record"):
                yield record_of(json.loads(event.data))


__all__ = [
    "LogConnection",
    "LogRecord",
    "LogSearch",
    "LogsQuery",
    "LogsSubscription",
    "span_logs",
    "trace_logs",
]
