"""The trace service's native analytics routes (dependencies, RED metrics, latency, critical path).

JSON with snake_case fields; times are Unix nanoseconds (`..._ns`), latencies milliseconds (`..._ms`),
rates per second. Every range goes through `Query.time_range` (default: the last hour, at most
`max_range`); bad input is a 400 naming the parameter.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.service import NANOS, BadRequestError, Query, ServiceConfig, Store
from backend.traces.analytics import (
    MAX_BUCKETS,
    MAX_HISTOGRAM_BUCKETS,
    STORED_KINDS,
    LatencyDistribution,
    RedMetrics,
    SpanSelection,
    bucket_count,
    dependency_links,
    latency_distribution,
    red_metrics,
)
from backend.traces.critical_path import critical_path, self_times
from backend.traces.reader import trace_spans

MAX_NAME = 1_024
"""The longest service or operation name accepted."""
DEFAULT_HISTOGRAM_BUCKETS = 20
MIN_STEP_NS = 1_000_000
"""The shortest RED step: 1 ms."""
_KINDS = {kind.lower(): kind for kind in STORED_KINDS}


def _name(query: Query, parameter: str, required: bool) -> str:
    value = query.text(parameter).strip()
    if required and not value:
        raise BadRequestError("is required", parameter)
    if len(value) > MAX_NAME:
        raise BadRequestError(f"is longer than {MAX_NAME} characters", parameter)
    return value


def span_selection(query: Query) -> SpanSelection:
    """`service` (required), `operation`, and `span_kind`: entry (default), all, or kinds (repeated or a,b)."""
    service = _name(query, "service", required=True)
    operation = _name(query, "operation", required=False)
    words = [word.strip().lower() for text in query.texts("span_kind") for word in text.split(",")]
    words = [word for word in words if word]
    if not words or words == ["entry"]:
        return SpanSelection(service, operation)
    if words == ["all"]:
        return SpanSelection(service, operation, entry=False)
    unknown = [word for word in words if word not in _KINDS]
    if unknown:
        allowed = ", ".join(["entry", "all", *_KINDS])
        raise BadRequestError(
            f"{unknown[0]!r} is not one of {allowed} (entry and all stand alone)", "span_kind"
        )
    return SpanSelection(
        service, operation, tuple(dict.fromkeys(_KINDS[word] for word in words)), entry=False
    )


def _kinds_echo(selection: SpanSelection) -> list[str]:
    if selection.entry:
        return ["entry"]
    return [kind.lower() for kind in selection.kinds] or ["all"]


def _ns(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * NANOS + value.microseconds * 1_000


def red_step(query: Query, start_ns: int, end_ns: int) -> int:
    """`step` in ns: at least 1 ms and at most MAX_BUCKETS buckets; default ~100 buckets (whole seconds)."""
    step = query.duration("step")
    if step is None:
        return max(NANOS, math.ceil((end_ns - start_ns) / 100 / NANOS) * NANOS)
    step_ns = _ns(step)
    if step_ns < MIN_STEP_NS:
        raise BadRequestError("must be at least 1ms", "step")
    buckets = bucket_count(start_ns, end_ns, step_ns)
    if buckets > MAX_BUCKETS:
        shortest = math.ceil((end_ns - start_ns) / MAX_BUCKETS / NANOS)
        raise BadRequestError(
            f"gives {buckets} buckets over the time range, more than {MAX_BUCKETS} (use at least {shortest}s)",
            "step",
        )
    return step_ns


def histogram_buckets(query: Query) -> int | None:
    """`buckets`: a count of log-spaced buckets (1 to MAX_HISTOGRAM_BUCKETS), or `spanmetrics` (None)."""
    text = query.text("buckets").strip().lower()
    if text == "spanmetrics":
        return None
    return query.integer("buckets", DEFAULT_HISTOGRAM_BUCKETS, 1, MAX_HISTOGRAM_BUCKETS)


def red_json(selection: SpanSelection, red: RedMetrics) -> dict[str, Any]:
    """The RED answer: shared bucket starts, then one series per operation (null: the whole service)."""
    return {
        "service": selection.service,
        "operation": selection.operation or None,
        "span_kinds": _kinds_echo(selection),
        "start_ns": red.start_ns,
        "end_ns": red.end_ns,
        "step_ns": red.step_ns,
        "timestamps_ns": red.timestamps,
        "series": [
            {
                "operation": series.operation,
                "requests": series.requests,
                "errors": series.errors,
                "request_rate": series.request_rate,
                "error_rate": series.error_rate,
                "p50_ms": series.p50_ms,
                "p90_ms": series.p90_ms,
                "p99_ms": series.p99_ms,
            }
            for series in red.series
        ],
    }


def latency_json(
    selection: SpanSelection, start_ns: int, end_ns: int, latency: LatencyDistribution
) -> dict[str, Any]:
    """The latency answer: summary statistics and the histogram's buckets."""
    return {
        "service": selection.service,
        "operation": selection.operation or None,
        "span_kinds": _kinds_echo(selection),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "scale": latency.scale,
        "count": latency.count,
        "min_ms": latency.min_ms,
        "max_ms": latency.max_ms,
        "mean_ms": latency.mean_ms,
        **{f"{name}_ms": value for name, value in latency.percentiles_ms.items()},
        "buckets": [
            {"lower_ms": bucket.lower_ms, "upper_ms": bucket.upper_ms, "count": bucket.count}
            for bucket in latency.buckets
        ],
    }


def analytics_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """The routes, bound to `store`."""

    async def dependencies(request: Request) -> Response:
        """Service dependency graph: calls and errors between services in a time range.

        One edge per (parent service, child service) where a span's parent span belongs to another
        service; errorCount counts child spans with status Error. Parameters: start, end.
        """
        start_ns, end_ns = Query(request, config).time_range()
        links = await dependency_links(store, start_ns, end_ns)
        return JSONResponse(
            [
                {
                    "parent": link.parent,
                    "child": link.child,
                    "call_count": link.call_count,
                    "error_count": link.error_count,
                }
                for link in links
            ]
        )

    async def red(request: Request) -> Response:
        """RED metrics per operation of a service: request rate, error rate, p50/p90/p99 per time bucket.

        Parameters: service (required), operation, span_kind (entry = server, consumer or root spans,
        the default; all; or kinds), start, end, step (at most 1,000 buckets), limit (operations).
        """
        query = Query(request, config)
        selection = span_selection(query)
        start_ns, end_ns = query.time_range()
        if end_ns == start_ns:
            raise BadRequestError("the time range is empty", "start, end")
        step_ns = red_step(query, start_ns, end_ns)
        limit = query.limit("limit", 100)
        metrics = await red_metrics(store, selection, start_ns, end_ns, step_ns, limit)
        return JSONResponse(red_json(selection, metrics))

    async def latency(request: Request) -> Response:
        """Latency distribution of a service's (or one operation's) spans: histogram and percentiles.

        Parameters: service (required), operation, span_kind (as for /v1/red), start, end, buckets (a
        count of log-spaced buckets, default 20, or `spanmetrics` for the connector's default bounds).
        """
        query = Query(request, config)
        selection = span_selection(query)
        start_ns, end_ns = query.time_range()
        buckets = histogram_buckets(query)
        distribution = await latency_distribution(store, selection, start_ns, end_ns, buckets)
        return JSONResponse(latency_json(selection, start_ns, end_ns, distribution))

    async def trace_critical_path(request: Request) -> Response:
        """Critical path of a trace: the spans that determine its end-to-end latency, with self-times.

        As Jaeger UI computes it; sections in time order, summing to the root span's duration.
        """
        trace_id = request.path_params["trace_id"]
        spans = await trace_spans(store, trace_id)
        if not spans:
            raise HTTPException(404, f"trace {trace_id!r} not found")
        sections = critical_path(spans)
        totals = self_times(sections)
        return JSONResponse(
            {
                "trace_id": spans[0].trace_id,
                "start_ns": min((s.start_ns for s in sections), default=None),
                "end_ns": max((s.end_ns for s in sections), default=None),
                "duration_ns": sum(totals.values()),
                "path": [
                    {
                        "span_id": s.span.span_id,
                        "service": s.span.service,
                        "operation": s.span.name,
                        "start_ns": s.start_ns,
                        "end_ns": s.end_ns,
                        "duration_ns": s.duration_ns,
                        "self_time_ns": totals[s.span.span_id],
                    }
                    for s in sections
                ],
            }
        )

    return [
        Route("/v1/dependencies", dependencies, methods=["GET"]),
        Route("/v1/red", red, methods=["GET"]),
        Route("/v1/latency", latency, methods=["GET"]),
        Route("/v1/traces/{trace_id}/critical-path", trace_critical_path, methods=["GET"]),
    ]


__all__ = ["analytics_routes", "histogram_buckets", "red_step", "span_selection"]
