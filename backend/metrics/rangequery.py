"""The native range query: one metric, aggregated per step and per group of labels, computed in ClickHouse.

Steps are epoch-aligned: the step starting at t (a multiple of `step`) covers points with
t <= TimeUnix < t + step, and its value is reported at t. Groups are the distinct values of the
`by` labels (an absent label is ""). What `agg` means per metric type:

- gauge, and sum with sum/avg/min/max/count: the points' values in the step (avg = their sum / their count);
- sum with increase/rate: per series, the increase in the step (delta sums: the sum of the deltas;
  cumulative sums: the steps between consecutive points, where a reset (a new StartTimeUnix given
  before the point's time, or a drop in value of a monotonic sum) counts the new value itself; in a
  non-monotonic sum a drop is a decrease), summed over the group's series; rate = increase / step
  seconds;
- histogram (and exponential histogram, summary): the same increases of Count, Sum and each bucket
  (a reset: a new StartTimeUnix, or a drop in Count); count/increase = the observations in the step,
  sum = their sum, avg = sum / count, rate = count / step seconds, quantile = Prometheus's
  histogram_quantile over the buckets merged by upper bound (explicit-bucket histograms only).

A cumulative series' first point in the read window (the steps plus a look-back of at least 5
minutes) has no predecessor: it counts its whole value only when its StartTimeUnix lies inside the
window (its run started there), else 0. Undefined values (avg of nothing, a quantile of no
observations) are null. The points come from the parts (`RangeQuery.tiers`) that
`backend.metrics.rollups` chose: rollups up to their watermarks, raw points after, one UNION ALL of
segments, so a step may mix them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from backend.metrics.rollups import RAW, Level, Tier, segments
from backend.service import NANOS, BadRequestError, Store

__all__ = [
    "AGGREGATIONS",
    "LOOKBACK_NS",
    "Label",
    "RangeQuery",
    "RangeResult",
    "Series",
    "allowed_aggregations",
    "run_range_query",
]

AGGREGATIONS: Final = ("sum", "avg", "min", "max", "count", "rate", "increase", "quantile")
LOOKBACK_NS: Final = 5 * 60 * NANOS
"""The least look-back before the first step for a cumulative series' previous point."""
_RESOURCE: Final = "resource."
_HISTOGRAM_KINDS: Final = ("histogram", "exponential_histogram", "summary")


def allowed_aggregations(kind: str) -> tuple[str, ...]:
    """The `agg` values a metric of type `kind` takes."""
    if kind == "gauge":
        return ("sum", "avg", "min", "max", "count")
    if kind == "sum":
        return ("sum", "avg", "min", "max", "count", "rate", "increase")
    if kind == "histogram":
        return ("sum", "avg", "count", "rate", "increase", "quantile")
    return ("sum", "avg", "count", "rate", "increase")


@dataclass(frozen=True, slots=True)
class Label:
    """A label as the native API names it: an attribute key, or `resource.<key>` for a resource attribute."""

    key: str

    @classmethod
    def parse(cls, key: str, parameter: str) -> Label:
        """A checked label key (BadRequestError naming `parameter`)."""
        if not key or key == _RESOURCE or len(key) > 256:
            raise BadRequestError(f"{key!r} is not a label (an attribute key or resource.<key>)", parameter)
        return cls(key)

    @property
    def is_resource(self) -> bool:
        return self.key.startswith(_RESOURCE)

    @property
    def attribute(self) -> str:
        """The attribute key (without `resource.`)."""
        return self.key[len(_RESOURCE) :] if self.is_resource else self.key

    def sql(self, param: str) -> str:
        """The label's value over a row (the key bound as `param`; ServiceName for resource.service.name)."""
        if self.key == "resource.service.name":
            return "ServiceName"
        column = "ResourceAttributes" if self.is_resource else "Attributes"
        return f"{column}[{{{param}:String}}]"


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A checked range query over one metric of a known type."""

    metric: str
    kind: str
    agg: str
    start_ns: int
    """The first step's start (a multiple of step_ns)."""
    end_ns: int
    """The last step's start (a multiple of step_ns)."""
    step_ns: int
    level: Level = RAW
    """The level asked for (reported); `tiers` says what answers which part."""
    tiers: tuple[Tier, ...] = ()
    """The parts of [read_start, read_end) and their levels (default: all raw)."""
    quantile: float = 0.5
    by: tuple[Label, ...] = ()
    filters: tuple[tuple[Label, str], ...] = ()

    @property
    def steps(self) -> int:
        return (self.end_ns - self.start_ns) // self.step_ns + 1

    @property
    def uses_increments(self) -> bool:
        """Whether per-series increases (and so the look-back) are needed."""
        return self.kind in _HISTOGRAM_KINDS or self.agg in ("rate", "increase")

    @property
    def read_start(self) -> int:
        """The first point's time to read: the first step, or earlier by the look-back (whole steps)."""
        if not self.uses_increments:
            return self.start_ns
        return self.start_ns - -(-LOOKBACK_NS // self.step_ns) * self.step_ns

    @property
    def read_end(self) -> int:
        return self.end_ns + self.step_ns

    @property
    def parts(self) -> tuple[Tier, ...]:
        """`tiers`, or the whole read range raw."""
        return self.tiers or (Tier(RAW, self.read_start, self.read_end),)


@dataclass(slots=True)
class Series:
    """One group's points: [(Unix seconds, value or None)]."""

    labels: dict[str, str]
    points: list[tuple[float, float | None]] = field(default_factory=list)


@dataclass(slots=True)
class RangeResult:
    series: list[Series]


def _filters(query: RangeQuery, params: dict[str, object]) -> str:
    conditions = ["MetricName = {metric:String}"]
    for i, (label, value) in enumerate(query.filters):
        params[f"fk{i}"] = label.attribute
        params[f"fv{i}"] = value
        conditions.append(f"{label.sql(f'fk{i}')} = {{fv{i}:String}}")
    return " AND ".join(conditions)


def _source(query: RangeQuery, store: Store, params: dict[str, object]) -> str:
    """The segments of every part of the read range, each from its level's table."""
    filters = _filters(query, params)
    selects = []
    for i, tier in enumerate(query.parts):
        params[f"lo{i}"], params[f"hi{i}"] = tier.lo, tier.hi
        where = f"{filters} AND {tier.level.time_filter(f'lo{i}', f'hi{i}')}"
        table = store.table(tier.level.table(query.kind), final=not tier.level.is_raw)
        selects.append(segments(query.kind, tier.level, table, where))
    return " UNION ALL ".join(selects)


def _labels(query: RangeQuery, params: dict[str, object]) -> str:
    exprs = []
    for i, label in enumerate(query.by):
        params[f"bk{i}"] = label.attribute
        exprs.append(label.sql(f"bk{i}"))
    return f"CAST([{', '.join(exprs)}], 'Array(String)')"


_STEP: Final = "intDiv(toUnixTimestamp64Nano(FirstTime), {step:Int64}) * {step:Int64}"
_KNOWN_START: Final = "(toUnixTimestamp64Nano(Start) > 0 AND Start < FirstTime)"
_NEW_RUN: Final = "toUnixTimestamp64Nano(Start) >= {read_start:Int64}"

_SUM_INCREASE: Final = f"""if(AggregationTemporality = 1, Sum,
    multiIf(NOT HasPrev, if({_KNOWN_START} AND {_NEW_RUN}, First, 0),
        ({_KNOWN_START} AND Start != PrevStart) OR (IsMonotonic AND First < PrevLast), First,
        First - PrevLast)
    + if(IsMonotonic AND Last < First, Last, Last - First))"""
"""A sum segment's increase: delta: its total; cumulative: the step from the previous segment plus its own."""

_VECTOR_INCREASE: Final = f"""if(AggregationTemporality = 1, Totals,
    arrayMap((a, b) -> a + b,
        multiIf(NOT HasPrev, if({_KNOWN_START} AND {_NEW_RUN}, First, arrayMap(x -> 0., First)),
            ({_KNOWN_START} AND Start != PrevStart) OR First[1] < PrevLast[1], First,
            arrayMap((a, b) -> a - b, First, arrayResize(PrevLast, length(First)))),
        if(Last[1] < First[1], Last, arrayMap((a, b) -> a - b, Last, arrayResize(First, length(Last))))))"""
"""A histogram segment's [count, sum, buckets...] increase, by the same rule (a reset: Count drops)."""

_QUANTILE: Final = """multiIf(
    length(bounds) < 2 OR bounds[-1] != inf OR cum[-1] <= 0, nan,
    idx = 0, bounds[-2],
    idx = 1 AND bounds[1] <= 0, bounds[1],
    if(idx = 1, 0, bounds[idx - 1]) + (bounds[idx] - if(idx = 1, 0, bounds[idx - 1]))
        * (rank - if(idx = 1, 0, cum[idx - 1])) / (cum[idx] - if(idx = 1, 0, cum[idx - 1])))"""
"""Prometheus's bucketQuantile over `bounds` (ascending, +Inf last) and their cumulative counts `cum`."""


def _value(query: RangeQuery) -> str:
    """The per-(group, step) aggregate over the rows of the inner query."""
    seconds = f"({query.step_ns} / {NANOS})"
    agg = query.agg
    if query.kind in _HISTOGRAM_KINDS:
        if agg == "quantile":
            return (
                "sumMap(arrayPushBack(ExplicitBounds, inf), "
                "arrayResize(arraySlice(Inc, 3), length(ExplicitBounds) + 1), "
                "arrayMap(x -> 1., arrayResize(arraySlice(Inc, 3), length(ExplicitBounds) + 1)))"
            )
        return {
            "count": "sum(Inc[1])",
            "increase": "sum(Inc[1])",
            "rate": f"sum(Inc[1]) / {seconds}",
            "sum": "sum(Inc[2])",
            "avg": "sum(Inc[2]) / sum(Inc[1])",
        }[agg]
    if agg in ("rate", "increase"):
        return "sum(Inc)" if agg == "increase" else f"sum(Inc) / {seconds}"
    return {
        "sum": "sum(Sum)",
        "avg": "sum(Sum) / sum(Count)",
        "min": "min(Min)",
        "max": "max(Max)",
        "count": "toFloat64(sum(Count))",
    }[agg]


def range_sql(query: RangeQuery, store: Store, max_series: int) -> tuple[str, dict[str, object]]:
    """The SQL of `query` over `store`'s tables and its parameters.

    Rows: (labels Array(String), steps Array(Int64 ns), values Array(Float64)), at most `max_series` + 1.
    """
    params: dict[str, object] = {
        "metric": query.metric,
        "step": query.step_ns,
        "first_step": query.start_ns,
        "read_start": query.read_start,
        "read_end": query.read_end,
        "q": query.quantile,
        "max_series": max_series + 1,
    }
    source = _source(query, store, params)
    labels = _labels(query, params)
    if query.uses_increments:
        partition = "ServiceName, MetricName, Attributes, ResourceAttributes, AggregationTemporality"
        partition += ", IsMonotonic" if query.kind == "sum" else ", ExplicitBounds"
        increase = _SUM_INCREASE if query.kind == "sum" else _VECTOR_INCREASE
        bounds = "" if query.kind == "sum" else "ExplicitBounds, "
        rows = f"""SELECT {labels} AS labels, {_STEP} AS t, {bounds}{increase} AS Inc
FROM (
    SELECT *,
        lagInFrame(Last) OVER w AS PrevLast,
        lagInFrame(Start) OVER w AS PrevStart,
        lagInFrame(toUInt8(1), 1, toUInt8(0)) OVER w AS HasPrev
    FROM ({source})
    WINDOW w AS (PARTITION BY {partition} ORDER BY FirstTime, LastTime
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)"""
    else:
        rows = f"SELECT {labels} AS labels, {_STEP} AS t, * FROM ({source})"
    value = _value(query)
    per_step = (
        f"SELECT labels, t, {value} AS v FROM ({rows}) WHERE t >= {{first_step:Int64}} GROUP BY labels, t"
    )
    if query.agg == "quantile":
        per_step = f"""SELECT labels, t, {_QUANTILE} AS v FROM (
    SELECT labels, t, v.1 AS bounds, arrayCumSum(v.2) AS cum, {{q:Float64}} * cum[-1] AS rank,
        arrayFirstIndex(c -> c >= rank, arrayPopBack(cum)) AS idx
    FROM ({per_step})
)"""
    sql = f"""SELECT labels, arrayMap(p -> p.1, points), arrayMap(p -> p.2, points)
FROM (
    SELECT labels, arraySort(p -> p.1, groupArray((t, toFloat64(v)))) AS points
    FROM ({per_step})
    GROUP BY labels
)
ORDER BY labels
LIMIT {{max_series:UInt32}}"""
    return sql, params


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


async def run_range_query(store: Store, query: RangeQuery, max_series: int) -> RangeResult:
    """The series of `query` (BadRequestError when more than `max_series` groups match)."""
    sql, params = range_sql(query, store, max_series)
    rows = await store.rows(sql, params)
    if len(rows) > max_series:
        raise BadRequestError(
            f"the query matches more than {max_series} series; filter more or group by fewer labels", "by"
        )
    keys = [label.key for label in query.by]
    return RangeResult(
        [
            Series(
                dict(zip(keys, (str(v) for v in labels), strict=True)),
                [(int(t) / NANOS, _number(float(v))) for t, v in zip(steps, values, strict=True)],
            )
            for labels, steps, values in rows
        ]
    )
