"""The trace service's native JSON routes: trace by id (one or a batch), search, services and operations.

Times are Unix nanoseconds as decimal strings (they exceed JSON's exact integers, as in OTLP/JSON),
durations integer nanoseconds; span kinds and statuses in lower case (`server`, `error`);
attribute values as stored: strings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.service import NANOS, BadRequestError, Query, ServiceConfig, Store
from backend.traces import search
from backend.traces.model import Span
from backend.traces.reader import batch_spans, trace_id_parameter, trace_spans
from backend.traces.search import Attribute, TraceQuery, TraceSummary

DEFAULT_SEARCH_LIMIT = 20
MAX_BATCH = 100
"""The most trace ids one batch lookup may ask for."""


def span_json(span: Span) -> dict[str, Any]:
    """A span as the native API answers it."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "service": span.service,
        "kind": search.api_kind(span.kind) or "unspecified",
        "start_time_unix_nano": str(span.start_ns),
        "duration_ns": span.duration_ns,
        "status": {"code": span.status_code.lower(), "message": span.status_message},
        "trace_state": span.trace_state,
        "scope": {"name": span.scope_name, "version": span.scope_version},
        "attributes": span.attributes,
        "resource": span.resource,
        "events": [
            {"time_unix_nano": str(e.time_ns), "name": e.name, "attributes": e.attributes}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": link.trace_id,
                "span_id": link.span_id,
                "trace_state": link.trace_state,
                "attributes": link.attributes,
            }
            for link in span.links
        ],
    }


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    """A search result's trace as the native API answers it."""
    return {
        "trace_id": summary.trace_id,
        "root_service": summary.root_service,
        "root_name": summary.root_name,
        "start_time_unix_nano": str(summary.start_ns),
        "duration_ns": summary.duration_ns,
        "span_count": summary.span_count,
        "error_count": summary.error_count,
        "services": summary.services,
    }


def attribute_filters(texts: list[str], parameter: str) -> list[Attribute]:
    """`key:value` filters (the value may hold colons; the key may not be empty)."""
    filters = []
    for text in texts:
        key, colon, value = text.partition(":")
        if not colon or not key:
            raise BadRequestError(f"{text!r} is not key:value", parameter)
        filters.append(Attribute(key, value))
    return filters


def _nanos(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration.total_seconds() * NANOS)


def search_query(request: Request, config: ServiceConfig) -> TraceQuery:
    """The native search's parameters, checked and bounded."""
    query = Query(request, config)
    start_ns, end_ns = query.time_range()
    return filtered_query(query, start_ns, end_ns, query.limit(default=DEFAULT_SEARCH_LIMIT))


def filtered_query(query: Query, start_ns: int, end_ns: int, limit: int) -> TraceQuery:
    """A search of [start_ns, end_ns] for `limit` traces with the request's filters (service, operation,
    kind, status, attr, min_duration, max_duration), checked."""
    trace_query = TraceQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
        service=query.text("service"),
        operation=query.text("operation"),
        kind=search.kind_parameter(query.text("kind"), "kind"),
        status=search.status_parameter(query.text("status"), "status"),
        attributes=attribute_filters(query.texts("attr"), "attr"),
        min_duration_ns=_nanos(query.duration("min_duration")),
        max_duration_ns=_nanos(query.duration("max_duration")),
    )
    low, high = trace_query.min_duration_ns, trace_query.max_duration_ns
    if low is not None and high is not None and high < low:
        raise BadRequestError("must not be less than min_duration", "max_duration")
    return trace_query


def native_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """The native routes, bound to `store`."""

    async def get_trace(request: Request) -> Response:
        """Every span of one trace.

        The trace id is 32 hex digits (upper case or fewer digits accepted); 404 when no span has it.
        """
        trace_id = request.path_params["trace_id"]
        spans = await trace_spans(store, trace_id)
        if not spans:
            raise HTTPException(404, f"trace {trace_id} not found")
        return JSONResponse({"trace_id": spans[0].trace_id, "spans": [span_json(s) for s in spans]})

    async def get_traces(request: Request) -> Response:
        """Several traces by id at once: {"traces": [{"trace_id", "spans"}]}, in the order asked.

        Repeat trace_id (1 to 100 times; each as for /v1/traces/{trace_id}, repeats answered once);
        traces not found are left out. One query reads them all (for batching clients, e.g. DataLoaders).
        """
        texts = Query(request, config).texts("trace_id")
        if not texts:
            raise BadRequestError("is required (repeat it for each trace)", "trace_id")
        if len(texts) > MAX_BATCH:
            raise BadRequestError(f"{len(texts)} ids given, at most {MAX_BATCH} allowed", "trace_id")
        trace_ids = list(dict.fromkeys(trace_id_parameter(text) for text in texts))
        traces = await batch_spans(store, trace_ids)
        return JSONResponse(
            {
                "traces": [
                    {"trace_id": spans[0].trace_id, "spans": [span_json(s) for s in spans]}
                    for spans in traces
                ]
            }
        )

    async def find_traces(request: Request) -> Response:
        """Search traces: newest first, each summarized.

        A trace matches when one span matches every filter: service, operation, kind, status
        (unset|ok|error), repeated attr=key:value (span or resource attributes), min_duration,
        max_duration, in [start, end] (RFC 3339 or Unix seconds; default the last hour); limit (20).
        """
        trace_query = search_query(request, config)
        ids = await search.find_trace_ids(store, trace_query)
        summaries = await search.trace_summaries(store, ids)
        return JSONResponse({"traces": [summary_json(s) for s in summaries]})

    def optional_range(query: Query) -> tuple[int | None, int | None]:
        if not query.text("start") and not query.text("end"):
            return None, None  # every stored span (retention bounds them)
        return query.time_range(default_span=config.max_range)

    async def list_services(request: Request) -> Response:
        """Services with spans in [start, end] (default: all stored spans)."""
        return JSONResponse(
            {"services": await search.services(store, *optional_range(Query(request, config)))}
        )

    async def list_operations(request: Request) -> Response:
        """A service's operations (span name and kind) in [start, end] (default: all stored); kind filters."""
        query = Query(request, config)
        kind = search.kind_parameter(query.text("kind"), "kind")
        found = await search.operations(store, request.path_params["service"], kind, *optional_range(query))
        return JSONResponse(
            {"operations": [{"name": name, "kind": search.api_kind(k) or "unspecified"} for name, k in found]}
        )

    return [
        Route("/v1/traces", find_traces, methods=["GET"]),
        Route("/v1/traces/batch", get_traces, methods=["GET"]),  # before {trace_id}, which would take it
        Route("/v1/traces/{trace_id}", get_trace, methods=["GET"]),
        Route("/v1/services", list_services, methods=["GET"]),
        Route("/v1/services/{service}/operations", list_operations, methods=["GET"]),
    ]


__all__ = [
    "MAX_BATCH",
    "attribute_filters",
    "filtered_query",
    "native_routes",
    "search_query",
    "span_json",
    "summary_json",
]
