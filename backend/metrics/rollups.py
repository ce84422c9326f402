"""The metric rollups of migration 0003: which tables answer a query, and their rows as uniform *segments*.

Levels: `RAW` (the `otel_metrics_<kind>` tables), `MINUTE` (`otel_metrics_<kind>_1m`) and `HOUR`
(`otel_metrics_<kind>_1h`) for the kinds gauge, sum and histogram; exponential histograms and
summaries are only raw. Buckets start at whole minutes / hours since the Unix epoch (UTC).

The rollups are filled in the background (refreshable views, see the migration): each table's
*watermark* (`watermarks`) is where its rows end, a few minutes behind the newest points for 1m,
up to an hour more for 1h. A query on a level reads `tiers`: the rollup before its watermark, the
finer rollup or raw points after it, so its answer is always complete.

Choice (`choose_level`), for a query reading [start, end) in steps of `step` (Unix ns):
- HOUR when the kind is rolled up, `step` and `start` are whole hours and end - start > 7 days;
- else MINUTE on the same terms with whole minutes and end - start > 6 hours;
- else RAW. A rollup answers only when each step is made of whole buckets, and then its answer
  equals the raw answer (up to floating-point summation order), but for points that arrived after
  their bucket was rolled up (more than ~2 minutes late), which the rollup lacks.

Segments (`segments(kind, level, table, where)`): one row per series, run and bucket (raw: one per
point), with the same columns at every level, so one query serves all of them:
- every kind: ServiceName, MetricName, Attributes, ResourceAttributes (the series), MetricUnit,
  FirstTime, LastTime (DateTime64(9): the segment's first and last point);
- gauge: Min, Max, Sum, Count (of the values), Last (the last value);
- sum: AggregationTemporality (1 delta, 2 cumulative), IsMonotonic, Start (the run's StartTimeUnix,
  0 for delta), Min, Max, Sum, Count (of the values: for a delta sum, Sum is the increase), First,
  Last (the first and last value);
- histogram, exponential_histogram, summary: AggregationTemporality, ExplicitBounds (empty unless
  histogram), Start, and three vectors `Array(Float64)` laid out as [count, sum, bucket 1, ...,
  bucket n+1]: Totals (the element-wise sum of the points: a delta histogram's increase), First and
  Last (the first and last point's).

A cumulative run's increase inside a segment is Last - First; `backend.metrics.rangequery` adds the
step from the previous segment with the reset rule (a new declared StartTimeUnix, or a drop). The
rollups keep runs apart (Start is in their key), so only a drop that no new StartTimeUnix declares
and that falls inside one bucket is approximated there (the increase then counts from the drop).

`where` is SQL over the table's columns (ServiceName, MetricName, Attributes, ResourceAttributes,
and the time column `level.time_column`); `level.time_filter(lo, hi)` gives the time condition on
bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from backend.service import NANOS

if TYPE_CHECKING:
    from backend.service import Store

__all__ = [
    "HOUR",
    "KINDS",
    "LEVELS",
    "MINUTE",
    "RAW",
    "ROLLED_UP",
    "Level",
    "Tier",
    "choose_level",
    "listing_level",
    "segments",
    "tiers",
    "watermarks",
]

KINDS: Final = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
"""The metric types, one raw table each (`otel_metrics_<kind>`)."""
ROLLED_UP: Final = ("gauge", "sum", "histogram")
"""The types with 1-minute and 1-hour rollups."""


@dataclass(frozen=True, slots=True)
class Level:
    """A resolution: raw points (`seconds` 0) or a rollup of `seconds`-wide buckets."""

    name: str
    """"raw", "1m" or "1h" (also the `source` parameter of the native range query)."""
    seconds: int
    """The bucket width (0 for raw)."""
    min_range: timedelta
    """`choose_level` takes this level only for ranges longer than this."""

    @property
    def is_raw(self) -> bool:
        return self.seconds == 0

    @property
    def bucket_ns(self) -> int:
        return self.seconds * NANOS

    @property
    def time_column(self) -> str:
        """The column to filter on: TimeUnix (DateTime64(9)) raw, Bucket (DateTime, its start) in a rollup."""
        return "TimeUnix" if self.is_raw else "Bucket"

    def table(self, kind: str) -> str:
        """The bare table name holding `kind` at this level."""
        if kind not in KINDS:
            raise ValueError(f"unknown metric type {kind!r}")
        if not self.is_raw and kind not in ROLLED_UP:
            raise ValueError(f"{kind} metrics have no {self.name} rollup")
        return f"otel_metrics_{kind}" if self.is_raw else f"otel_metrics_{kind}_{self.name}"

    def time_filter(self, lo: str = "read_start", hi: str = "read_end") -> str:
        """Rows of points in [{lo:Int64}, {hi:Int64}) ns (a rollup: of whole buckets, so align both)."""
        if self.is_raw:
            return (
                f"TimeUnix >= fromUnixTimestamp64Nano({{{lo}:Int64}}) "
                f"AND TimeUnix < fromUnixTimestamp64Nano({{{hi}:Int64}})"
            )
        return (
            f"Bucket >= toDateTime(intDiv({{{lo}:Int64}}, {NANOS})) "
            f"AND Bucket < toDateTime(intDiv({{{hi}:Int64}}, {NANOS}))"
        )

    def refusal(self, kind: str, start_ns: int, step_ns: int) -> str:
        """Why this level cannot answer steps of `step_ns` from `start_ns` exactly ('' if it can)."""
        if self.is_raw:
            return ""
        if kind not in ROLLED_UP:
            return f"{kind} metrics have no rollups"
        if step_ns % self.bucket_ns or start_ns % self.bucket_ns:
            return f"the {self.name} rollup needs a step and a start that are whole multiples of {self.name}"
        return ""


RAW: Final = Level("raw", 0, timedelta(0))
MINUTE: Final = Level("1m", 60, timedelta(hours=6))
HOUR: Final = Level("1h", 3600, timedelta(days=7))
LEVELS: Final = {level.name: level for level in (RAW, MINUTE, HOUR)}


def choose_level(kind: str, start_ns: int, end_ns: int, step_ns: int) -> Level:
    """The coarsest level answering steps of `step_ns` over [start_ns, end_ns) exactly (see the module doc)."""
    for level in (HOUR, MINUTE):
        if end_ns - start_ns > level.min_range.total_seconds() * NANOS and not level.refusal(
            kind, start_ns, step_ns
        ):
            return level
    return RAW


def listing_level(kind: str, start_ns: int, end_ns: int) -> Level:
    """The level that lists `kind`'s names and labels over [start_ns, end_ns): a rollup for long ranges."""
    if kind not in ROLLED_UP:
        return RAW
    for level in (HOUR, MINUTE):
        if end_ns - start_ns > level.min_range.total_seconds() * NANOS:
            return level
    return RAW


@dataclass(frozen=True, slots=True)
class Tier:
    """A part of a query's range read from one level: [lo, hi) Unix ns."""

    level: Level
    lo: int
    hi: int


async def watermarks(store: Store, kind: str) -> dict[str, int]:
    """Unix ns where `kind`'s 1m and 1h rollups end (absent: no rows yet): their newest progress marker."""
    if kind not in ROLLED_UP:
        return {}
    selects = [
        f"SELECT '{level.name}', toUnixTimestamp(max(Bucket)) FROM {store.table(level.table(kind))} "
        "WHERE MetricName = ''"
        for level in (MINUTE, HOUR)
    ]
    rows = await store.rows(" UNION ALL ".join(selects))
    return {str(name): int(seconds) * NANOS for name, seconds in rows if int(seconds) > 0}


def tiers(level: Level, lo: int, hi: int, marks: dict[str, int]) -> list[Tier]:
    """[lo, hi) split into the parts `level`, then finer levels, then raw points answer (empty parts dropped).

    `lo` must be a whole bucket of `level`; each rollup answers up to its watermark in `marks`.
    A part ends at a whole bucket of its level, so the next (finer) one starts aligned.
    """
    out: list[Tier] = []
    ladder = [lvl for lvl in (HOUR, MINUTE) if lvl.seconds <= level.seconds]
    for rung in ladder:
        end = min(hi, marks.get(rung.name, lo))
        end = max(lo, end - end % rung.bucket_ns)
        if end > lo:
            out.append(Tier(rung, lo, end))
            lo = end
    if hi > lo or not out:
        out.append(Tier(RAW, lo, hi))
    return out


# --- segments ---------------------------------------------------------------------------------

_SERIES: Final = "ServiceName, MetricName, Attributes, ResourceAttributes"
_START: Final = "if(AggregationTemporality = 2, StartTimeUnix, toDateTime64(0, 9))"


def _vector(count: str, total: str, buckets: str) -> str:
    """A [count, sum, buckets...] Array(Float64)."""
    return f"arrayConcat([toFloat64({count}), toFloat64({total})], arrayMap(x -> toFloat64(x), {buckets}))"


def segments(kind: str, level: Level, table: str, where: str) -> str:
    """A SELECT of `kind`'s segments at `level` from `table` over rows matching `where`.

    `table` is what `Store.table` gives for `level.table(kind)`, with FINAL for a rollup.
    """
    head = f"SELECT {_SERIES}, MetricUnit"
    if not level.is_raw:
        level.table(kind)  # checks the kind has rollups
        columns = {
            "gauge": "Min, Max, Sum, Count, Last",
            "sum": "AggregationTemporality, IsMonotonic, Start, Min, Max, Sum, Count, First, Last",
            "histogram": "AggregationTemporality, ExplicitBounds, Start, Totals, First, Last",
        }[kind]
        return f"{head}, FirstTime, LastTime, {columns} FROM {table} WHERE ({where}) AND MetricName != ''"
    head += ", TimeUnix AS FirstTime, TimeUnix AS LastTime"
    cond = f"({where}) AND bitAnd(Flags, 1) = 0"
    if kind == "gauge":
        return (
            f"{head}, Value AS Min, Value AS Max, Value AS Sum, toUInt64(1) AS Count, Value AS Last "
            f"FROM {table} WHERE {cond}"
        )
    if kind == "sum":
        return (
            f"{head}, AggregationTemporality, IsMonotonic, {_START} AS Start, Value AS Min, Value AS Max, "
            f"Value AS Sum, toUInt64(1) AS Count, Value AS First, Value AS Last FROM {table} WHERE {cond}"
        )
    if kind == "histogram":
        vector = _vector("Count", "Sum", "BucketCounts")
        return (
            f"{head}, AggregationTemporality, ExplicitBounds, {_START} AS Start, {vector} AS Totals, "
            f"Totals AS First, Totals AS Last FROM {table} WHERE {cond}"
        )
    vector = _vector("Count", "Sum", "[]")
    temporality = "AggregationTemporality" if kind == "exponential_histogram" else "toInt32(2)"
    start = _START if kind == "exponential_histogram" else "StartTimeUnix"
    return (
        f"{head}, {temporality} AS AggregationTemporality, CAST([], 'Array(Float64)') AS ExplicitBounds, "
        f"{start} AS Start, {vector} AS Totals, Totals AS First, Totals AS Last FROM {table} WHERE {cond}"
    )
