"""Jaeger's `/api/v3` HTTP gateway (api_v3 over grpc-gateway) answering OTLP/JSON.

Traces come back as `{"result": {"resourceSpans": [...]}}`; failures as grpc-gateway errors
`{"error": {"httpCode": N, "message": "..."}}` with status N (400 naming the parameter, 404 for an
unknown trace id; a search without matches is 200 with no resourceSpans, as Jaeger now answers).
Parameters are read in their proto names (`query.service_name`) or lowerCamelCase
(`query.serviceName`), as grpc-gateway accepts both; times in RFC 3339 (Unix seconds accepted too).
"""

from __future__ import annotations

import functools
import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.service import (
    NANOS,
    BadRequestError,
    Query,
    QueryTimeoutError,
    ServiceConfig,
    Store,
    check_range,
    parse_duration,
    parse_time,
)
from backend.traces import search
from backend.traces.jaeger import DEFAULT_LIMIT, Endpoint
from backend.traces.otlp_json import resource_spans
from backend.traces.reader import by_trace, trace_id_parameter, traces_spans
from backend.traces.search import Attribute, TraceQuery


def gateway_error(status: int, message: str) -> JSONResponse:
    """A grpc-gateway error body."""
    return JSONResponse({"error": {"httpCode": status, "message": message}}, status_code=status)


def gateway_errors(handler: Endpoint) -> Endpoint:
    """`handler` answering its failures as Jaeger's api_v3 gateway does."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequestError as err:
            return gateway_error(400, f"malformed parameter {err}" if err.parameter else str(err))
        except QueryTimeoutError as err:
            return gateway_error(503, str(err))
        except HTTPException as err:
            return gateway_error(err.status_code, str(err.detail))

    return endpoint


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class GatewayQuery:
    """Parameters by proto name, also found under their lowerCamelCase name."""

    def __init__(self, request: Request, config: ServiceConfig) -> None:
        self.query = Query(request, config)
        self.config = config

    def name(self, proto_name: str) -> str:
        """The spelling the request used (the proto name when it used neither)."""
        camel = _camel(proto_name)
        return camel if camel in self.query.params and proto_name not in self.query.params else proto_name

    def text(self, proto_name: str) -> str:
        """A string parameter ("" when absent)."""
        return self.query.text(self.name(proto_name))

    def time(self, proto_name: str) -> int | None:
        """A time in Unix nanoseconds (RFC 3339 or Unix seconds)."""
        raw = self.text(proto_name)
        return parse_time(raw, self.name(proto_name)) if raw else None

    def duration_ns(self, proto_name: str) -> int | None:
        """A Go duration in nanoseconds."""
        raw = self.text(proto_name)
        return round(parse_duration(raw, self.name(proto_name)).total_seconds() * NANOS) if raw else None


def attribute_filters(text: str, parameter: str) -> list[Attribute]:
    """`query.attributes`: a JSON object of attribute: value (strings, numbers, booleans)."""
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise BadRequestError(f"not a JSON object: {err}", parameter) from None
    if not isinstance(parsed, dict) or any(isinstance(v, (dict, list)) or v is None for v in parsed.values()):
        raise BadRequestError("must be a JSON object of attribute: string, number or boolean", parameter)
    return [Attribute(k, v if isinstance(v, str) else json.dumps(v)) for k, v in parsed.items()]


def find_query(request: Request, config: ServiceConfig) -> TraceQuery:
    """The search parameters of `GET /api/v3/traces`, checked and bounded."""
    query = GatewayQuery(request, config)
    start_ns, end_ns = query.time("query.start_time_min"), query.time("query.start_time_max")
    if start_ns is None or end_ns is None:
        raise BadRequestError("query.start_time_min and query.start_time_max are required")
    check_range(start_ns, end_ns, config, "query.start_time_min, query.start_time_max")
    limit_name = query.name("query.num_traces")
    if not query.text("query.num_traces") and query.text("query.search_depth"):
        limit_name = query.name("query.search_depth")
    limit = query.query.integer(limit_name, 0, 0, config.max_limit) or min(DEFAULT_LIMIT, config.max_limit)
    raw_traces = query.text("query.raw_traces")
    if raw_traces and raw_traces.lower() not in ("true", "false", "1", "0"):
        raise BadRequestError(f"{raw_traces!r} is not a boolean", query.name("query.raw_traces"))
    trace_query = TraceQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
        service=query.text("query.service_name"),
        operation=query.text("query.operation_name"),
        attributes=attribute_filters(query.text("query.attributes"), query.name("query.attributes")),
        min_duration_ns=query.duration_ns("query.duration_min"),
        max_duration_ns=query.duration_ns("query.duration_max"),
    )
    low, high = trace_query.min_duration_ns, trace_query.max_duration_ns
    if low and high and high < low:
        raise BadRequestError("must not be less than query.duration_min", query.name("query.duration_max"))
    return trace_query


def apiv3_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """Jaeger's `/api/v3` routes, bound to `store`."""

    @gateway_errors
    async def services(_request: Request) -> Response:
        """api_v3: the services."""
        return JSONResponse({"services": await search.services(store)})

    @gateway_errors
    async def operations(request: Request) -> Response:
        """api_v3: a service's operations with their span kind (`service` required, `span_kind` filters)."""
        query = GatewayQuery(request, config)
        service = query.text("service")
        if not service:
            raise BadRequestError("service is required")
        kind = search.kind_parameter(query.text("span_kind"), query.name("span_kind"))
        found = await search.operations(store, service, kind)
        return JSONResponse(
            {"operations": [{"name": name, "spanKind": search.api_kind(k)} for name, k in found]}
        )

    @gateway_errors
    async def find_traces(request: Request) -> Response:
        """api_v3: search traces, answered whole in OTLP/JSON.

        query.start_time_min and query.start_time_max (required, RFC 3339), query.service_name,
        query.operation_name, query.attributes (JSON object), query.duration_min,
        query.duration_max (Go durations), query.num_traces (100).
        """
        trace_query = find_query(request, config)
        ids = await search.find_trace_ids(store, trace_query)
        traces = by_trace(await traces_spans(store, ids), ids)
        return JSONResponse({"result": {"resourceSpans": resource_spans(traces)}})

    @gateway_errors
    async def get_trace(request: Request) -> Response:
        """api_v3: one trace by id in OTLP/JSON (404 when unknown); start_time, end_time accepted and checked."""
        query = GatewayQuery(request, config)
        for name in ("start_time", "end_time"):
            query.time(name)
        trace_id = trace_id_parameter(request.path_params["trace_id"], "trace_id")
        spans = await traces_spans(store, [trace_id])
        if not spans:
            raise HTTPException(404, "trace not found")
        return JSONResponse({"result": {"resourceSpans": resource_spans([spans])}})

    return [
        Route("/api/v3/services", services, methods=["GET"]),
        Route("/api/v3/operations", operations, methods=["GET"]),
        Route("/api/v3/traces", find_traces, methods=["GET"]),
        Route("/api/v3/traces/{trace_id}", get_trace, methods=["GET"]),
    ]


__all__ = ["apiv3_routes", "attribute_filters", "find_query", "gateway_error", "gateway_errors"]
