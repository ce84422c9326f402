"""Trace analytics over otel_traces: service dependency graph, RED metrics, latency distribution.

Every aggregation runs in ClickHouse; Python only shapes the (small) results. Which spans are
*requests* follows the spanmetrics connector and Jaeger's SPM: the connector counts every span,
keyed by service, span name, kind and status (an error is status code Error); Jaeger's Monitor tab
then asks for server spans. Here a `SpanSelection` takes a service's entry spans by default — kind
Server or Consumer, or a root span of any kind — so queue consumers and traces started by a job
count too; a list of kinds, or all spans, can be asked for instead. Durations come back in
milliseconds (field names end in `_ms`); quantiles are ClickHouse's `quantiles` (reservoir sampling
of 8,192 values per group: exact, with linear interpolation, up to 8,192 spans per group; a
sample beyond, in bounded memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.service import Store

MS = 1_000_000
"""Nanoseconds per millisecond."""
MAX_BUCKETS = 1_000
"""The most time buckets one RED query may return."""
MAX_HISTOGRAM_BUCKETS = 200
"""The most log-spaced buckets of a latency distribution."""
SPANMETRICS_BOUNDS_MS = (2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000)
"""The spanmetrics connector's default explicit histogram bounds (ms); a bucket holds (previous, bound]."""
STORED_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
"""Span kinds as the exporter stores them."""


@dataclass(frozen=True)
class DependencyLink:
    """Calls from spans of service `parent` to child spans of service `child` in a time range."""

    parent: str
    child: str
    call_count: int
    error_count: int


@dataclass(frozen=True)
class SpanSelection:
    """Which spans of one service count: its entry spans, spans of some kinds, or all of them."""

    service: str
    operation: str = ""
    """One span name, or "" for all."""
    kinds: tuple[str, ...] = ()
    """Stored kinds ("Server", ...); empty with `entry` False: every kind."""
    entry: bool = True
    """Server or Consumer spans, or root spans (Jaeger's SPM default is server spans)."""

    def where(self) -> tuple[str, dict[str, object]]:
        """The SQL condition on otel_traces and its parameters."""
        conditions = ["ServiceName = {service:String}"]
        parameters: dict[str, object] = {"service": self.service}
        if self.operation:
            conditions.append("SpanName = {operation:String}")
            parameters["operation"] = self.operation
        if self.entry:
            conditions.append("(SpanKind IN ('Server', 'Consumer') OR ParentSpanId = '')")
        elif self.kinds:
            conditions.append("SpanKind IN {kinds:Array(String)}")
            parameters["kinds"] = list(self.kinds)
        return " AND ".join(conditions), parameters


def _time_range(inclusive_end: bool) -> str:
    end = "<=" if inclusive_end else "<"
    return (
        "Timestamp >= fromUnixTimestamp64Nano({start:Int64}) "
        f"AND Timestamp {end} fromUnixTimestamp64Nano({{end:Int64}})"
    )


# --- dependency graph -------------------------------------------------------------------------------


async def dependency_links(store: Store, start_ns: int, end_ns: int) -> list[DependencyLink]:
    """Edges between services from parent/child spans that started in [start_ns, end_ns].

    A child span whose parent (same trace) belongs to another service is one call from the
    parent's service to the child's; an error when the child's status is Error. Ids are joined as
    numbers (16 + 8 bytes); a parent stored twice is matched once (ANY JOIN).
    """
    table, span_range = store.table("otel_traces"), _time_range(inclusive_end=True)
    sql = f"""
        SELECT parents.service AS parent, children.service AS child, count() AS calls, sum(children.error) AS errors
        FROM (
            SELECT reinterpretAsUInt128(unhex(TraceId)) AS trace, reinterpretAsUInt64(unhex(ParentSpanId)) AS span,
                   ServiceName AS service, toUInt64(StatusCode = 'Error') AS error
            FROM {table}
            WHERE ParentSpanId != '' AND {span_range}
        ) AS children
        ANY INNER JOIN (
            SELECT reinterpretAsUInt128(unhex(TraceId)) AS trace, reinterpretAsUInt64(unhex(SpanId)) AS span,
                   ServiceName AS service
            FROM {table}
            WHERE {span_range}
        ) AS parents ON children.trace = parents.trace AND children.span = parents.span
        WHERE parents.service != children.service
        GROUP BY parent, child
        ORDER BY parent, child"""
    rows = await store.rows(sql, {"start": start_ns, "end": end_ns})
    return [DependencyLink(parent, child, int(calls), int(errors)) for parent, child, calls, errors in rows]


# --- RED metrics -------------------------------------------------------------------------------------


@dataclass
class RedSeries:
    """Per time bucket: requests, errors, request rate (per second), error fraction, latency quantiles (ms).

    `operation` is None for the whole service (every selected span, whatever its name). Buckets
    without requests have rate 0 and None for the error rate and quantiles.
    """

    operation: str | None
    requests: list[int]
    errors: list[int]
    request_rate: list[float]
    error_rate: list[float | None]
    p50_ms: list[float | None]
    p90_ms: list[float | None]
    p99_ms: list[float | None]


@dataclass
class RedMetrics:
    """RED series over buckets [start_ns + i * step_ns, + step_ns) ∩ [start_ns, end_ns)."""

    start_ns: int
    end_ns: int
    step_ns: int
    timestamps: list[int]
    """Each bucket's start (Unix ns)."""
    series: list[RedSeries]
    """The whole service first, then operations by requests, most first."""


def bucket_count(start_ns: int, end_ns: int, step_ns: int) -> int:
    """How many buckets of `step_ns` cover [start_ns, end_ns) (at least one)."""
    return max(1, -(-(end_ns - start_ns) // step_ns))


async def red_metrics(
    store: Store, selection: SpanSelection, start_ns: int, end_ns: int, step_ns: int, limit: int
) -> RedMetrics:
    """RED metrics of the selected spans that started in [start_ns, end_ns), per `step_ns` bucket.

    One scan with GROUPING SETS gives the whole service's row and the `limit` busiest operations';
    buckets are dense arrays (groupArrayInsertAt), the last one's rate over its own (shorter) length.
    """
    buckets = bucket_count(start_ns, end_ns, step_ns)
    where, parameters = selection.where()
    sql = f"""
        SELECT operation, requests, errors,
            arrayMap((c, i) -> c * 1e9 / least({{step:Int64}}, {{end:Int64}} - {{start:Int64}} - i * {{step:Int64}}),
                     requests, range({{n:UInt32}})) AS request_rate,
            arrayMap((e, c) -> if(c = 0, NULL, e / c), errors, requests) AS error_rate,
            arrayMap((q, c) -> if(c = 0, NULL, q / {MS}), p50, requests),
            arrayMap((q, c) -> if(c = 0, NULL, q / {MS}), p90, requests),
            arrayMap((q, c) -> if(c = 0, NULL, q / {MS}), p99, requests)
        FROM (
            SELECT operation,
                groupArrayInsertAt(0, {{n:UInt32}})(calls, bucket) AS requests,
                groupArrayInsertAt(0, {{n:UInt32}})(failed, bucket) AS errors,
                groupArrayInsertAt(0, {{n:UInt32}})(q[1], bucket) AS p50,
                groupArrayInsertAt(0, {{n:UInt32}})(q[2], bucket) AS p90,
                groupArrayInsertAt(0, {{n:UInt32}})(q[3], bucket) AS p99,
                sum(calls) AS total
            FROM (
                SELECT SpanName AS operation,
                    toUInt32(intDiv(toUnixTimestamp64Nano(Timestamp) - {{start:Int64}}, {{step:Int64}})) AS bucket,
                    count() AS calls, countIf(StatusCode = 'Error') AS failed,
                    quantiles(0.5, 0.9, 0.99)(Duration) AS q
                FROM {store.table("otel_traces")}
                WHERE {where} AND {_time_range(inclusive_end=False)}
                GROUP BY GROUPING SETS ((SpanName, bucket), (bucket))
            )
            GROUP BY operation
            ORDER BY isNull(operation) DESC, total DESC, operation
            LIMIT {{limit:UInt32}}
        )
        SETTINGS group_by_use_nulls = 1"""
    parameters.update(start=start_ns, end=end_ns, step=step_ns, n=buckets, limit=limit + 1)
    rows = await store.rows(sql, parameters)
    return RedMetrics(
        start_ns=start_ns,
        end_ns=end_ns,
        step_ns=step_ns,
        timestamps=[start_ns + i * step_ns for i in range(buckets)],
        series=[_red_series(row) for row in rows],
    )


def _red_series(row: Sequence[Any]) -> RedSeries:
    operation, requests, errors, rate, error_rate, p50, p90, p99 = row
    return RedSeries(
        operation=operation,
        requests=list(requests),
        errors=list(errors),
        request_rate=list(rate),
        error_rate=list(error_rate),
        p50_ms=list(p50),
        p90_ms=list(p90),
        p99_ms=list(p99),
    )


# --- latency distribution ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyBucket:
    """`count` spans lasted from `lower_ms` to `upper_ms` (None: no upper bound)."""

    lower_ms: float
    upper_ms: float | None
    count: int


@dataclass
class LatencyDistribution:
    """A histogram of durations with summary statistics (ms; None when there are no spans)."""

    scale: str
    """"log" (bounds log-spaced from the shortest to the longest span: [lower, upper), the last
    closed) or "spanmetrics" (the connector's default bounds: (lower, upper])."""
    count: int
    min_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    percentiles_ms: dict[str, float | None]
    """p50, p75, p90, p95, p99."""
    buckets: list[LatencyBucket]


PERCENTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


async def latency_distribution(
    store: Store, selection: SpanSelection, start_ns: int, end_ns: int, buckets: int | None
) -> LatencyDistribution:
    """The duration histogram of the selected spans that started in [start_ns, end_ns).

    `buckets`: that many log-spaced buckets between the shortest and longest duration, or None for
    the spanmetrics connector's default explicit bounds.
    """
    where, parameters = selection.where()
    parameters.update(start=start_ns, end=end_ns)
    source = f"FROM {store.table('otel_traces')} WHERE {where} AND {_time_range(inclusive_end=False)}"
    levels = ", ".join(str(level) for level in PERCENTILES)
    [(count, low, high, mean, quantiles)] = await store.rows(
        f"SELECT count(), min(Duration), max(Duration), avg(Duration), quantiles({levels})(Duration) {source}",
        parameters,
    )
    count = int(count)
    scale = "spanmetrics" if buckets is None else "log"
    if count == 0:
        empty: dict[str, float | None] = {_percentile_name(level): None for level in PERCENTILES}
        return LatencyDistribution(scale, 0, None, None, None, empty, [])
    if buckets is None:
        histogram = await _explicit_histogram(store, source, parameters)
    else:
        histogram = await _log_histogram(store, source, parameters, int(low), int(high), buckets)
    return LatencyDistribution(
        scale=scale,
        count=count,
        min_ms=int(low) / MS,
        max_ms=int(high) / MS,
        mean_ms=float(mean) / MS,
        percentiles_ms={
            _percentile_name(level): float(value) / MS
            for level, value in zip(PERCENTILES, quantiles, strict=True)
        },
        buckets=histogram,
    )


def _percentile_name(level: float) -> str:
    return f"p{round(level * 100)}"


async def _explicit_histogram(
    store: Store, source: str, parameters: dict[str, object]
) -> list[LatencyBucket]:
    """Counts per spanmetrics bucket: index = how many bounds lie below the duration."""
    bounds_ns = [bound * MS for bound in SPANMETRICS_BOUNDS_MS]
    rows = await store.rows(
        f"SELECT arrayCount(b -> b < Duration, {{bounds:Array(UInt64)}}) AS bucket, count() {source} "
        "GROUP BY bucket",
        {**parameters, "bounds": bounds_ns},
    )
    counts = dict(rows)
    lowers = (0, *SPANMETRICS_BOUNDS_MS)
    uppers: tuple[float | None, ...] = (*SPANMETRICS_BOUNDS_MS, None)
    return [
        LatencyBucket(float(lower), None if upper is None else float(upper), int(counts.get(i, 0)))
        for i, (lower, upper) in enumerate(zip(lowers, uppers, strict=True))
    ]


def log_bounds(low_ns: int, high_ns: int, buckets: int) -> list[float]:
    """`buckets` + 1 log-spaced bounds (ns) from `low_ns` to `high_ns` (a zero low counts as 1 ns)."""
    low = max(low_ns, 1)
    ratio = high_ns / low
    return [float(low_ns), *(low * ratio ** (i / buckets) for i in range(1, buckets)), float(high_ns)]


async def _log_histogram(
    store: Store, source: str, parameters: dict[str, object], low_ns: int, high_ns: int, buckets: int
) -> list[LatencyBucket]:
    """Counts per log-spaced bucket: a guess from the logarithm, corrected against the bounds sent."""
    if high_ns <= max(low_ns, 1):
        buckets = 1
    bounds = log_bounds(low_ns, high_ns, buckets)
    rows = await store.rows(
        f"""
        SELECT bucket, count() FROM (
            SELECT Duration,
                toInt64(least(toFloat64({{n:UInt32}} - 1), greatest(0., floor(
                    log(greatest(Duration, 1) / {{low:Float64}}) / log({{ratio:Float64}}) * {{n:UInt32}})))) AS guess,
                toInt64(multiIf(
                    guess > 0 AND Duration < {{bounds:Array(Float64)}}[guess + 1], guess - 1,
                    guess + 1 < {{n:UInt32}} AND Duration >= {{bounds:Array(Float64)}}[guess + 2], guess + 1,
                    guess)) AS bucket
            {source}
        )
        GROUP BY bucket""",
        {
            **parameters,
            "n": buckets,
            "low": float(max(low_ns, 1)),
            "ratio": max(high_ns / max(low_ns, 1), 1.0 + 1e-12),
            "bounds": bounds,
        },
    )
    counts = dict(rows)
    return [LatencyBucket(bounds[i] / MS, bounds[i + 1] / MS, int(counts.get(i, 0))) for i in range(buckets)]


__all__ = [
    "MAX_BUCKETS",
    "MAX_HISTOGRAM_BUCKETS",
    "SPANMETRICS_BOUNDS_MS",
    "STORED_KINDS",
    "DependencyLink",
    "LatencyBucket",
    "LatencyDistribution",
    "RedMetrics",
    "RedSeries",
    "SpanSelection",
    "bucket_count",
    "dependency_links",
    "latency_distribution",
    "log_bounds",
    "red_metrics",
]
