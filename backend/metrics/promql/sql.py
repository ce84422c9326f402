"""ClickHouse SQL for each step of a PromQL evaluation; one query holds the whole expression as CTEs.

Every vector is a relation `(sid UInt32, t Int64, v Float64)`: series number, step time (Unix ms),
value. The pieces, with Prometheus 2.x semantics:

- *source*: per selected series `pid`, its points as sorted arrays `ts` (Unix ms, truncated as
  Prometheus stores times), `vs`, `stales`, one point per ms. A point flagged NO_RECORDED_VALUE is
  a staleness marker. A delta sum or histogram is accumulated into a cumulative series from the
  start of what the query reads (its first step minus the range or lookback and offset), so rate,
  irate and increase over it are exact; its raw values count from that start.
- *instant selector*: at each step, the newest point at or before `t - offset`, if it is no older
  than the lookback (5 minutes, inclusive) and not a staleness marker.
- *range function*: over the non-stale points of `[t - offset - range, t - offset]` (both ends
  included): their count, first and last point, the point before the last, and the counter resets
  after the first (a drop adds the value before it); then Prometheus's `extrapolatedRate` (rate,
  increase) or `instantValue` (irate).
- Both stay per series in arrays: the points are merged with the steps' window bounds by one sort,
  whose running count gives each step its first and last point (no join, no sort of all rows).
- *`@`*: evaluated at its one time and repeated at every step.
- *aggregation*, *histogram_quantile* (`bucketQuantile`: sort by `le`, merge equal bounds, force
  monotonic counts, interpolate), *vector-scalar operators*: over the child's relation, with series
  numbers mapped by arrays computed from the label sets in Python.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from backend.metrics.catalog import Part, series_id_sql

__all__ = [
    "INF_BUCKET",
    "LOOKBACK_MS",
    "SourceTable",
    "SqlQuery",
    "Steps",
    "aggregate",
    "histogram_quantile",
    "instant",
    "negate",
    "range_function",
    "repeat",
    "source",
    "vector_scalar",
]

LOOKBACK_MS: Final = 5 * 60 * 1000
"""Prometheus's default lookback delta."""
INF_BUCKET: Final = 5
"""The part code of a histogram's `+Inf` bucket in the SQL (the catalog's Part.BUCKET with bound ∞)."""
_SQL_COMPARE: Final = {"==": "=", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "<=": "<="}


@dataclass(frozen=True, slots=True)
class Steps:
    """The evaluation times: `count` steps of `step` ms from `start` ms (one step for an instant query)."""

    start: int
    step: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.step * (self.count - 1)


@dataclass
class SqlQuery:
    """One evaluation query under construction: its CTEs and bound parameters."""

    ctes: list[tuple[str, str]] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)

    def param(self, value: object, type_: str) -> str:
        """A placeholder bound to `value`.

        An array travels as one JSON string that ClickHouse parses: bound as an array literal, each
        element is a node ClickHouse's analyzer walks again at every step of the query (a few hundred
        elements cost more than evaluating the query). Float64 arrays go as texts (JSON has no inf).
        """
        name = f"p{len(self.parameters)}"
        if type_ == "Array(Float64)":
            assert isinstance(value, list)
            self.parameters[name] = json.dumps([repr(float(v)) for v in value])
            return f"arrayMap(x -> toFloat64(x), JSONExtract({{{name}:String}}, 'Array(String)'))"
        if type_.startswith("Array("):
            self.parameters[name] = json.dumps(value, allow_nan=False)
            return f"JSONExtract({{{name}:String}}, '{type_}')"
        self.parameters[name] = value
        return f"{{{name}:{type_}}}"

    def cte(self, sql: str) -> str:
        """Add a CTE; its name."""
        name = f"n{len(self.ctes)}"
        self.ctes.append((name, sql))
        return name

    def render(self, root: str) -> str:
        """The query: the CTEs, then per series of relation `root` its times (Unix seconds) and values
        (ClickHouse's shortest round-trip text, Prometheus's digits), oldest first."""
        head = "WITH " + ", ".join(f"{name} AS ({sql})" for name, sql in self.ctes) + " " if self.ctes else ""
        return (
            f"{head}SELECT sid, arrayMap(x -> x.1 / 1000, points) AS times, arrayMap(x -> toString(x.2), points) AS values "
            f"FROM (SELECT sid, arraySort(x -> x.1, groupArray((t, v))) AS points FROM {root} GROUP BY sid)"
        )


@dataclass
class SourceTable:
    """The selected series of one table: per stored series, the Prometheus series it feeds."""

    kind: str
    names: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    parts: dict[int, list[tuple[int, int, float, int]]] = field(default_factory=dict)
    """sid -> [(pid, part code, bound or quantile, delta)]: the catalog's Part, or INF_BUCKET (bound 0)."""


_POINT_COLUMNS: Final = {
    "histogram": ("arrayCumSum(BucketCounts)", "ExplicitBounds", "toFloat64(Count)", "Sum"),
    "summary": ("`ValueAtQuantiles.Quantile`", "`ValueAtQuantiles.Value`", "toFloat64(Count)", "Sum"),
}
"""Per table, what a point keeps besides (t, stale): p.3, p.4, ... in `_value_sql`."""


def _value_sql(kind: str) -> tuple[str, str]:
    """(value, presence) of a point `p` for the Prometheus series `c` (part c.2, bound or quantile c.3)."""
    if kind == "histogram":
        return (
            f"multiIf(c.2 = {Part.BUCKET}, toFloat64(p.3[indexOf(p.4, c.3)]), c.2 = {Part.SUM}, p.6, p.5)",
            f"c.2 != {Part.BUCKET} OR has(p.4, c.3)",
        )
    if kind == "summary":
        return (
            f"multiIf(c.2 = {Part.QUANTILE}, p.4[indexOf(p.3, c.3)], c.2 = {Part.SUM}, p.6, p.5)",
            f"c.2 != {Part.QUANTILE} OR has(p.3, c.3)",
        )
    return "p.3", "1"


def source(
    q: SqlQuery, tables: Sequence[SourceTable], table_name: dict[str, str], lo_ms: int, hi_ms: int
) -> str:
    """A CTE of the selected series `(pid, ts, vs, stales)`: their points with t in [lo_ms, hi_ms], oldest first.

    Points are gathered per stored series (sorted once), then each Prometheus series it feeds takes
    its values from them; series of equal labels from several stored series are merged.
    """
    lo = q.param(lo_ms * 1_000_000, "Int64")
    hi = q.param((hi_ms + 1) * 1_000_000, "Int64")
    parts = []
    feeds: dict[int, int] = {}
    any_delta = False
    for table in tables:
        sids = sorted(table.parts)
        comps = [table.parts[s] for s in sids]
        for group in comps:
            for pid, _, _, delta in group:
                feeds[pid] = feeds.get(pid, 0) + 1
                any_delta = any_delta or bool(delta)
        value, present = _value_sql(table.kind)
        kept = _POINT_COLUMNS.get(table.kind, ("Value",))
        columns = ", ".join(f"{sql} AS c{i}" for i, sql in enumerate(kept, 3))
        names = ", ".join(f"c{i}" for i in range(3, 3 + len(kept)))
        lookup = (
            f"transform({series_id_sql(table.kind)}, {q.param(sids, 'Array(UInt64)')}, "
            f"{q.param(list(range(1, len(sids) + 1)), 'Array(UInt32)')}, toUInt32(0))"
        )
        rows = (
            f"SELECT {lookup} AS n, intDiv(toUnixTimestamp64Nano(TimeUnix), 1000000) AS t, "
            f"toUInt8(bitAnd(Flags, 1)) AS stale, {columns} FROM {table_name[table.kind]} "
            f"WHERE MetricName IN {q.param(sorted(table.names), 'Array(String)')} "
            f"AND ServiceName IN {q.param(sorted(table.services), 'Array(String)')} "
            f"AND TimeUnix >= fromUnixTimestamp64Nano({lo}) AND TimeUnix < fromUnixTimestamp64Nano({hi}) AND n > 0"
        )
        stored = f"SELECT n, arraySort(p -> p.1, groupArray(tuple(t, stale, {names}))) AS pts FROM ({rows}) GROUP BY n"
        parts.append(
            f"SELECT c.1 AS pid, c.4 AS delta, arrayMap(p -> (p.1, {value}, p.2), arrayFilter(p -> {present}, pts)) "
            f"AS points FROM ({stored}) "
            f"ARRAY JOIN arrayElement({q.param(comps, 'Array(Array(Tuple(UInt32, Int8, Float64, UInt8)))')}, n) AS c"
        )
    series = " UNION ALL ".join(parts)
    if any(count > 1 for count in feeds.values()):
        series = (
            "SELECT pid, any(delta) AS delta, arraySort(x -> x.1, arrayFlatten(groupArray(points))) AS points "
            f"FROM ({series}) GROUP BY pid"
        )
    unique = (
        "SELECT pid, delta, arrayFilter((x, i) -> i = length(points) OR x.1 != points[i + 1].1, points, "
        f"arrayEnumerate(points)) AS points FROM ({series})"
    )
    values = "arrayMap(x -> x.2, points)"
    if any_delta:
        values = f"if(delta = 1, arrayCumSum(arrayMap(x -> if(x.3 = 0, x.2, 0.), points)), {values})"
    return q.cte(
        f"SELECT pid, arrayMap(x -> x.1, points) AS ts, {values} AS vs, arrayMap(x -> x.3, points) AS stales "
        f"FROM ({unique}) WHERE notEmpty(ts)"
    )


def _window_ends(q: SqlQuery, steps: Steps, offset: int) -> str:
    """The steps' window ends, `start - offset + k * step` (Unix ms)."""
    return (
        f"arrayMap(k -> {q.param(steps.start - offset, 'Int64')} + toInt64(k) * {q.param(steps.step, 'Int64')}, "
        f"range({q.param(steps.count, 'UInt32')}))"
    )


def _counts(times: str, bounds: str, inclusive: bool, name: str) -> str:
    """`name`: per bound (sorted), how many of the sorted `times` are at or before it (`inclusive`) or
    before it; both merged by one sort (bounds after, or before, equal times), then a running count."""
    tag = 2 if inclusive else 0
    merged = f"arraySort(arrayConcat(arrayMap(x -> (x, 1), {times}), arrayMap(x -> (x, {tag}), {bounds})))"
    return (
        f"arrayFilter((c, x) -> x.2 = {tag}, arrayCumSum(arrayMap(x -> toUInt32(x.2 = 1), {merged} AS {name}_merged)), "
        f"{name}_merged) AS {name}"
    )


def _rows(q: SqlQuery, steps: Steps, per_series: str) -> str:
    """A relation from `per_series` rows of `(pid, results)`: one (value, kept) per step."""
    return q.cte(
        f"SELECT pid AS sid, {_step_time(q, steps)} AS t, r.1 AS v "
        f"FROM ({per_series}) ARRAY JOIN results AS r, arrayEnumerate(results) AS k WHERE r.2"
    )


def _step_time(q: SqlQuery, steps: Steps) -> str:
    """The time of step number `k` (from 1)."""
    return f"{q.param(steps.start, 'Int64')} + toInt64(k - 1) * {q.param(steps.step, 'Int64')}"


def instant(q: SqlQuery, src: str, steps: Steps, offset: int) -> str:
    """A relation of an instant selector over `src`: at each step, the newest point at or before its
    window end (`l`, the number of points up to it), if it is no older than the lookback and not a
    staleness marker."""
    lookback = q.param(LOOKBACK_MS, "Int64")
    return _rows(
        q,
        steps,
        "SELECT pid, arrayMap((l, e) -> (vs[l], l > 0 AND ts[l] >= e - "
        f"{lookback} AND stales[l] = 0), up_to, ends) AS results FROM ("
        f"SELECT pid, ts, vs, stales, {_window_ends(q, steps, offset)} AS ends, {_counts('ts', 'ends', True, 'up_to')} "
        f"FROM {src})",
    )


def range_function(q: SqlQuery, function: str, src: str, steps: Steps, offset: int, range_ms: int) -> str:
    """A relation of rate / irate / increase of a range selector over `src` at every step.

    Per series, over its non-stale points: for each step, how many points are at or before its window
    end (`l`, the last point's number) and before its start (`b`; the first is `b + 1`); the running
    sum of resets (`cumulative`) gives the resets after the first; then Prometheus's formulas, for the
    windows holding at least two points.
    """
    range_ = q.param(range_ms, "Int64")
    points = (
        "SELECT pid, arrayFilter((x, s) -> s = 0, ts, stales) AS ts, arrayFilter((x, s) -> s = 0, vs, stales) AS vs "
        f"FROM {src}"
    )
    bounds = q.cte(
        f"SELECT pid, ts, vs, {_window_ends(q, steps, offset)} AS ends, arrayMap(x -> x - {range_}, ends) AS starts, "
        "arrayCumSum(arrayMap((a, c) -> if(a < c, c, 0.), vs, arrayPushFront(arrayPopBack(vs), vs[1]))) AS cumulative, "
        f"{_counts('ts', 'ends', True, 'up_to')}, {_counts('ts', 'starts', False, 'before')} FROM ({points})"
    )
    windows = q.cte(
        "SELECT pid, ends, arrayMap((l, b) -> toInt64(l) - toInt64(b), up_to, before) AS counts, "
        "arrayMap(b -> ts[b + 1], before) AS firsts_t, arrayMap(b -> vs[b + 1], before) AS firsts_v, "
        "arrayMap(l -> ts[l], up_to) AS lasts_t, arrayMap(l -> vs[l], up_to) AS lasts_v, "
        "arrayMap(l -> ts[l - 1], up_to) AS previous_t, arrayMap(l -> vs[l - 1], up_to) AS previous_v, "
        f"arrayMap((l, b) -> cumulative[l] - cumulative[b + 1], up_to, before) AS resets_after_first FROM {bounds}"
    )
    rows = q.cte(
        f"SELECT pid AS sid, {_step_time(q, steps)} AS t, e, n, ft, fv, lt, lv, pt, pv, resets FROM {windows} "
        "ARRAY JOIN arrayEnumerate(ends) AS k, ends AS e, counts AS n, firsts_t AS ft, firsts_v AS fv, lasts_t AS lt, "
        "lasts_v AS lv, previous_t AS pt, previous_v AS pv, resets_after_first AS resets WHERE n >= 2"
    )
    if function == "irate":
        return q.cte(f"SELECT sid, t, if(lv < pv, lv, lv - pv) / ((lt - pt) / 1000.) AS v FROM {rows}")
    per_second = f" / {q.param(range_ms / 1000, 'Float64')}" if function == "rate" else ""
    # Three stages, each naming only columns of the one before: ClickHouse expands an alias used
    # inside another alias in place, which makes one flat SELECT of these formulas explode in size.
    durations = (
        "SELECT sid, t, n, fv, (lv - fv) + resets AS result, (lt - ft) / 1000. AS sampled, "
        f"(ft - (e - {range_})) / 1000. AS to_start_raw, (e - lt) / 1000. AS to_end FROM {rows}"
    )
    clamped = (
        "SELECT sid, t, result, sampled, to_end, sampled / toFloat64(n - 1) AS average, "
        "if(result > 0 AND fv >= 0 AND sampled * (fv / result) < to_start_raw, sampled * (fv / result), to_start_raw) "
        f"AS to_start FROM ({durations})"
    )
    return q.cte(
        "SELECT sid, t, result * ((sampled + if(to_start < average * 1.1, to_start, average / 2) "
        f"+ if(to_end < average * 1.1, to_end, average / 2)) / sampled){per_second} AS v FROM ({clamped})"
    )


def repeat(q: SqlQuery, child: str, steps: Steps) -> str:
    """A relation of `child` (evaluated at one time, `@`) at every step."""
    times = (
        f"arrayMap(i -> {q.param(steps.start, 'Int64')} + toInt64(i) * {q.param(steps.step, 'Int64')}, "
        f"range({q.param(steps.count, 'UInt32')}))"
    )
    return q.cte(f"SELECT sid, arrayJoin({times}) AS t, v FROM {child}")


def aggregate(q: SqlQuery, op: str, child: str, groups: Sequence[int]) -> str:
    """A relation of `op` over `child`, series `i` going to group `groups[i]`."""
    value = {
        "sum": "sum(v)",
        "avg": "avg(v)",
        "count": "toFloat64(count())",
        "min": "if(countIf(NOT isNaN(v)) = 0, nan, minIf(v, NOT isNaN(v)))",
        "max": "if(countIf(NOT isNaN(v)) = 0, nan, maxIf(v, NOT isNaN(v)))",
    }[op]
    return q.cte(
        f"SELECT g AS sid, t, {value} AS v FROM "
        f"(SELECT arrayElement({q.param(list(groups), 'Array(UInt32)')}, sid + 1) AS g, t, v FROM {child}) "
        "GROUP BY g, t"
    )


def histogram_quantile(
    q: SqlQuery, quantile: float, child: str, groups: Sequence[int], bounds: Sequence[float]
) -> str:
    """A relation of Prometheus's bucketQuantile per group (`groups[i]` 0 drops series i; groups count from 1)."""
    phi = q.param(quantile, "Float64")
    buckets = (
        "SELECT g, t, le, sum(v) AS v FROM ("
        f"SELECT arrayElement({q.param(list(groups), 'Array(UInt32)')}, sid + 1) AS g, "
        f"arrayElement({q.param(list(bounds), 'Array(Float64)')}, sid + 1) AS le, t, v FROM {child}"
        ") WHERE g > 0 GROUP BY g, t, le"
    )
    ordered = (
        "SELECT g, t, arrayMap(x -> x.1, b) AS bounds, arrayMap(x -> x.2, b) AS raw FROM ("
        f"SELECT g, t, arraySort(x -> x.1, groupArray((le, v))) AS b FROM ({buckets}) GROUP BY g, t)"
    )
    monotonic = (
        "SELECT g, t, bounds, length(bounds) AS n, "
        f"arrayMap(i -> arrayMax(arraySlice(raw, 1, i)), arrayEnumerate(raw)) AS counts FROM ({ordered})"
    )
    ranked = f"SELECT g, t, bounds, n, counts, counts[n] AS observations, {phi} * counts[n] AS rank FROM ({monotonic})"
    found = (
        "SELECT g, t, bounds, n, counts, observations, rank, "
        f"if(arrayFirstIndex(c -> c >= rank, arraySlice(counts, 1, n - 1)) AS i = 0, n, i) AS bi FROM ({ranked})"
    )
    return q.cte(
        "SELECT toUInt32(g - 1) AS sid, t, multiIf("
        f"isNaN({phi}), nan, {phi} < 0, -inf, {phi} > 1, inf, "
        "NOT (isInfinite(bounds[n]) AND bounds[n] > 0), nan, n < 2, nan, observations = 0, nan, "
        "bi = n, bounds[n - 1], "
        "bi = 1 AND bounds[1] <= 0, bounds[1], "
        "bi = 1, bounds[1] * (rank / counts[1]), "
        "bounds[bi - 1] + (bounds[bi] - bounds[bi - 1]) * ((rank - counts[bi - 1]) / (counts[bi] - counts[bi - 1]))"
        f") AS v FROM ({found})"
    )


def vector_scalar(q: SqlQuery, op: str, child: str, scalar: float, scalar_left: bool, as_bool: bool) -> str:
    """A relation of `child op scalar` (or `scalar op child`): arithmetic, or a comparison that filters or gives 0/1."""
    s = q.param(scalar, "Float64")
    left, right = (s, "x") if scalar_left else ("x", s)
    inner = f"(SELECT sid, t, v AS x FROM {child})"
    if op in _SQL_COMPARE:
        condition = f"{left} {_SQL_COMPARE[op]} {right}"
        if as_bool:
            return q.cte(f"SELECT sid, t, if({condition}, 1., 0.) AS v FROM {inner}")
        return q.cte(f"SELECT sid, t, x AS v FROM {inner} WHERE {condition}")
    expression = {
        "+": f"{left} + {right}",
        "-": f"{left} - {right}",
        "*": f"{left} * {right}",
        "/": f"{left} / {right}",
        "%": f"modulo({left}, {right})",
        "^": f"pow({left}, {right})",
    }[op]
    return q.cte(f"SELECT sid, t, {expression} AS v FROM {inner}")


def negate(q: SqlQuery, child: str) -> str:
    """A relation of `-child`."""
    return q.cte(f"SELECT sid, t, -x AS v FROM (SELECT sid, t, v AS x FROM {child})")
