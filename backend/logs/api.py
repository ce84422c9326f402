"""The log service's routes: search, facets, histogram and live tail, all taking the same filters.

Filters (see filters.py): `q` (words and "quoted phrases", any case unless `match_case=true`),
`service`, `severity`, `min_severity`, `trace_id`, `attr=key:value`, `resource=key:value` (repeatable;
all must match), and `start`/`end` (RFC 3339 or Unix seconds; by default the last hour; the tail
takes no range).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.logs.config import LogsServiceConfig
from backend.logs.cursor import Cursor
from backend.logs.facets import MAX_FACET_VALUES, facet_counts
from backend.logs.filters import LogFilter, fingerprint
from backend.logs.histogram import auto_step, check_step, histogram
from backend.logs.search import search
from backend.logs.sse import EventStream
from backend.logs.tail import TailHub, parse_event_id
from backend.service import NANOS, BadRequestError, Query, Store
from backend.streams import TooManyStreamsError


def log_routes(store: Store, config: LogsServiceConfig, hub: TailHub) -> list[BaseRoute]:
    """The routes under /v1/logs over `store`; live tails run in `hub`."""

    async def search_logs(request: Request) -> Response:
        """Search log records: full text `q`, filters and a time range; newest first, paged by `cursor`.

        `limit` records (100 by default) answer {"records": [...], "next_cursor": text or null}; pass
        next_cursor as `cursor` with the same other parameters for the next page.
        """
        query = Query(request, config)
        where = LogFilter.from_query(query)
        limit = query.limit(default=100)
        bound_to = fingerprint(query)
        raw = query.text("cursor")
        cursor = Cursor.decode(raw, bound_to) if raw else None
        page = await search(store, where, limit, cursor)
        next_cursor = page.next.encode(bound_to) if page.next is not None else None
        return JSONResponse({"records": page.records, "next_cursor": next_cursor})

    async def facets(request: Request) -> Response:
        """Top values of a field among matching records, with counts.

        `field`: service, severity, severity_number, scope, event_name, attr.<key> or resource.<key>.
        """
        query = Query(request, config)
        field = query.text("field").strip()
        if not field:
            raise BadRequestError("is required", "field")
        where = LogFilter.from_query(query)
        limit = query.integer("limit", 10, 1, min(MAX_FACET_VALUES, config.max_limit))
        return JSONResponse(await facet_counts(store, field, where, limit))

    async def count_histogram(request: Request) -> Response:
        """Matching records per time bucket of `step` (chosen when absent), per severity with by=severity."""
        query = Query(request, config)
        where = LogFilter.from_query(query)
        assert where.start_ns is not None and where.end_ns is not None
        step = query.duration("step")
        step_ns = (
            auto_step(where.start_ns, where.end_ns) if step is None else round(step.total_seconds() * NANOS)
        )
        check_step(where.start_ns, where.end_ns, step_ns)
        by = query.text("by").strip()
        if by not in ("", "severity"):
            raise BadRequestError(f"{by!r} is not a breakdown (severity)", "by")
        buckets = await histogram(store, where, step_ns, by_severity=by == "severity")
        return JSONResponse(
            {"step_ns": str(step_ns), "total": sum(b["count"] for b in buckets), "buckets": buckets}
        )

    async def tail(request: Request) -> Response:
        """Live tail: matching records as they land, as Server-Sent Events (resume with Last-Event-ID)."""
        query = Query(request, config)
        where = LogFilter.from_query(query, time_range=False)
        last = request.headers.get("last-event-id") or query.text("last_event_id")
        resume = parse_event_id(last) if last else None
        try:
            opened = hub.open(where, resume)
        except TooManyStreamsError as err:
            return JSONResponse({"error": str(err)}, status_code=429, headers={"Retry-After": "5"})
        return EventStream(opened.events(), on_close=opened.close)

    return [
        Route("/v1/logs", search_logs, methods=["GET"]),
        Route("/v1/logs/facets", facets, methods=["GET"]),
        Route("/v1/logs/histogram", count_histogram, methods=["GET"]),
        Route("/v1/logs/tail", tail, methods=["GET"]),
    ]


__all__ = ["log_routes"]
