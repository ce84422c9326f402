"""The metrics service's part of the graph: metric names, labels, series over OTel names, and PromQL."""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

import strawberry
from strawberry.types import Info

from gateway.graph.common import JSON, AttributeFilter, TimeRange, from_nanos, range_params, unix_seconds
from gateway.graph.context import context_of
from gateway.graph.permissions import Viewer


@strawberry.type(description="A metric as stored (OpenTelemetry name, type, unit).")
class Metric:
    name: str
    type: str
    unit: str
    description: str
    temporality: str | None
    monotonic: bool | None


@strawberry.enum(description="How the points of each output series are combined per step.")
class Aggregation(Enum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    RATE = "rate"
    INCREASE = "increase"
    QUANTILE = "quantile"


@strawberry.type
class Point:
    time: datetime
    value: float | None


@strawberry.type
class Series:
    labels: JSON
    points: list[Point]


@strawberry.type(description="Series of one metric over a time range, one point per step.")
class MetricSeriesResult:
    metric: str
    aggregation: Aggregation
    step_seconds: float
    type: str | None
    source: str | None
    series: list[Series]


@strawberry.type(description="One PromQL result series: its labels and its sample(s).")
class PromSeries:
    metric: JSON
    points: list[Point]


@strawberry.type(description="A PromQL result: a vector/matrix as series, or a scalar/string.")
class PromqlResult:
    result_type: str
    series: list[PromSeries]
    scalar: Point | None


def _float(text: str | float | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _prom_point(pair: list[Any]) -> Point:
    return Point(time=datetime.fromtimestamp(float(pair[0]), tz=from_nanos(0).tzinfo), value=_float(pair[1]))


@strawberry.type
class MetricsQuery:
    @strawberry.field(permission_classes=[Viewer], description="Metric names with type and unit.")
    async def metric_names(
        self,
        info: Info[Any, Any],
        service: str | None = None,
        prefix: str | None = None,
        range: TimeRange | None = None,
        first: int = 1000,
    ) -> list[Metric] | None:
        params = [*range_params(range), ("limit", str(first))]
        params += [(name, value) for name, value in (("service", service), ("prefix", prefix)) if value]
        answer = await context_of(info).get("metrics", "/v1/metrics", params)
        return [
            Metric(
                name=m["name"],
                type=m["type"],
                unit=m["unit"],
                description=m["description"],
                temporality=m.get("temporality"),
                monotonic=m.get("monotonic"),
            )
            for m in answer["metrics"]
        ]

    @strawberry.field(
        permission_classes=[Viewer], description="A metric's labels (resource ones as resource.<key>)."
    )
    async def metric_labels(
        self, info: Info[Any, Any], metric: str, range: TimeRange | None = None
    ) -> list[str] | None:
        answer = await context_of(info).get(
            "metrics", f"/v1/metrics/{quote(metric, safe='')}/labels", range_params(range)
        )
        return list(answer["labels"])

    @strawberry.field(permission_classes=[Viewer], description="The values of one label of a metric.")
    async def metric_label_values(
        self, info: Info[Any, Any], metric: str, label: str, range: TimeRange | None = None
    ) -> list[str] | None:
        path = f"/v1/metrics/{quote(metric, safe='')}/labels/{quote(label, safe='')}/values"
        answer = await context_of(info).get("metrics", path, range_params(range))
        return list(answer["values"])

    @strawberry.field(permission_classes=[Viewer], description="A metric's series, aggregated per step.")
    async def metric_series(
        self,
        info: Info[Any, Any],
        metric: str,
        aggregation: Aggregation = Aggregation.AVG,
        by: list[str] | None = None,
        filter: list[AttributeFilter] | None = None,
        quantile: float | None = None,
        range: TimeRange | None = None,
        step: str | None = None,
    ) -> MetricSeriesResult | None:
        params = [("metric", metric), ("agg", aggregation.value), *range_params(range)]
        params += [("by", key) for key in by or []]
        params += [("filter", f"{f.key}:{f.value}") for f in filter or []]
        if quantile is not None:
            params.append(("q", repr(quantile)))
        if step:
            params.append(("step", step))
        answer = await context_of(info).get("metrics", "/v1/query_range", params)
        return MetricSeriesResult(
            metric=answer["metric"],
            aggregation=Aggregation(answer["agg"]),
            step_seconds=float(answer["step"]),
            type=answer.get("type"),
            source=answer.get("source"),
            series=[
                Series(labels=s["labels"], points=[_prom_point(p) for p in s["points"]])
                for s in answer["series"]
            ],
        )

    @strawberry.field(
        permission_classes=[Viewer],
        description="A PromQL query: instant at `time`, or a range with `range` and `step`.",
    )
    async def promql(
        self,
        info: Info[Any, Any],
        query: str,
        time: datetime | None = None,
        range: TimeRange | None = None,
        step: str | None = None,
    ) -> PromqlResult | None:
        context = context_of(info)
        if range is not None or step is not None:
            params = [("query", query), *range_params(range or TimeRange()), ("step", step or "60s")]
            if not any(name == "end" for name, _ in params):
                params.append(("end", unix_seconds(datetime.now(tz=from_nanos(0).tzinfo))))
            if not any(name == "start" for name, _ in params):
                end = float(dict(params)["end"])
                params.append(("start", f"{end - 3600:.6f}"))
            answer = await context.get("metrics", "/api/v1/query_range", params)
        else:
            params = [("query", query), *([("time", unix_seconds(time))] if time else [])]
            answer = await context.get("metrics", "/api/v1/query", params)
        data = answer["data"]
        kind, result = data["resultType"], data["result"]
        if kind in ("scalar", "string"):
            return PromqlResult(
                result_type=kind, series=[], scalar=_prom_point(result) if kind == "scalar" else None
            )
        series = [
            PromSeries(
                metric=item["metric"],
                points=[_prom_point(p) for p in (item["values"] if "values" in item else [item["value"]])],
            )
            for item in result
        ]
        return PromqlResult(result_type=kind, series=series, scalar=None)


__all__ = ["MetricsQuery"]
