"""PromQL evaluation on hand-made series: staleness, lookback, resets, deltas, duplicates, quantiles, limits.

Each expectation is computed by hand from Prometheus's rules (promql/engine.go, functions.go); the
differential test checks the same engine against a real Prometheus on a larger dataset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.catalog import Catalog
from backend.metrics.promql import engine as engine_module
from backend.metrics.promql.engine import Engine, Result
from backend.metrics.promql.errors import ExecutionError
from backend.metrics.promql.sql import Steps
from backend.service import ServiceConfig, Store
from tests.backend.conftest import fresh_backend
from tests.backend.metrics.test_catalog import (
    T0,
    counter,
    gauge,
    histogram,
    in_module_loop,
    request,
    store,
    summary,
)

S = 1000
M = 60 * S
SVC = {"service.name": "svc"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[Engine]:
    """An engine over the series below (each test reads its own metric)."""
    async with fresh_backend("promql-engine") as backend:
        await _write(backend)
        store_ = Store(backend, ServiceConfig())
        yield Engine(store_, Catalog(store_, max_age=0), max_series=100)


async def _write(backend: ClickHouseBackend) -> None:
    marked: list[tuple[int, float | None]] = [
        (T0, 1.0),
        (T0 + 15 * S, 2.0),
        (T0 + 30 * S, None),
        (T0 + 60 * S, 4.0),
    ]
    resets = [(T0 + i * 15 * S, v) for i, v in enumerate([0.0, 10.0, 20.0, 5.0])]
    deltas = [(T0 + i * 15 * S, v) for i, v in enumerate([1.0, 2.0, 3.0])]
    twice = [(T0 + i * 15 * S, 10.0 * i) for i in range(5)]
    otlp = request(
        (
            SVC,
            [
                gauge("marked", "", ({}, marked)),
                gauge("lonely", "", ({}, [(T0, 7.0)])),
                counter("resets", "", ({}, resets)),
                counter("deltas", "", ({}, deltas), delta=True),
                counter("twice", "", ({}, twice)),
                histogram("lat", "s", [1.0, 2.0], ({}, [(T0, [10, 10, 0], 15.0)])),
                summary("rpc", "ms", ({}, [(T0, 4, 10.0, {0.5: 2.0, 0.9: 3.5})])),
                counter("http.hits", "", ({}, [(T0, 1.0)])),
                counter("http_hits", "", ({}, [(T0 + 15 * S, 2.0)])),
            ],
        ),
    )
    await store(backend, otlp)
    await store(backend, request((SVC, [counter("twice", "", ({}, twice))])))  # delivered twice


async def _at(engine: Engine, query: str, ms: int) -> dict[str, str]:
    """The instant vector of `query` at `ms`, as {labels: value}."""
    result = await engine.evaluate(query, Steps(ms, 1, 1))
    return _flat(result)


def _flat(result: Result) -> dict[str, str]:
    return {",".join(f"{k}={v}" for k, v in s.labels): s.values[-1] for s in result.series}


@in_module_loop
async def test_a_staleness_marker_ends_a_series_until_its_next_point(engine: Engine) -> None:
    assert await _at(engine, "marked", T0 + 15 * S) == {"__name__=marked,job=svc": "2"}
    assert await _at(engine, "marked", T0 + 30 * S) == {}
    assert await _at(engine, "marked", T0 + 59 * S) == {}
    assert await _at(engine, "marked", T0 + 60 * S) == {"__name__=marked,job=svc": "4"}


@in_module_loop
async def test_an_instant_selector_looks_back_five_minutes_inclusive(engine: Engine) -> None:
    assert await _at(engine, "lonely", T0 - 1) == {}
    assert await _at(engine, "lonely", T0 + 5 * M) == {"__name__=lonely,job=svc": "7"}
    assert await _at(engine, "lonely", T0 + 5 * M + 1) == {}


@in_module_loop
async def test_a_counter_reset_adds_the_value_before_it(engine: Engine) -> None:
    # samples 0, 10, 20, 5: increase = 5 - 0 + 20 = 25; extrapolation to the window start is clamped at
    # the counter's zero (the first sample is 0), and the last sample ends the window
    assert await _at(engine, "increase(resets_total[1m])", T0 + 45 * S) == {"job=svc": "25"}
    rate = float((await _at(engine, "rate(resets_total[1m])", T0 + 45 * S))["job=svc"])
    assert rate == pytest.approx(25 / 60, rel=1e-15)
    # irate over the reset: the last value over the last interval
    assert await _at(engine, "irate(resets_total[1m])", T0 + 45 * S) == {"job=svc": str(5 / 15)}


@in_module_loop
async def test_one_point_in_the_window_gives_no_rate(engine: Engine) -> None:
    assert await _at(engine, "rate(resets_total[10s])", T0 + 15 * S) == {}


@in_module_loop
async def test_delta_sums_are_accumulated_from_the_start_of_the_read(engine: Engine) -> None:
    assert await _at(engine, "deltas_total", T0 + 30 * S) == {"__name__=deltas_total,job=svc": "6"}
    # increase over the whole series: 6 - 1, extrapolated to the zero point before the first sample
    increase = float((await _at(engine, "increase(deltas_total[45s])", T0 + 30 * S))["job=svc"])
    assert increase == pytest.approx(5 * (30 + 6) / 30, rel=1e-15)


@in_module_loop
async def test_a_point_stored_twice_counts_once(engine: Engine) -> None:
    # 0, 10, 20, 30, 40 every 15 s: rate over a minute ending on a sample = 40 / 60
    assert await _at(engine, "rate(twice_total[1m])", T0 + 60 * S) == {"job=svc": str(40 / 60)}
    assert await _at(engine, "count(twice_total)", T0 + 60 * S) == {"": "1"}


@in_module_loop
async def test_histogram_quantile_interpolates_within_the_bucket(engine: Engine) -> None:
    # le=1: 10, le=2: 20, +Inf: 20; rank 0.75 * 20 = 15 lies halfway through the (1, 2] bucket
    assert await _at(engine, "histogram_quantile(0.75, lat_seconds_bucket)", T0) == {"job=svc": "1.5"}
    assert await _at(engine, "histogram_quantile(0.25, lat_seconds_bucket)", T0) == {"job=svc": "0.5"}
    assert await _at(engine, "histogram_quantile(1.5, lat_seconds_bucket)", T0) == {"job=svc": "+Inf"}
    assert await _at(engine, "histogram_quantile(-1, lat_seconds_bucket)", T0) == {"job=svc": "-Inf"}
    assert await _at(engine, 'histogram_quantile(0.5, lat_seconds_bucket{le!="+Inf"})', T0) == {
        "job=svc": "NaN"
    }


@in_module_loop
async def test_histogram_and_summary_parts_are_their_own_series(engine: Engine) -> None:
    assert await _at(engine, "lat_seconds_count", T0) == {"__name__=lat_seconds_count,job=svc": "20"}
    assert await _at(engine, "lat_seconds_sum", T0) == {"__name__=lat_seconds_sum,job=svc": "15"}
    assert await _at(engine, "lat_seconds_bucket", T0) == {
        "__name__=lat_seconds_bucket,job=svc,le=+Inf": "20",
        "__name__=lat_seconds_bucket,job=svc,le=1": "10",
        "__name__=lat_seconds_bucket,job=svc,le=2": "20",
    }
    assert await _at(engine, "rpc_milliseconds", T0) == {
        "__name__=rpc_milliseconds,job=svc,quantile=0.5": "2",
        "__name__=rpc_milliseconds,job=svc,quantile=0.9": "3.5",
    }
    assert await _at(engine, "rpc_milliseconds_count / 8", T0) == {"job=svc": "0.5"}


@in_module_loop
async def test_metrics_with_the_same_prometheus_name_and_labels_are_one_series(engine: Engine) -> None:
    result = await engine.evaluate("http_hits_total", Steps(T0, 15 * S, 2))
    assert [(dict(s.labels), s.values) for s in result.series] == [
        ({"__name__": "http_hits_total", "job": "svc"}, ["1", "2"])
    ]


@in_module_loop
async def test_at_repeats_one_time_at_every_step(engine: Engine) -> None:
    result = await engine.evaluate(f"marked @ {(T0 + 15 * S) / 1000}", Steps(T0 + 60 * S, 60 * S, 3))
    assert [(s.times, s.values) for s in result.series] == [
        ([(T0 + 60 * S) / 1000, (T0 + 120 * S) / 1000, (T0 + 180 * S) / 1000], ["2", "2", "2"])
    ]


@in_module_loop
async def test_a_range_query_gives_each_step_its_own_window(engine: Engine) -> None:
    result = await engine.evaluate("increase(resets_total[30s])", Steps(T0 + 30 * S, 15 * S, 2))
    # [T0, T0+30s]: 0, 10, 20 -> 20 (clamped at zero, no gap at the end); [T0+15s, T0+45s]: 10, 20, 5 -> 15,
    # extrapolated by nothing (samples at both ends)
    assert [s.values for s in result.series] == [["20", "15"]]


@in_module_loop
async def test_more_points_than_the_limit_is_an_execution_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "MAX_POINTS", 10)
    with pytest.raises(ExecutionError, match="more than 10 points"):
        await engine.evaluate("lonely", Steps(T0, 1_000, 11))


@in_module_loop
async def test_no_matching_series_is_an_empty_result(engine: Engine) -> None:
    result = await engine.evaluate("sum(rate(nothing_total[5m]))", Steps(T0, 1, 1))
    assert result.series == [] and not result.scalar
