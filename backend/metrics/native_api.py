"""The metrics service's native JSON API, over OTel metric names and attributes as stored.

- `GET /v1/metrics`: metric names with type, unit, description (and temporality for sums and
  histograms); `service`, `prefix`, `start`, `end`, `limit`.
- `GET /v1/metrics/{name}/labels`: attribute keys, resource attributes as `resource.<key>`.
- `GET /v1/metrics/{name}/labels/{label}/values`: a label's values.
- `GET /v1/query_range`: `metric`, `agg`, `q` (quantile), `by` and `filter=key:value` (repeated),
  `start`, `end`, `step`, `type` (when a name has two types), `source` (auto|raw|1m|1h); see
  `backend.metrics.rangequery` for what each aggregation means.

Times are RFC 3339 or Unix seconds (default: the last hour); long ranges are listed from the rollups
(whole buckets). Lists are sorted and capped by `limit` (at most the service's `max_limit`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.metrics.config import MetricsServiceConfig
from backend.metrics.rangequery import (
    AGGREGATIONS,
    Label,
    RangeQuery,
    allowed_aggregations,
    run_range_query,
)
from backend.metrics.rollups import (
    KINDS,
    LEVELS,
    RAW,
    Level,
    Tier,
    choose_level,
    listing_level,
    tiers,
    watermarks,
)
from backend.service import NANOS, BadRequestError, Query, Store, parse_duration

__all__ = ["native_routes"]

MAX_NAME: Final = 1024
MAX_BY: Final = 10
MAX_FILTERS: Final = 20
LIST_LIMIT: Final = 1000
_TEMPORALITY: Final = {1: "delta", 2: "cumulative"}
_NICE_STEPS: Final = tuple(
    parse_duration(text, "step")
    for text in [
        "1s",
        "5s",
        "10s",
        "15s",
        "30s",
        "1m",
        "2m",
        "5m",
        "10m",
        "15m",
        "30m",
        "1h",
        "2h",
        "3h",
        "6h",
        "12h",
        "1d",
        "2d",
        "7d",
        "30d",
    ]
)
"""Default steps: the smallest of these giving at most ~300 points."""
_DEFAULT_POINTS: Final = 300


def _name(text: str, parameter: str) -> str:
    if not text:
        raise BadRequestError("is required", parameter)
    if len(text) > MAX_NAME:
        raise BadRequestError(f"is longer than {MAX_NAME} characters", parameter)
    return text


def _filters(query: Query) -> tuple[tuple[Label, str], ...]:
    texts = query.texts("filter")
    if len(texts) > MAX_FILTERS:
        raise BadRequestError(f"at most {MAX_FILTERS} filters", "filter")
    filters = []
    for text in texts:
        key, colon, value = text.partition(":")
        if not colon:
            raise BadRequestError(f"{text!r} is not key:value", "filter")
        filters.append((Label.parse(key, "filter"), value))
    return tuple(filters)


def _by(query: Query) -> tuple[Label, ...]:
    keys = query.texts("by")
    if len(keys) > MAX_BY:
        raise BadRequestError(f"at most {MAX_BY} labels", "by")
    if len(set(keys)) != len(keys):
        raise BadRequestError("a label is repeated", "by")
    return tuple(Label.parse(key, "by") for key in keys)


def _quantile(query: Query, agg: str) -> float:
    raw = query.text("q")
    if agg != "quantile":
        if raw:
            raise BadRequestError("only applies to agg=quantile", "q")
        return 0.5
    try:
        q = float(raw)
    except ValueError:
        raise BadRequestError(
            f"{raw!r} is not a number between 0 and 1 (agg=quantile needs it)", "q"
        ) from None
    if not 0 <= q <= 1 or math.isnan(q):
        raise BadRequestError(f"{raw} must be between 0 and 1", "q")
    return q


def _step(query: Query, start_ns: int, end_ns: int) -> int:
    step = query.duration("step")
    if step is None:
        wanted = (end_ns - start_ns) / _DEFAULT_POINTS
        nice = next((s for s in _NICE_STEPS if s.total_seconds() * NANOS >= wanted), _NICE_STEPS[-1])
        return int(nice.total_seconds()) * NANOS
    step_ns = round(step.total_seconds() * NANOS)
    if step_ns < 1_000_000:
        raise BadRequestError("must be at least 1ms", "step")
    return step_ns


class NativeApi:
    """The native routes' handlers over one store."""

    def __init__(self, store: Store, config: MetricsServiceConfig) -> None:
        self.store = store
        self.config = config

    # --- listing -------------------------------------------------------------------------------

    async def _listing(self, query: Query) -> tuple[dict[str, list[Tier]], dict[str, object]]:
        """Per kind, the parts of the request's range to list from (rollups for long ranges), and the parameters."""
        start, end = query.time_range()
        params: dict[str, object] = {"limit": query.limit("limit", LIST_LIMIT)}
        parts: dict[str, list[Tier]] = {}
        for kind in KINDS:
            level = listing_level(kind, start, end)
            if level.is_raw:
                parts[kind] = [Tier(RAW, start, end)]
            else:
                lo = start - start % level.bucket_ns  # whole buckets: may list a little before start
                parts[kind] = tiers(level, lo, end, await watermarks(self.store, kind))
        return parts, params

    def _from(self, kind: str, parts: list[Tier], params: dict[str, object], select: str, where: str) -> str:
        """`select` FROM each part of `kind` WHERE `where` and the part's time range, as one UNION ALL."""
        out: list[str] = []
        for tier in parts:
            lo, hi = f"{kind}_lo{len(out)}", f"{kind}_hi{len(out)}"
            params[lo], params[hi] = tier.lo, tier.hi
            table = self.store.table(tier.level.table(kind))
            out.append(f"{select} FROM {table} WHERE {tier.level.time_filter(lo, hi)} AND {where}")
        return " UNION ALL ".join(out)

    async def metrics(self, request: Request) -> Response:
        """Metric names with type, unit and description (filter: service, prefix; start, end, limit)."""
        query = Query(request, self.config)
        parts, params = await self._listing(query)
        conditions = ["MetricName != ''"]
        if service := query.text("service"):
            params["service"] = _name(service, "service")
            conditions.append("ServiceName = {service:String}")
        if prefix := query.text("prefix"):
            params["prefix"] = _name(prefix, "prefix")
            conditions.append("startsWith(MetricName, {prefix:String})")
        selects = []
        for kind in KINDS:
            temporality = {"gauge": "0", "summary": "2"}.get(kind, "AggregationTemporality")
            monotonic = "IsMonotonic" if kind == "sum" else "false"
            rows_of = self._from(
                kind,
                parts[kind],
                params,
                "SELECT MetricName, MetricUnit, MetricDescription, "
                f"toInt32({temporality}) AS temporality, toBool({monotonic}) AS monotonic",
                " AND ".join(conditions),
            )
            selects.append(
                f"SELECT MetricName AS name, '{kind}' AS type, any(MetricUnit) AS unit, "
                "any(MetricDescription) AS description, any(temporality) AS temporality, "
                f"any(monotonic) AS monotonic FROM ({rows_of}) GROUP BY MetricName"
            )
        rows = await self.store.rows(
            f"SELECT * FROM ({' UNION ALL '.join(selects)}) ORDER BY name, type LIMIT {{limit:UInt32}}",
            params,
        )
        out = []
        for name, kind, unit, description, temporality, monotonic in rows:
            item: dict[str, object] = {"name": name, "type": kind, "unit": unit, "description": description}
            if kind != "gauge":
                item["temporality"] = _TEMPORALITY.get(int(temporality), "unspecified")
            if kind == "sum":
                item["monotonic"] = bool(monotonic)
            out.append(item)
        return JSONResponse({"metrics": out})

    async def labels(self, request: Request) -> Response:
        """A metric's label keys: attribute keys, and resource attribute keys as resource.<key>."""
        query = Query(request, self.config)
        name = _name(request.path_params["name"], "name")
        parts, params = await self._listing(query)
        params["metric"] = name
        selects = [
            self._from(
                kind,
                parts[kind],
                params,
                "SELECT DISTINCT mapKeys(Attributes) AS a, mapKeys(ResourceAttributes) AS r",
                "MetricName = {metric:String}",
            )
            for kind in KINDS
        ]
        rows = await self.store.rows(
            "SELECT DISTINCT arrayJoin(arrayConcat(a, arrayMap(k -> concat('resource.', k), r))) AS key "
            f"FROM ({' UNION ALL '.join(selects)}) ORDER BY key LIMIT {{limit:UInt32}}",
            params,
        )
        return JSONResponse({"metric": name, "labels": [str(row[0]) for row in rows]})

    async def label_values(self, request: Request) -> Response:
        """The values of one label of a metric."""
        query = Query(request, self.config)
        name = _name(request.path_params["name"], "name")
        label = Label.parse(request.path_params["label"], "label")
        parts, params = await self._listing(query)
        params.update(metric=name, key=label.attribute)
        column = "ResourceAttributes" if label.is_resource else "Attributes"
        selects = [
            self._from(
                kind,
                parts[kind],
                params,
                f"SELECT DISTINCT {label.sql('key')} AS value",
                f"MetricName = {{metric:String}} AND mapContains({column}, {{key:String}})",
            )
            for kind in KINDS
        ]
        rows = await self.store.rows(
            f"SELECT DISTINCT value FROM ({' UNION ALL '.join(selects)}) ORDER BY value LIMIT {{limit:UInt32}}",
            params,
        )
        return JSONResponse({"metric": name, "label": label.key, "values": [str(row[0]) for row in rows]})

    # --- range query ---------------------------------------------------------------------------

    async def kinds(self, metric: str, start_ns: int, end_ns: int) -> list[str]:
        """The types `metric` has points of in [start_ns, end_ns)."""
        selects = [
            f"SELECT '{kind}' AS kind FROM (SELECT 1 FROM {self.store.table(RAW.table(kind))} "
            f"WHERE MetricName = {{metric:String}} AND {RAW.time_filter()} LIMIT 1)"
            for kind in KINDS
        ]
        rows = await self.store.rows(
            " UNION ALL ".join(selects), {"metric": metric, "read_start": start_ns, "read_end": end_ns}
        )
        return sorted((str(row[0]) for row in rows), key=KINDS.index)

    async def query_range(self, request: Request) -> Response:
        """Range query: one metric aggregated per step, grouped by labels (see the module doc)."""
        query = Query(request, self.config)
        metric = _name(query.text("metric"), "metric")
        agg = query.text("agg")
        if agg not in AGGREGATIONS:
            raise BadRequestError(f"{agg!r} is not one of {', '.join(AGGREGATIONS)}", "agg")
        q = _quantile(query, agg)
        by, filters = _by(query), _filters(query)
        start, end = query.time_range()
        step = _step(query, start, end)
        first, last = start // step * step, end // step * step
        if (last - first) // step + 1 > self.config.max_points:
            raise BadRequestError(
                f"the range holds more than {self.config.max_points} steps of this size; use a larger step",
                "step",
            )
        source = query.text("source", "auto")
        if source != "auto" and source not in LEVELS:
            raise BadRequestError(f"{source!r} is not one of auto, {', '.join(LEVELS)}", "source")
        kind = query.text("type")
        if kind and kind not in KINDS:
            raise BadRequestError(f"{kind!r} is not one of {', '.join(KINDS)}", "type")
        answer: dict[str, object] = {"metric": metric, "agg": agg, "step": step / NANOS}
        if agg == "quantile":
            answer["q"] = q
        if not kind:
            kinds = await self.kinds(metric, first - 2 * step, last + step)
            if len(kinds) > 1:
                raise BadRequestError(f"{metric!r} is stored as {' and '.join(kinds)}; choose one", "type")
            if not kinds:
                return JSONResponse({**answer, "type": None, "source": None, "parts": [], "series": []})
            kind = kinds[0]
        if agg not in allowed_aggregations(kind):
            raise BadRequestError(
                f"{agg!r} does not apply to {kind} metrics (use {', '.join(allowed_aggregations(kind))})",
                "agg",
            )
        plan = RangeQuery(metric, kind, agg, first, last, step, quantile=q, by=by, filters=filters)
        level = self._level(plan, source)
        marks = await watermarks(self.store, kind) if not level.is_raw else {}
        plan = dataclasses.replace(
            plan, level=level, tiers=tuple(tiers(level, plan.read_start, plan.read_end, marks))
        )
        result = await run_range_query(self.store, plan, self.config.max_series)
        return JSONResponse(
            {
                **answer,
                "type": kind,
                "source": level.name,
                "parts": [
                    {"source": p.level.name, "from": p.lo / NANOS, "to": p.hi / NANOS} for p in plan.parts
                ],
                "series": [{"labels": s.labels, "points": s.points} for s in result.series],
            }
        )

    def _level(self, query: RangeQuery, source: str) -> Level:
        """The level `source` names, or for auto the one `choose_level` picks."""
        if source == "auto":
            return choose_level(query.kind, query.read_start, query.read_end, query.step_ns)
        level = LEVELS[source]
        if reason := level.refusal(query.kind, query.read_start, query.step_ns):
            raise BadRequestError(reason, "source")
        return level


def native_routes(store: Store, config: MetricsServiceConfig) -> list[BaseRoute]:
    """The native API's routes, bound to `store`."""
    api = NativeApi(store, config)
    return [
        Route("/v1/metrics", api.metrics, methods=["GET"]),
        Route("/v1/metrics/{name:path}/labels/{label}/values", api.label_values, methods=["GET"]),
        Route("/v1/metrics/{name:path}/labels", api.labels, methods=["GET"]),
        Route("/v1/query_range", api.query_range, methods=["GET"]),
    ]
