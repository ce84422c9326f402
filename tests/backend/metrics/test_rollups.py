"""The 1-minute and 1-hour rollups: filled by their refreshable views, chosen for long ranges, answering
a range query with the same numbers as the raw points when its steps are whole buckets, and
completed by raw points after their watermark.

The data lies three days back (the views roll up only minutes that closed 2 minutes ago); each test
module's backend refreshes the views itself (`roll_up`) instead of waiting for their schedule.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.rollups import HOUR, MINUTE, RAW, Tier, choose_level, listing_level, tiers
from backend.service import NANOS
from tests.backend.metrics.test_native import (
    client_of,
    filled_backend,
    gauge,
    histogram,
    request,
    store,
    sum_metric,
)

BASE = (int(time.time()) // 86400 - 3) * 86400  # midnight UTC three days ago
HOURS = 3
SECONDS = HOURS * 3600
EVERY = 10
BOUNDS = [10.0, 50.0, 100.0, 500.0]
MINUTE_NS, HOUR_NS = 60 * NANOS, 3600 * NANOS
ROLLED = ("gauge", "sum", "histogram")


def _counter(t: int) -> tuple[float, int, float]:
    """Series /a of `requests`: (start, t, value): resets declared by a new start inside a minute (3725)
    and at a minute's first point (5400), and a drop without one at an hour's first point (7200)."""
    if t < 3725:
        return -30, t, sum(i % 5 for i in range(0, t + 1, EVERY))
    if t < 5400:
        return 3721, t, sum(i % 3 for i in range(3725, t + 1, EVERY))
    if t < 7200:
        return 5395, t, 1000 + sum(i % 4 for i in range(5400, t + 1, EVERY))
    return 5395, t, sum(i % 6 for i in range(7200, t + 1, EVERY))


def _prometheus_counter(t: int) -> tuple[float, int, float]:
    """Series /b: the prometheus receiver's way: start = first observation, reset to its own time at 2000."""
    if t < 2000:
        return 0, t, 500 + t // EVERY * 2
    return 2000, t, (t - 2000) // EVERY * 3


def _buckets(t: int) -> list[int]:
    """A cumulative histogram's bucket counts at t, each non-decreasing (reset declared at 5000)."""
    n = (t - (5000 if t >= 5000 else 0)) // EVERY + 1
    return [n * 2, n * 3 + n // 4, n + n // 3, n // 2, n // 5 + n // 7]


def _dropping(t: int) -> tuple[float, int, float]:
    """Series of `drops`: 10 per 10 s, with a drop to 0 at 95 s that no new start declares."""
    return -5, t, float(t // EVERY + 1) if t < 95 else float((t - 95) // EVERY)


def data() -> ExportMetricsServiceRequest:
    """Three hours of every series every 10 s from BASE, in one request (a refresh sees all of it or none)."""
    times = range(0, SECONDS, EVERY)
    out = ExportMetricsServiceRequest()
    for n in range(3):
        cores = [(t, float((t // EVERY * 7 + n * 13) % 50), {"core": str(t // EVERY % 2)}) for t in times]
        metrics = [gauge("cpu.temp", cores, base=BASE)]
        if n == 0:
            latency = [
                (4990 if t >= 5000 else -60, t, _buckets(t), float(sum(_buckets(t)) * 20), {}) for t in times
            ]
            deltas = [
                (t - EVERY, t, [t // EVERY % 3, 1, t // EVERY % 2, 0, 1], float(t // EVERY % 9), {})
                for t in times
            ]
            metrics += [
                sum_metric("requests", [(*_counter(t), {"route": "/a"}) for t in times], base=BASE),
                sum_metric(
                    "requests", [(*_prometheus_counter(t), {"route": "/b"}) for t in times], base=BASE
                ),
                sum_metric("bytes", [(t - EVERY, t, float(t // EVERY % 7), {}) for t in times], 1, base=BASE),
                sum_metric("drops", [(*_dropping(t), {}) for t in range(0, 180, EVERY)], base=BASE),
                histogram("latency", BOUNDS, latency, base=BASE),
                histogram("latency.delta", BOUNDS, deltas, temporality=1, base=BASE),
                gauge("stale.only", [(30, 99.0, {})], flags=1, base=BASE),
            ]
        out.resource_metrics.extend(
            request({"service.name": "api", "host.name": f"h{n}"}, *metrics).resource_metrics
        )
    return out


async def watermark(backend: ClickHouseBackend, table: str) -> int:
    rows = await backend.query_rows(
        f"SELECT toUnixTimestamp(max(Bucket)) FROM {backend.table(table)} WHERE MetricName = ''"
    )
    return int(rows[0][0])


async def roll_up(backend: ClickHouseBackend, until: int) -> None:
    """Refresh the 1-minute, then the 1-hour views (once at least) until both rolled up everything before `until`."""
    for level in ("1m", "1h"):
        for kind in ROLLED:
            table = f"otel_metrics_{kind}_{level}"
            for run in range(10):  # a run covers at most 1 hour (1m) or 1 day (1h) of data
                if run and await watermark(backend, table) >= until:
                    break
                view = backend.table(f"{table}_mv")
                await backend.command(f"SYSTEM REFRESH VIEW {view}")
                await backend.command(f"SYSTEM WAIT VIEW {view}")
            assert await watermark(backend, table) >= until, table


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend() -> AsyncIterator[ClickHouseBackend]:
    async with filled_backend(data()) as filled:
        await roll_up(filled, BASE + SECONDS)
        yield filled


@pytest.fixture
async def api(backend: ClickHouseBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(backend) as client:
        yield client


async def answer(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get(
        "/v1/query_range", params={"start": str(BASE), "end": str(BASE + SECONDS - 1), **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


QUERIES = [
    {"metric": "cpu.temp", "agg": "sum", "by": "resource.host.name"},
    {"metric": "cpu.temp", "agg": "avg", "by": "core"},
    {"metric": "cpu.temp", "agg": "min"},
    {"metric": "cpu.temp", "agg": "max", "by": ["resource.host.name", "core"]},
    {"metric": "cpu.temp", "agg": "count"},
    {"metric": "requests", "agg": "increase", "by": "route"},
    {"metric": "requests", "agg": "rate"},
    {"metric": "requests", "agg": "max", "by": "route"},
    {"metric": "bytes", "agg": "increase"},
    {"metric": "latency", "agg": "quantile", "q": "0.9"},
    {"metric": "latency", "agg": "quantile", "q": "0.5"},
    {"metric": "latency", "agg": "count"},
    {"metric": "latency", "agg": "avg"},
    {"metric": "latency.delta", "agg": "quantile", "q": "0.75"},
    {"metric": "latency.delta", "agg": "sum"},
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q['metric']}-{q['agg']}")
@pytest.mark.parametrize(("source", "step"), [("1m", "60s"), ("1m", "300s"), ("1h", "1h")])
async def test_a_rollup_answers_as_the_raw_points_for_whole_buckets(
    api: httpx.AsyncClient, query: dict[str, Any], source: str, step: str
) -> None:
    raw = await answer(api, **query, step=step, source="raw")
    rolled = await answer(api, **query, step=step, source=source)
    assert [p["source"] for p in raw["parts"]] == ["raw"]
    assert [p["source"] for p in rolled["parts"]] == [source]  # rolled up long after the data
    assert rolled["series"] == raw["series"]
    assert raw["series"] and all(s["points"] for s in raw["series"])


async def test_the_resets_are_in_the_increase(api: httpx.AsyncClient) -> None:
    found = await answer(api, metric="requests", agg="increase", by="route", step="1h", source="1h")
    hours = {s["labels"]["route"]: [v for _t, v in s["points"]] for s in found["series"]}
    last = SECONDS - EVERY
    a, b = (lambda t: _counter(t)[2]), (lambda t: _prometheus_counter(t)[2])
    assert hours == {
        # the run started at -30 s, inside the look-back: its first value counts whole; resets
        # declared by a new start count their value (3725, 5400); so does a drop without one (7200)
        "/a": [a(3590), a(3720) - a(3590) + a(5390) + a(7190), a(last)],
        # start = first observation: a baseline; the drop at 2000 (start = its own time) counts its value
        "/b": [b(1990) - b(0) + b(3590), b(7190) - b(3590), b(last) - b(7190)],
    }


async def test_an_undeclared_drop_inside_a_bucket_is_approximated(api: httpx.AsyncClient) -> None:
    # 1..10 over 0-90 s, then 0, 1, ... from 100 s (same start). Raw, minute 60-120: four steps of 1,
    # the drop counts its new value 0, then 1. The rollup's minute has first 7 and last 1 < first: the
    # step from the previous minute's 6 (1) and the value after the drop (1).
    raw = await answer(api, metric="drops", agg="increase", step="60s", source="raw")
    rolled = await answer(api, metric="drops", agg="increase", step="60s", source="1m")
    assert [v for _t, v in raw["series"][0]["points"]] == [6.0, 4 + 0 + 1, 6.0]
    assert [v for _t, v in rolled["series"][0]["points"]] == [6.0, 2.0, 6.0]


async def test_long_ranges_use_the_rollups_by_themselves(api: httpx.AsyncClient) -> None:
    minute = {"metric": "requests", "agg": "increase", "by": "route", "step": "60s"}
    long_range = {"start": str(BASE - 5 * 3600), "end": str(BASE + SECONDS - 1)}
    auto = await answer(api, **minute, **long_range)
    assert auto["source"] == "1m"
    assert auto["series"] == (await answer(api, **minute, **long_range, source="raw"))["series"]
    hourly = {
        "metric": "latency",
        "agg": "quantile",
        "q": "0.99",
        "step": "1h",
        "start": str(BASE - 8 * 86400),
    }
    auto = await answer(api, **hourly)
    assert auto["source"] == "1h"
    assert auto["series"] == (await answer(api, **hourly, source="raw"))["series"]
    assert (await answer(api, **minute))["source"] == "raw"


async def test_points_after_the_watermark_come_raw(
    backend: ClickHouseBackend, api: httpx.AsyncClient
) -> None:
    now = int(time.time()) // 60 * 60
    recent = [(t, float(t % 7), {}) for t in range(-60, 0, 5)]  # the last minute: not rolled up (yet)
    await store(backend, request({"service.name": "api"}, gauge("recent.temp", recent, base=now)))
    span = {"metric": "recent.temp", "agg": "sum", "step": "60s", "start": str(now - 3600), "end": str(now)}
    rolled = await answer(api, **span, source="1m")
    assert rolled["parts"][-1]["source"] == "raw"
    assert rolled["series"] == (await answer(api, **span, source="raw"))["series"]
    assert rolled["series"][0]["points"] == [[now - 60, float(sum(t % 7 for t in range(-60, 0, 5)))]]


async def test_the_gauge_rollup_row_of_one_minute(backend: ClickHouseBackend) -> None:
    rows = await backend.query_rows(
        "SELECT Min, Max, Sum, Count, Last, MetricUnit, toUnixTimestamp64Nano(FirstTime), toUnixTimestamp64Nano(LastTime) "
        f"FROM {backend.table('otel_metrics_gauge_1m')} FINAL "
        "WHERE MetricName = 'cpu.temp' AND ResourceAttributes['host.name'] = 'h1' AND Attributes['core'] = '0' "
        "AND Bucket = toDateTime({b:Int64})",
        {"b": BASE + 60},
    )
    values = [float((t // EVERY * 7 + 13) % 50) for t in range(60, 120, 2 * EVERY)]  # core 0: t / 10 even
    assert rows == [
        (min(values), max(values), sum(values), 3, values[-1], "", (BASE + 60) * NANOS, (BASE + 100) * NANOS)
    ]


async def test_the_rollups_leave_staleness_markers_out(backend: ClickHouseBackend) -> None:
    counts = []
    for table in ("otel_metrics_gauge", "otel_metrics_gauge_1m", "otel_metrics_gauge_1h"):
        rows = await backend.query_rows(
            f"SELECT count() FROM {backend.table(table)} WHERE MetricName = 'stale.only'"
        )
        counts.append(int(rows[0][0]))
    assert counts == [1, 0, 0]


async def test_a_point_behind_the_watermark_is_not_rolled_up(
    backend: ClickHouseBackend, api: httpx.AsyncClient
) -> None:
    await store(backend, request({"service.name": "api"}, gauge("late.temp", [(60, 5.0, {})], base=BASE)))
    await roll_up(backend, BASE + SECONDS)
    span = {"metric": "late.temp", "agg": "sum", "step": "60s"}
    assert (await answer(api, **span, source="raw"))["series"][0]["points"] == [[BASE + 60, 5.0]]
    assert (await answer(api, **span, source="1m"))["series"] == []


# --- the choice of level and of the parts ------------------------------------------------------

H = HOUR_NS


def test_choice_takes_the_coarsest_exact_level_for_long_ranges() -> None:
    start = 1000 * H
    assert choose_level("gauge", start, start + 6 * H + 1, MINUTE_NS) is MINUTE
    assert choose_level("gauge", start, start + 6 * H, MINUTE_NS) is RAW  # not longer than 6 h
    assert choose_level("sum", start, start + 7 * 24 * H + 1, H) is HOUR
    assert choose_level("sum", start, start + 7 * 24 * H + 1, 5 * MINUTE_NS) is MINUTE
    assert choose_level("histogram", start, start + 7 * 24 * H, H) is MINUTE  # not longer than 7 d


def test_choice_needs_whole_buckets_and_a_rolled_up_kind() -> None:
    start = 1000 * H
    long = start + 10 * 24 * H
    assert choose_level("gauge", start, long, 90 * NANOS) is RAW  # 90 s is not whole minutes
    assert choose_level("gauge", start + 30 * NANOS, long, MINUTE_NS) is RAW  # the start neither
    assert choose_level("summary", start, long, H) is RAW
    assert listing_level("summary", start, long) is RAW
    assert listing_level("gauge", start, long) is HOUR
    assert listing_level("gauge", start, start + H) is RAW


def test_parts_are_the_rollup_to_its_watermark_then_finer_levels() -> None:
    lo, hi = 1000 * H, 1010 * H
    marks = {"1h": 1004 * H, "1m": 1006 * H + 7 * MINUTE_NS}
    assert tiers(HOUR, lo, hi, marks) == [
        Tier(HOUR, lo, 1004 * H),
        Tier(MINUTE, 1004 * H, 1006 * H + 7 * MINUTE_NS),
        Tier(RAW, 1006 * H + 7 * MINUTE_NS, hi),
    ]
    assert tiers(MINUTE, lo, hi, marks) == [
        Tier(MINUTE, lo, 1006 * H + 7 * MINUTE_NS),
        Tier(RAW, 1006 * H + 7 * MINUTE_NS, hi),
    ]
    assert tiers(MINUTE, lo, 1001 * H, marks) == [Tier(MINUTE, lo, 1001 * H)]
    assert tiers(HOUR, lo, hi, {}) == [Tier(RAW, lo, hi)]  # nothing rolled up yet
    assert tiers(RAW, lo, hi, marks) == [Tier(RAW, lo, hi)]


def test_levels_name_their_tables() -> None:
    assert [RAW.table("sum"), MINUTE.table("sum"), HOUR.table("histogram")] == [
        "otel_metrics_sum",
        "otel_metrics_sum_1m",
        "otel_metrics_histogram_1h",
    ]
    with pytest.raises(ValueError, match="summary metrics have no 1m rollup"):
        MINUTE.table("summary")
    assert (
        MINUTE.refusal("gauge", 0, 30 * NANOS)
        == "the 1m rollup needs a step and a start that are whole multiples of 1m"
    )
    assert RAW.refusal("summary", 1, 1) == ""
