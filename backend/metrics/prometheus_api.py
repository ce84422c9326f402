"""Prometheus's HTTP query API (/api/v1/...) over the metric tables, for a PromQL subset.

Answers as Prometheus does: `{"status": "success", "data": ...}` (with `warnings` when a result was
cut at the service's `max_limit`), or `{"status": "error", "errorType": ..., "error": ...}` with 400
(`bad_data`: unparsable query or parameter), 422 (`execution`: a query airis cannot evaluate,
"unsupported in airis: ..."), 503 (`timeout`). The query endpoints, /series and /labels take their
parameters from the URL or a POST form body. Times are RFC 3339 or Unix seconds; a step is seconds
or a duration. Series, label and metadata lookups without `start`/`end` cover the last `max_range`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backend.metrics.catalog import Catalog, Labels
from backend.metrics.promql.engine import Engine, Result
from backend.metrics.promql.errors import BadDataError, PromQLError
from backend.metrics.promql.matchers import RegexMatcher
from backend.metrics.promql.plan import parse_selector
from backend.metrics.promql.result import instant_data, range_data
from backend.metrics.promql.sql import Steps
from backend.service import (
    BadRequestError,
    QueryTimeoutError,
    ServiceConfig,
    Store,
    now_ns,
    parse_duration,
    parse_time,
)
from collector.prometheus_naming import METRIC_NAME_LABEL

__all__ = ["BUILD_INFO", "MAX_BODY", "MAX_RESOLUTION", "prometheus_routes"]

MAX_RESOLUTION: Final = 11_000
"""Prometheus's limit of points per series in a range query."""
MAX_BODY: Final = 1 << 20
"""The largest POST form body read."""
BUILD_INFO: Final = {
    "version": "2.42.0",
    "revision": "airis",
    "branch": "airis",
    "buildUser": "airis",
    "buildDate": "20260101-00:00:00",
    "goVersion": "python",
}
"""What /api/v1/status/buildinfo answers: the Prometheus version whose PromQL semantics airis follows."""
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MS: Final = 1_000_000

Handler = Callable[[Request], Awaitable[Response]]


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _success(data: Any, warnings: Iterable[str] = ()) -> Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    warnings = list(warnings)
    if warnings:
        body["warnings"] = warnings
    return _json(body)


def _error(status: int, error_type: str, message: str) -> Response:
    return _json({"status": "error", "errorType": error_type, "error": message}, status)


def _prometheus_errors(handler: Handler) -> Handler:
    """Answer the handler's failures in Prometheus's error shape."""

    async def wrapped(request: Request) -> Response:
        from clickhouse_connect.driver.exceptions import DatabaseError

        try:
            return await handler(request)
        except PromQLError as err:
            return _error(err.status, err.error_type, str(err))
        except BadRequestError as err:
            return _error(400, "bad_data", str(err))
        except (QueryTimeoutError, TimeoutError) as err:
            return _error(503, "timeout", str(err) or "query timed out in expression evaluation")
        except DatabaseError as err:
            if "TIMEOUT_EXCEEDED" in str(err):
                return _error(503, "timeout", f"query timed out in expression evaluation: {err}")
            return _error(422, "execution", str(err))

    wrapped.__doc__ = handler.__doc__
    wrapped.__name__ = handler.__name__
    return wrapped


class _Params:
    """A request's parameters from the URL and a POST form body, read as Prometheus reads them."""

    def __init__(self, pairs: list[tuple[str, str]], config: ServiceConfig) -> None:
        self.pairs = pairs
        self.config = config

    @classmethod
    async def of(cls, request: Request, config: ServiceConfig) -> _Params:
        pairs = list(request.query_params.multi_items())
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise BadDataError(f"the form body is larger than {MAX_BODY} bytes")
                pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return cls(pairs, config)

    def get(self, name: str) -> str | None:
        """The first value of `name` (None when absent)."""
        return next((v for k, v in self.pairs if k == name), None)

    def all(self, name: str) -> list[str]:
        """Every value of `name`."""
        return [v for k, v in self.pairs if k == name]

    def time_ms(self, name: str, default: int | None = None) -> int:
        """A time in Unix ms (rounded as Prometheus does)."""
        raw = self.get(name)
        if raw is None or raw == "":
            if default is None:
                raise BadDataError(f'invalid parameter "{name}": missing')
            return default
        try:
            nanos = parse_time(raw, name)
        except BadRequestError:
            raise BadDataError(
                f'invalid parameter "{name}": cannot parse "{raw}" to a valid timestamp'
            ) from None
        return (nanos + _MS // 2) // _MS

    def duration(self, name: str) -> timedelta | None:
        """A duration: float seconds or `1m30s`."""
        raw = self.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_duration(raw, name)
        except BadRequestError:
            raise BadDataError(
                f'invalid parameter "{name}": cannot parse "{raw}" to a valid duration'
            ) from None

    def time_range(self) -> tuple[int, int]:
        """(start, end) in ms for series and label lookups: end defaults to now, start to end - max_range."""
        max_ms = int(self.config.max_range.total_seconds() * 1000)
        end = self.time_ms("end", now_ns() // _MS)
        start = self.time_ms("start", end - max_ms)
        if end < start:
            raise BadDataError("end timestamp must not be before start time")
        if end - start > max_ms:
            raise BadDataError(
                f'invalid parameter "start": the time range is longer than max_range ({self.config.max_range})'
            )
        return start, end

    def limit(self) -> int:
        """The `limit` parameter, at most the service's `max_limit` (the default)."""
        raw = self.get("limit")
        if raw is None or raw in {"", "0"}:
            return self.config.max_limit
        try:
            value = int(raw)
        except ValueError:
            raise BadDataError(f'invalid parameter "limit": cannot parse "{raw}" to an integer') from None
        if value < 0:
            return self.config.max_limit
        return min(value, self.config.max_limit)

    def selectors(self, required: bool) -> list[tuple[Any, ...]]:
        """The matcher lists of every `match[]`."""
        texts = self.all("match[]")
        if required and not texts:
            raise BadDataError("no match[] parameter provided")
        out = []
        for text in texts:
            try:
                out.append(parse_selector(text))
            except BadDataError as err:
                raise BadDataError(f'invalid parameter "match[]": {err}') from None
        return out


def prometheus_routes(store: Store, config: ServiceConfig, catalog: Catalog | None = None) -> list[BaseRoute]:
    """The routes, bound to `store` (the catalog of metric names is cached for 30 s unless given)."""
    catalog = catalog or Catalog(store)
    max_range_ms = int(config.max_range.total_seconds() * 1000)
    # a query reads its range plus its selectors' ranges, lookback and offsets: at most twice max_range
    engine = Engine(store, catalog, config.max_limit, 2 * max_range_ms)

    async def evaluate(params: _Params, steps: Steps) -> Result:
        query = params.get("query")
        if query is None:
            raise BadDataError('invalid parameter "query": missing')
        timeout = params.duration("timeout")
        if timeout is not None and timeout < config.query_timeout:
            async with asyncio.timeout(timeout.total_seconds()):
                return await engine.evaluate(query, steps)
        return await engine.evaluate(query, steps)

    @_prometheus_errors
    async def query(request: Request) -> Response:
        """Evaluate a PromQL expression at one time (`query`, `time`)."""
        params = await _Params.of(request, config)
        at = params.time_ms("time", now_ns() // _MS)
        return _success(instant_data(await evaluate(params, Steps(at, 1, 1))))

    @_prometheus_errors
    async def query_range(request: Request) -> Response:
        """Evaluate a PromQL expression over a range (`query`, `start`, `end`, `step`)."""
        params = await _Params.of(request, config)
        start = params.time_ms("start")
        end = params.time_ms("end")
        if end < start:
            raise BadDataError("end timestamp must not be before start time")
        step = params.duration("step")
        if step is None:
            raise BadDataError('invalid parameter "step": missing')
        step_ms = step // timedelta(milliseconds=1)
        if step_ms <= 0:
            raise BadDataError(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
            )
        if (end - start) // step_ms > MAX_RESOLUTION:
            raise BadDataError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        if end - start > max_range_ms:
            raise BadDataError(
                f'invalid parameter "start": the time range is longer than max_range ({config.max_range})'
            )
        steps = Steps(start, step_ms, (end - start) // step_ms + 1)
        return _success(range_data(await evaluate(params, steps)))

    async def matching_series(params: _Params, required: bool) -> tuple[list[Labels], list[str]]:
        """The label sets of the series of every `match[]` (all series when none) with points in the range."""
        start, end = params.time_range()
        limit = params.limit()
        regex = RegexMatcher(store)
        found: set[Labels] = set()
        truncated = False
        for matchers in params.selectors(required) or [()]:
            selection = await catalog.select(matchers, start * _MS, (end + 1) * _MS - 1, limit, regex)
            truncated = truncated or selection.truncated
            found.update(s.labels for s in selection.series)
        labels = sorted(found)
        if len(labels) > limit:
            labels, truncated = labels[:limit], True
        return labels, ["results truncated due to limit"] if truncated else []

    @_prometheus_errors
    async def series(request: Request) -> Response:
        """The series matching `match[]` with points in [`start`, `end`]."""
        params = await _Params.of(request, config)
        labels, warnings = await matching_series(params, required=True)
        return _success([dict(s) for s in labels], warnings)

    @_prometheus_errors
    async def labels(request: Request) -> Response:
        """Label names of the series (of `match[]`, if given) with points in [`start`, `end`]."""
        params = await _Params.of(request, config)
        found, warnings = await matching_series(params, required=False)
        return _success(sorted({name for s in found for name, _ in s}), warnings)

    @_prometheus_errors
    async def label_values(request: Request) -> Response:
        """Values of one label (`__name__`: the metric names) of the series with points in [`start`, `end`]."""
        name = request.path_params["name"]
        if not _LABEL_NAME.fullmatch(name):
            raise BadDataError(f'invalid label name: "{name}"')
        params = await _Params.of(request, config)
        if name == METRIC_NAME_LABEL and not params.all("match[]"):
            start, end = params.time_range()
            names = sorted(await catalog.series_names(start * _MS, (end + 1) * _MS - 1))
            return _success(names)
        found, warnings = await matching_series(params, required=False)
        return _success(sorted({value for s in found for key, value in s if key == name}), warnings)

    @_prometheus_errors
    async def metadata(request: Request) -> Response:
        """Type, help and unit of each metric family (`metric`, `limit`, `limit_per_metric`)."""
        params = await _Params.of(request, config)
        wanted = params.get("metric")
        limit = params.limit()
        per_metric = params.get("limit_per_metric")
        try:
            per = int(per_metric) if per_metric not in (None, "") else 0
        except ValueError:
            raise BadDataError(
                f'invalid parameter "limit_per_metric": cannot parse "{per_metric}" to an integer'
            ) from None
        families = await catalog.families()
        data: dict[str, list[dict[str, str]]] = {}
        for name in sorted(families):
            if wanted and name != wanted:
                continue
            if len(data) >= limit:
                break
            family = families[name]
            entries = [{"type": family.type, "help": text, "unit": family.unit} for text in family.help]
            data[name] = entries[:per] if per > 0 else entries
        return _success(data)

    @_prometheus_errors
    async def buildinfo(_request: Request) -> Response:
        """Build information (the Prometheus version whose PromQL semantics airis follows)."""
        return _success(BUILD_INFO)

    return [
        Route("/api/v1/query", query, methods=["GET", "POST"]),
        Route("/api/v1/query_range", query_range, methods=["GET", "POST"]),
        Route("/api/v1/series", series, methods=["GET", "POST"]),
        Route("/api/v1/labels", labels, methods=["GET", "POST"]),
        Route("/api/v1/label/{name}/values", label_values, methods=["GET"]),
        Route("/api/v1/metadata", metadata, methods=["GET"]),
        Route("/api/v1/status/buildinfo", buildinfo, methods=["GET"]),
    ]
