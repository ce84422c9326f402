"""The count histogram: matching records per time bucket, optionally per severity text.

Buckets are `step` long and aligned to multiples of `step` since the Unix epoch (a 1m step starts
buckets on whole minutes); the first and last may be cut by the range [start, end]. Every bucket
of the range is answered, empty ones with count 0. Without `step` one is chosen from a list of
round durations so that the range has at most about 100 buckets.
"""

from __future__ import annotations

from typing import Any

from backend.logs.filters import Bindings, LogFilter
from backend.logs.records import rfc3339
from backend.service import NANOS, BadRequestError, Store

MAX_BUCKETS = 1_000
"""The most buckets one histogram may have."""
AUTO_BUCKETS = 100
"""About how many buckets a histogram without `step` has (at most)."""
ROUND_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
"""The steps (seconds) chosen automatically."""


def bucket_count(start_ns: int, end_ns: int, step_ns: int) -> int:
    """How many `step_ns` buckets, aligned to the epoch, [start_ns, end_ns] touches."""
    return end_ns // step_ns - start_ns // step_ns + 1


def auto_step(start_ns: int, end_ns: int) -> int:
    """The shortest round step giving at most AUTO_BUCKETS buckets (whole weeks beyond the list)."""
    for seconds in ROUND_STEPS_S:
        if bucket_count(start_ns, end_ns, seconds * NANOS) <= AUTO_BUCKETS:
            return seconds * NANOS
    week = ROUND_STEPS_S[-1] * NANOS
    weeks = -(-(end_ns - start_ns) // (week * (AUTO_BUCKETS - 1)))
    return week * max(1, weeks)


def check_step(start_ns: int, end_ns: int, step_ns: int, parameter: str = "step") -> None:
    """BadRequestError unless `step_ns` is positive and gives at most MAX_BUCKETS buckets."""
    if step_ns <= 0:
        raise BadRequestError("must be positive", parameter)
    count = bucket_count(start_ns, end_ns, step_ns)
    if count > MAX_BUCKETS:
        raise BadRequestError(
            f"gives {count} buckets over the range, at most {MAX_BUCKETS}: choose a longer step", parameter
        )


async def histogram(
    store: Store, where: LogFilter, step_ns: int, by_severity: bool = False
) -> list[dict[str, Any]]:
    """Every bucket of `where`'s time range (oldest first): its start, count and, if asked, counts by
    severity text."""
    assert where.start_ns is not None and where.end_ns is not None
    bind = Bindings()
    step = bind(step_ns, "Int64")
    severity = ", SeverityText" if by_severity else ""
    sql = f"""
        SELECT intDiv(toUnixTimestamp64Nano(Timestamp), {step}) * {step} AS bucket{severity}, count()
        FROM {store.table("otel_logs")}
        WHERE {where.where(bind)}
        GROUP BY bucket{severity}"""
    rows = await store.rows(sql, bind.values)
    first = where.start_ns // step_ns * step_ns
    buckets: list[dict[str, Any]] = [
        {"time": rfc3339(at), "time_unix_nano": str(at), "count": 0}
        for at in range(first, where.end_ns + 1, step_ns)
    ]
    for row in rows:
        bucket = buckets[(int(row[0]) - first) // step_ns]
        bucket["count"] += int(row[-1])
        if by_severity:
            counts = bucket.setdefault("severity", {})
            counts[str(row[1])] = int(row[-1])
    if by_severity:
        for bucket in buckets:
            bucket.setdefault("severity", {})
    return buckets


__all__ = ["AUTO_BUCKETS", "MAX_BUCKETS", "auto_step", "bucket_count", "check_step", "histogram"]
