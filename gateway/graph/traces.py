"""The traces service's part of the graph: services, traces, spans, search, service map, RED, critical path."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import strawberry
from strawberry.dataloader import DataLoader
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
from gateway.graph.logs import span_logs, trace_logs
from gateway.graph.permissions import Viewer

if TYPE_CHECKING:
    from gateway.graph.logs import LogConnection

MAX_SEARCH = 1_000
MAX_BATCH = 100


@strawberry.enum(description="OpenTelemetry span kinds.")
class SpanKind(Enum):
    UNSPECIFIED = "unspecified"
    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


@strawberry.enum(description="OpenTelemetry span status codes.")
class StatusCode(Enum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


@strawberry.type
class SpanStatus:
    code: StatusCode
    message: str


@strawberry.type
class SpanEvent:
    name: str
    time: datetime
    attributes: JSON


@strawberry.type
class SpanLink:
    trace_id: str
    span_id: str
    trace_state: str
    attributes: JSON


@strawberry.type
class InstrumentationScope:
    name: str
    version: str


@strawberry.federation.type(keys=["traceId spanId"], description="One span, as stored.")
class Span:
    trace_id: strawberry.ID
    span_id: strawberry.ID
    parent_span_id: str
    name: str
    service: str
    kind: SpanKind
    start_time: datetime
    start_time_unix_nano: str = strawberry.field(description="Exact start, Unix nanoseconds.")
    duration_ms: float
    status: SpanStatus
    trace_state: str
    scope: InstrumentationScope
    attributes: JSON
    resource: JSON
    events: list[SpanEvent]
    links: list[SpanLink]
    logs: Annotated[LogConnection, strawberry.lazy("gateway.graph.logs")] | None = strawberry.field(
        resolver=span_logs, description="Log records of this span (from the logs service)."
    )

    @classmethod
    async def resolve_reference(
        cls, info: Info[Any, Any], trace_id: strawberry.ID, span_id: strawberry.ID
    ) -> Span | None:
        spans = await load_trace(context_of(info), str(trace_id))
        return next((span for span in spans or [] if span.span_id == span_id), None)


def span_of(data: dict[str, Any]) -> Span:
    """A Span from the trace service's native JSON."""
    return Span(
        trace_id=strawberry.ID(data["trace_id"]),
        span_id=strawberry.ID(data["span_id"]),
        parent_span_id=data.get("parent_span_id") or "",
        name=data["name"],
        service=data["service"],
        kind=SpanKind(data.get("kind") or "unspecified"),
        start_time=from_nanos(data["start_time_unix_nano"]),
        start_time_unix_nano=str(data["start_time_unix_nano"]),
        duration_ms=int(data["duration_ns"]) / 1e6,
        status=SpanStatus(code=StatusCode(data["status"]["code"]), message=data["status"]["message"]),
        trace_state=data.get("trace_state") or "",
        scope=InstrumentationScope(name=data["scope"]["name"], version=data["scope"]["version"]),
        attributes=JSON(data.get("attributes") or {}),
        resource=JSON(data.get("resource") or {}),
        events=[
            SpanEvent(name=e["name"], time=from_nanos(e["time_unix_nano"]), attributes=e["attributes"])
            for e in data.get("events", [])
        ],
        links=[
            SpanLink(
                trace_id=link["trace_id"],
                span_id=link["span_id"],
                trace_state=link["trace_state"],
                attributes=link["attributes"],
            )
            for link in data.get("links", [])
        ],
    )


async def _load_traces(context: GraphContext, trace_ids: list[str]) -> list[list[Span] | None]:
    if len(trace_ids) == 1:  # the single lookup's plan is the fastest for one id
        answer = await context.get(
            "traces", f"/v1/traces/{quote(trace_ids[0], safe='')}", not_found_none=True
        )
        return [None if answer is None else [span_of(span) for span in answer["spans"]]]
    found: dict[str, list[Span]] = {}
    for start in range(0, len(trace_ids), MAX_BATCH):
        chunk = trace_ids[start : start + MAX_BATCH]
        answer = await context.get("traces", "/v1/traces/batch", [("trace_id", t) for t in chunk])
        for trace in answer["traces"]:
            found[trace["trace_id"].lower()] = [span_of(span) for span in trace["spans"]]
    return [found.get(trace_id.lower().rjust(32, "0")) for trace_id in trace_ids]


async def load_trace(context: GraphContext, trace_id: str) -> list[Span] | None:
    """A trace's spans through the operation's DataLoader (one batch call per tick), None if unknown."""
    loader: DataLoader[str, list[Span] | None] = context.loader(
        "traces", lambda ids: _load_traces(context, ids)
    )
    spans: list[Span] | None = await loader.load(trace_id)
    return spans


@strawberry.type
class CriticalPathSection:
    span_id: str
    service: str
    operation: str
    start_time: datetime
    duration_ms: float
    self_time_ms: float


@strawberry.type(description="The spans that set a trace's end-to-end latency, as Jaeger UI computes it.")
class CriticalPath:
    trace_id: str
    duration_ms: float
    sections: list[CriticalPathSection]


async def critical_path_of(context: GraphContext, trace_id: str) -> CriticalPath | None:
    answer = await context.get(
        "traces", f"/v1/traces/{quote(trace_id, safe='')}/critical-path", not_found_none=True
    )
    if answer is None:
        return None
    return CriticalPath(
        trace_id=answer["trace_id"],
        duration_ms=int(answer["duration_ns"]) / 1e6,
        sections=[
            CriticalPathSection(
                span_id=s["span_id"],
                service=s["service"],
                operation=s["operation"],
                start_time=from_nanos(s["start_ns"]),
                duration_ms=s["duration_ns"] / 1e6,
                self_time_ms=s["self_time_ns"] / 1e6,
            )
            for s in answer["path"]
        ],
    )


@strawberry.federation.type(keys=["traceId"], description="A trace: its spans and a summary of them.")
class Trace:
    trace_id: strawberry.ID
    summary: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field(description="Every span of the trace.")
    async def spans(self, info: Info[Any, Any]) -> list[Span]:
        return await load_trace(context_of(info), str(self.trace_id)) or []

    async def _summary(self, info: Info[Any, Any]) -> dict[str, Any]:
        if self.summary is None:
            self.summary = summarize(await self.spans(info))
        return self.summary

    @strawberry.field
    async def root_service(self, info: Info[Any, Any]) -> str:
        return str((await self._summary(info))["root_service"])

    @strawberry.field
    async def root_name(self, info: Info[Any, Any]) -> str:
        return str((await self._summary(info))["root_name"])

    @strawberry.field
    async def start_time(self, info: Info[Any, Any]) -> datetime:
        return from_nanos((await self._summary(info))["start_time_unix_nano"])

    @strawberry.field
    async def duration_ms(self, info: Info[Any, Any]) -> float:
        return int((await self._summary(info))["duration_ns"]) / 1e6

    @strawberry.field
    async def span_count(self, info: Info[Any, Any]) -> int:
        return int((await self._summary(info))["span_count"])

    @strawberry.field
    async def error_count(self, info: Info[Any, Any]) -> int:
        return int((await self._summary(info))["error_count"])

    @strawberry.field
    async def services(self, info: Info[Any, Any]) -> list[str]:
        return list((await self._summary(info))["services"])

    @strawberry.field(description="The trace's critical path.")
    async def critical_path(self, info: Info[Any, Any]) -> CriticalPath | None:
        return await critical_path_of(context_of(info), str(self.trace_id))

    logs: Annotated[LogConnection, strawberry.lazy("gateway.graph.logs")] | None = strawberry.field(
        resolver=trace_logs, description="Log records of this trace (from the logs service)."
    )

    @classmethod
    def resolve_reference(cls, trace_id: strawberry.ID) -> Trace:
        return cls(trace_id=trace_id)


def summarize(spans: list[Span]) -> dict[str, Any]:
    """A search-style summary computed from a trace's spans."""
    if not spans:
        return {
            "root_service": "",
            "root_name": "",
            "start_time_unix_nano": 0,
            "duration_ns": 0,
            "span_count": 0,
            "error_count": 0,
            "services": [],
        }
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if not span.parent_span_id or span.parent_span_id not in ids]
    root = min(roots or spans, key=lambda span: int(span.start_time_unix_nano))
    start = min(int(span.start_time_unix_nano) for span in spans)
    end = max(int(span.start_time_unix_nano) + round(span.duration_ms * 1e6) for span in spans)
    return {
        "root_service": root.service,
        "root_name": root.name,
        "start_time_unix_nano": start,
        "duration_ns": end - start,
        "span_count": len(spans),
        "error_count": sum(span.status.code is StatusCode.ERROR for span in spans),
        "services": sorted({span.service for span in spans}),
    }


@strawberry.type
class TraceEdge:
    cursor: str
    node: Trace


@strawberry.type(description="A page of traces, newest first.")
class TraceConnection:
    edges: list[TraceEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Trace]:
        return [edge.node for edge in self.edges]


@strawberry.input(description="Which traces: one span must match every given condition.")
class TraceFilter:
    service: str | None = None
    operation: str | None = None
    kind: SpanKind | None = None
    status: StatusCode | None = None
    attributes: list[AttributeFilter] | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None

    def params(self) -> list[tuple[str, str]]:
        """The trace service's query parameters for this filter."""
        params = [
            (name, value)
            for name, value in (("service", self.service), ("operation", self.operation))
            if value
        ]
        if self.kind is not None:
            params.append(("kind", self.kind.value))
        if self.status is not None:
            params.append(("status", self.status.value))
        params += [("attr", f"{a.key}:{a.value}") for a in self.attributes or []]
        if self.min_duration_ms is not None:
            params.append(("min_duration", f"{self.min_duration_ms}ms"))
        if self.max_duration_ms is not None:
            params.append(("max_duration", f"{self.max_duration_ms}ms"))
        return params


@strawberry.type
class Operation:
    name: str
    kind: SpanKind


async def operations_of(
    context: GraphContext, service: str, kind: SpanKind | None, time_range: TimeRange | None
) -> list[Operation]:
    params = range_params(time_range) + ([("kind", kind.value)] if kind else [])
    answer = await context.get("traces", f"/v1/services/{quote(service, safe='')}/operations", params)
    return [Operation(name=o["name"], kind=SpanKind(o["kind"])) for o in answer["operations"]]


@strawberry.federation.type(keys=["name"], description="A service that sent spans.")
class Service:
    name: str

    @strawberry.field(description="The service's operations (span names and kinds).")
    async def operations(
        self, info: Info[Any, Any], kind: SpanKind | None = None, range: TimeRange | None = None
    ) -> list[Operation]:
        return await operations_of(context_of(info), self.name, kind, range)

    @classmethod
    def resolve_reference(cls, name: str) -> Service:
        return cls(name=name)


@strawberry.type(description="Calls from one service to another.")
class ServiceMapEdge:
    parent: str
    child: str
    call_count: int
    error_count: int


@strawberry.type(description="The service dependency graph in a time range.")
class ServiceMap:
    nodes: list[Service]
    edges: list[ServiceMapEdge]


@strawberry.type(description="RED metrics of one operation (null: the whole service), per time bucket.")
class RedSeries:
    operation: str | None
    requests: list[int]
    errors: list[int]
    request_rate: list[float]
    error_rate: list[float | None]
    p50_ms: list[float | None]
    p90_ms: list[float | None]
    p99_ms: list[float | None]


@strawberry.type(description="Request rate, error rate and latency quantiles of a service's entry spans.")
class RedMetrics:
    service: str
    step_seconds: float
    timestamps: list[datetime]
    series: list[RedSeries]


def _resume_point(after: str) -> tuple[int, list[tuple[str, str]]]:
    """The offset and the service parameters (the first page's) held by a searchTraces cursor."""
    state = decode_cursor(after)
    offset, params = state.get("o", 0), state.get("p", [])
    valid = (
        isinstance(offset, int)
        and 0 <= offset <= MAX_SEARCH
        and isinstance(params, list)
        and all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in params)
    )
    if not valid:
        raise bad_input("is not a cursor this API returned", "after")
    return offset, [(name, value) for name, value in params]


async def _search(
    context: GraphContext, filter: TraceFilter, time_range: TimeRange | None, first: int, after: str | None
) -> TraceConnection:
    check_first(first, MAX_SEARCH)
    if after:
        offset, params = _resume_point(after)
    else:
        offset, params = 0, filter.params() + range_params(time_range)
        if not any(name == "end" for name, _ in params):
            params.append(("end", f"{datetime.now().timestamp():.6f}"))  # a fixed end: stable pages
    answer = await context.get(
        "traces", "/v1/traces", [*params, ("limit", str(min(offset + first + 1, MAX_SEARCH + 1)))]
    )
    found = answer["traces"][offset:]
    page = found[:first]
    edges = [
        TraceEdge(
            cursor=encode_cursor({"o": offset + i + 1, "p": params}),
            node=Trace(trace_id=strawberry.ID(s["trace_id"]), summary=s),
        )
        for i, s in enumerate(page)
    ]
    return TraceConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(found) > first,
            has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type
class TracesQuery:
    @strawberry.field(
        permission_classes=[Viewer], description="Services that sent spans (default: all stored)."
    )
    async def services(self, info: Info[Any, Any], range: TimeRange | None = None) -> list[Service] | None:
        answer = await context_of(info).get("traces", "/v1/services", range_params(range))
        return [Service(name=name) for name in answer["services"]]

    @strawberry.field(permission_classes=[Viewer], description="A service's operations.")
    async def operations(
        self, info: Info[Any, Any], service: str, kind: SpanKind | None = None, range: TimeRange | None = None
    ) -> list[Operation] | None:
        return await operations_of(context_of(info), service, kind, range)

    @strawberry.field(
        permission_classes=[Viewer], description="One trace by id (32 hex digits); null if unknown."
    )
    async def trace(self, info: Info[Any, Any], trace_id: strawberry.ID) -> Trace | None:
        spans = await load_trace(context_of(info), str(trace_id))
        return None if spans is None else Trace(trace_id=strawberry.ID(spans[0].trace_id))

    @strawberry.field(permission_classes=[Viewer], description="Traces matching a filter, newest first.")
    async def search_traces(
        self,
        info: Info[Any, Any],
        filter: TraceFilter | None = None,
        range: TimeRange | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> TraceConnection | None:
        return await _search(context_of(info), filter or TraceFilter(), range, first, after)

    @strawberry.field(permission_classes=[Viewer], description="Which services call which, with errors.")
    async def service_map(self, info: Info[Any, Any], range: TimeRange | None = None) -> ServiceMap | None:
        links = await context_of(info).get("traces", "/v1/dependencies", range_params(range))
        names = sorted({link["parent"] for link in links} | {link["child"] for link in links})
        return ServiceMap(
            nodes=[Service(name=name) for name in names],
            edges=[
                ServiceMapEdge(
                    parent=link["parent"],
                    child=link["child"],
                    call_count=link["call_count"],
                    error_count=link["error_count"],
                )
                for link in links
            ],
        )

    @strawberry.field(permission_classes=[Viewer], description="RED metrics of a service's entry spans.")
    async def red_metrics(
        self,
        info: Info[Any, Any],
        service: str,
        operation: str | None = None,
        span_kinds: list[SpanKind] | None = None,
        range: TimeRange | None = None,
        step: str | None = None,
    ) -> RedMetrics | None:
        params = [("service", service), *range_params(range)]
        if operation:
            params.append(("operation", operation))
        params += [("span_kind", kind.value) for kind in span_kinds or []]
        if step:
            params.append(("step", step))
        answer = await context_of(info).get("traces", "/v1/red", params)
        return RedMetrics(
            service=answer["service"],
            step_seconds=answer["step_ns"] / 1e9,
            timestamps=[from_nanos(t) for t in answer["timestamps_ns"]],
            series=[RedSeries(**series) for series in answer["series"]],
        )

    @strawberry.field(permission_classes=[Viewer], description="A trace's critical path; null if unknown.")
    async def critical_path(self, info: Info[Any, Any], trace_id: strawberry.ID) -> CriticalPath | None:
        return await critical_path_of(context_of(info), str(trace_id))


@strawberry.type
class TracesSubscription:
    @strawberry.subscription(permission_classes=[Viewer], description="New traces matching a filter, live.")
    async def new_traces(
        self, info: Info[Any, Any], filter: TraceFilter | None = None
    ) -> AsyncGenerator[Trace, None]:
        async for event in context_of(info).events(
            "traces", "/v1/traces/live", (filter or TraceFilter()).params()
        ):
            if event.event == "trace":
                summary = json.loads(event.data)
                yield Trace(trace_id=strawberry.ID(summary["trace_id"]), summary=summary)


__all__ = [
    "Span",
    "Trace",
    "TraceFilter",
    "TracesQuery",
    "TracesSubscription",
    "load_trace",
    "span_of",
]
