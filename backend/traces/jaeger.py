"""Jaeger's HTTP query API (jaeger-query's `/api`, what Grafana's Jaeger data source calls) over otel_traces.

Answers are Jaeger's "structured response" `{data, total, limit, offset, errors}`; failures too,
with `errors: [{code, msg}]` and the status (400 bad input naming the parameter, 404 unknown trace,
503 timeout). Times are Unix microseconds (`start`, `end`), `endTs` and `lookback` of
`/api/dependencies` milliseconds, durations Go durations (`minDuration=1.5ms`). Trace ids are
answered in full (32 hex digits) and accepted shorter (left-padded with zeros).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation

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
    now_ns,
    parse_duration,
)
from backend.traces import analytics, search
from backend.traces.jaeger_json import JsonObject, trace_json
from backend.traces.reader import by_trace, trace_id_parameter, traces_spans
from backend.traces.search import Attribute, TraceQuery

DEFAULT_LIMIT = 100
"""Jaeger's default number of traces per search."""
DEFAULT_LOOKBACK = timedelta(days=2)
"""Jaeger's default search range when `start` is absent."""
DEPENDENCIES_LOOKBACK = timedelta(days=1)
"""Jaeger's default range of `/api/dependencies`."""

Endpoint = Callable[[Request], Awaitable[Response]]


def structured(
    data: object, status: int = 200, errors: list[JsonObject] | None = None, total: int = 0
) -> JSONResponse:
    """Jaeger's structured response (`total` is set, as Jaeger does, for services and operations only)."""
    body = {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}
    return JSONResponse(body, status_code=status)


def jaeger_errors(handler: Endpoint) -> Endpoint:
    """`handler` answering its failures as Jaeger does: `{data: null, errors: [{code, msg}]}`."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequestError as err:
            status, message = 400, str(err)
        except QueryTimeoutError as err:
            status, message = 503, str(err)
        except HTTPException as err:
            status, message = err.status_code, str(err.detail)
        return structured(None, status, [{"code": status, "msg": message}])

    return endpoint


def unix_number(text: str, parameter: str, unit_ns: int) -> int:
    """Unix nanoseconds from an integer (or decimal) count of `unit_ns`."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or abs(value * unit_ns) > 10**22:
        unit = {1_000: "microseconds", 1_000_000: "milliseconds"}.get(unit_ns, "units")
        raise BadRequestError(f"{text!r} is not a number of {unit}", parameter)
    return int(value * unit_ns)


def parse_tags(query: Query) -> list[Attribute]:
    """`tag=key:value` (repeated) and `tags=` as a JSON object or logfmt (`k=v k2="v 2"`)."""
    result: dict[str, str] = {}
    for text in query.texts("tag"):
        key, colon, value = text.partition(":")
        if not colon or not key:
            raise BadRequestError(f"malformed tag {text!r}, expecting key:value", "tag")
        result[key] = value
    for text in query.texts("tags"):
        result.update(_json_tags(text) if text.lstrip().startswith("{") else logfmt(text, "tags"))
    return [Attribute(key, value) for key, value in result.items()]


def _json_tags(text: str) -> dict[str, str]:
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise BadRequestError(f"malformed JSON object: {err}", "tags") from None
    if not isinstance(parsed, dict):
        raise BadRequestError("must be a JSON object of tag: value", "tags")
    result = {}
    for key, value in parsed.items():
        if isinstance(value, (dict, list)) or value is None:
            raise BadRequestError(f"the value of {key!r} must be a string, number or boolean", "tags")
        result[key] = value if isinstance(value, str) else json.dumps(value)
    return result


def logfmt(text: str, parameter: str) -> dict[str, str]:
    """logfmt pairs: `key=value`, `key="quoted \\" value"`, a bare `key` meaning "true"."""
    pairs: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] != "=":
            i += 1
        key = text[start:i]
        if not key:
            raise BadRequestError(f"malformed logfmt at {text[start:]!r}", parameter)
        if i >= n or text[i] != "=":
            pairs[key] = "true"
            continue
        i += 1
        if i < n and text[i] == '"':
            i += 1
            chars = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise BadRequestError(f"unterminated quoted value of {key!r}", parameter)
            i += 1
            pairs[key] = "".join(chars)
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            pairs[key] = text[start:i]
    return pairs


def _duration_ns(query: Query, name: str) -> int | None:
    raw = query.text(name)
    return None if not raw else round(parse_duration(raw, name).total_seconds() * NANOS)


def search_query(request: Request, config: ServiceConfig) -> TraceQuery:
    """`/api/traces`' search parameters, as Jaeger's query parser reads them, checked and bounded."""
    query = Query(request, config)
    end_text, start_text = query.text("end"), query.text("start")
    end_ns = unix_number(end_text, "end", 1_000) if end_text else now_ns()
    if start_text:
        start_ns = unix_number(start_text, "start", 1_000)
    else:
        lookback = query.text("lookback")
        span = DEFAULT_LOOKBACK if lookback in ("", "custom") else parse_duration(lookback, "lookback")
        start_ns = end_ns - round(span.total_seconds() * NANOS)
    check_range(start_ns, end_ns, config, "start, end")
    limit = query.integer("limit", 0, 0, config.max_limit) or min(DEFAULT_LIMIT, config.max_limit)
    service = query.text("service")
    if not service:
        raise BadRequestError("parameter 'service' is required", "service")
    trace_query = TraceQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
        service=service,
        operation=query.text("operation"),
        attributes=parse_tags(query),
        min_duration_ns=_duration_ns(query, "minDuration"),
        max_duration_ns=_duration_ns(query, "maxDuration"),
    )
    low, high = trace_query.min_duration_ns, trace_query.max_duration_ns
    if low and high and high < low:
        raise BadRequestError("'maxDuration' should be greater than 'minDuration'", "maxDuration")
    return trace_query


def jaeger_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """Jaeger's `/api` routes, bound to `store`."""

    @jaeger_errors
    async def services(_request: Request) -> Response:
        """Jaeger: the services."""
        found = await search.services(store)
        return structured(found, total=len(found))

    @jaeger_errors
    async def service_operations(request: Request) -> Response:
        """Jaeger: a service's operation names (legacy route of Jaeger UI and Grafana)."""
        found = await search.operations(store, request.path_params["service"])
        names = sorted({name for name, _kind in found})
        return structured(names, total=len(names))

    @jaeger_errors
    async def operations(request: Request) -> Response:
        """Jaeger: a service's operations with their span kind (`service` required, `spanKind` filters)."""
        query = Query(request, config)
        service = query.text("service")
        if not service:
            raise BadRequestError("parameter 'service' is required", "service")
        kind = search.kind_parameter(query.text("spanKind"), "spanKind")
        found = await search.operations(store, service, kind)
        data = [{"name": name, "spanKind": search.api_kind(k)} for name, k in found]
        return structured(data, total=len(data))

    @jaeger_errors
    async def find_traces(request: Request) -> Response:
        """Jaeger: search traces, or fetch those named by repeated `traceID`.

        service (required), operation, tags (JSON object or logfmt), tag=key:value, minDuration,
        maxDuration (Go durations), start and end (Unix microseconds; default the last 2 days or
        `lookback`), limit (100).
        """
        ids_given = Query(request, config).texts("traceID")
        if ids_given:
            if len(ids_given) > config.max_limit:
                raise BadRequestError(f"at most {config.max_limit} trace ids", "traceID")
            ids = list(dict.fromkeys(trace_id_parameter(text, "traceID") for text in ids_given))
            traces = by_trace(await traces_spans(store, ids), ids)
            found = {spans[0].trace_id for spans in traces}
            errors = [{"msg": "trace not found", "traceID": i} for i in ids if i not in found] or None
            return structured([trace_json(spans) for spans in traces], errors=errors)
        trace_query = search_query(request, config)
        ids = await search.find_trace_ids(store, trace_query)
        traces = by_trace(await traces_spans(store, ids), ids)
        return structured([trace_json(spans) for spans in traces])

    @jaeger_errors
    async def get_trace(request: Request) -> Response:
        """Jaeger: one trace by id (404 when unknown); `start`, `end` (µs) are accepted and checked."""
        query = Query(request, config)
        for name in ("start", "end"):
            if text := query.text(name):
                unix_number(text, name, 1_000)
        trace_id = trace_id_parameter(request.path_params["trace_id"], "traceID")
        spans = await traces_spans(store, [trace_id])
        if not spans:
            raise HTTPException(404, "trace not found")
        return structured([trace_json(spans)])

    @jaeger_errors
    async def dependencies(request: Request) -> Response:
        """Jaeger: service dependency links `{parent, child, callCount}` of [endTs - lookback, endTs] (ms)."""
        query = Query(request, config)
        end_ns = unix_number(query.text("endTs"), "endTs", 1_000_000)
        lookback_text = query.text("lookback")
        lookback_ns = (
            unix_number(lookback_text, "lookback", 1_000_000)
            if lookback_text
            else round(DEPENDENCIES_LOOKBACK.total_seconds() * NANOS)
        )
        if lookback_ns <= 0:
            lookback_ns = round(DEPENDENCIES_LOOKBACK.total_seconds() * NANOS)
        check_range(end_ns - lookback_ns, end_ns, config, "lookback")
        service = query.text("service")
        links = await analytics.dependency_links(store, end_ns - lookback_ns, end_ns)
        return structured(
            [
                {"parent": link.parent, "child": link.child, "callCount": link.call_count}
                for link in links
                if not service or service in (link.parent, link.child)
            ]
        )

    return [
        Route("/api/services", services, methods=["GET"]),
        Route("/api/services/{service}/operations", service_operations, methods=["GET"]),
        Route("/api/operations", operations, methods=["GET"]),
        Route("/api/traces", find_traces, methods=["GET"]),
        Route("/api/traces/{trace_id}", get_trace, methods=["GET"]),
        Route("/api/dependencies", dependencies, methods=["GET"]),
    ]


__all__ = ["jaeger_errors", "jaeger_routes", "logfmt", "parse_tags", "search_query", "structured"]
