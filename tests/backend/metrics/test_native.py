"""The native metrics API over data written by the clickhouse exporter: names, labels, values, range queries.

Expected numbers are worked out by hand from the points below (times are seconds after T0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.config import MetricsServiceConfig
from backend.metrics.service import MetricsService
from backend.service import Store
from collector.pdata.batch import Batch
from exporters.clickhouse.metrics import MetricsTables, write
from tests.backend.conftest import extension_settings, fresh_backend

T0 = 1_893_456_000  # 2030-01-01T00:00:00Z: after the rollups' migration, so they cover it
S = 1_000_000_000

# --- OTLP builders (also used by test_rollups) ---------------------------------------------------


def attributes(values: Mapping[str, str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]


def gauge(
    name: str,
    points: Sequence[tuple[float, float, Mapping[str, str]]],
    unit: str = "",
    flags: int = 0,
    base: int = T0,
) -> Metric:
    """A gauge of (seconds after `base`, value, attributes) points."""
    metric = Metric(name=name, unit=unit, description=f"the {name}")
    for t, value, attrs in points:
        metric.gauge.data_points.add(
            time_unix_nano=int((base + t) * S), as_double=value, attributes=attributes(attrs), flags=flags
        )
    return metric


def sum_metric(
    name: str,
    points: Sequence[tuple[float, float, float, Mapping[str, str]]],
    temporality: int = 2,
    monotonic: bool = True,
    base: int = T0,
) -> Metric:
    """A sum of (start, time: seconds after `base`, value, attributes) points."""
    metric = Metric(name=name, unit="1", description=f"the {name}")
    metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
    metric.sum.is_monotonic = monotonic
    for start, t, value, attrs in points:
        metric.sum.data_points.add(
            start_time_unix_nano=int((base + start) * S),
            time_unix_nano=int((base + t) * S),
            as_double=value,
            attributes=attributes(attrs),
        )
    return metric


def histogram(
    name: str,
    bounds: Sequence[float],
    points: Sequence[tuple[float, float, Sequence[int], float, Mapping[str, str]]],
    temporality: int = 2,
    base: int = T0,
) -> Metric:
    """A histogram of (start, time, bucket counts, sum, attributes) points (count = the buckets' total)."""
    metric = Metric(name=name, unit="ms", description=f"the {name}")
    metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
    for start, t, counts, total, attrs in points:
        metric.histogram.data_points.add(
            start_time_unix_nano=int((base + start) * S),
            time_unix_nano=int((base + t) * S),
            count=sum(counts),
            sum=total,
            bucket_counts=list(counts),
            explicit_bounds=list(bounds),
            attributes=attributes(attrs),
        )
    return metric


def request(resource: Mapping[str, str], *metrics: Metric) -> ExportMetricsServiceRequest:
    """One resource's metrics in one scope."""
    out = ExportMetricsServiceRequest()
    rm = out.resource_metrics.add()
    rm.resource.attributes.extend(attributes(resource))
    rm.scope_metrics.add().metrics.extend(metrics)
    return out


async def store(backend: ClickHouseBackend, *requests: ExportMetricsServiceRequest) -> None:
    """Write requests the way the clickhouse exporter does."""
    for r in requests:
        await write(backend, MetricsTables(), Batch.from_otlp(r))


@asynccontextmanager
async def filled_backend(*requests: ExportMetricsServiceRequest) -> AsyncIterator[ClickHouseBackend]:
    """A started backend on a fresh database of this process's chDB folder holding `requests` (dropped after).

    Tests of a module share one (read-only) to keep them fast: making a database costs ~2 s.
    """
    async with fresh_backend("metrics") as backend:
        await store(backend, *requests)
        yield backend


def client_of(backend: ClickHouseBackend, **config: Any) -> httpx.AsyncClient:
    """An HTTP client of the metrics service's app over `backend`."""
    cfg = MetricsServiceConfig(**config)
    app = MetricsService(extension_settings("metrics_service"), cfg).build(Store(backend, cfg))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics")


# --- the data set ------------------------------------------------------------------------------

H1 = {"service.name": "api", "host.name": "h1"}
H2 = {"service.name": "api", "host.name": "h2"}
WORKER = {"service.name": "worker", "host.name": "h3"}


def data() -> list[ExportMetricsServiceRequest]:
    """Gauges, cumulative sums with resets, a delta sum and histograms."""
    temp_a = gauge(
        "room.temperature",
        [(t, v, {"room": "a"}) for t, v in zip(range(0, 120, 20), range(1, 7), strict=True)],
        "Cel",
    )
    temp_b = gauge(
        "room.temperature",
        [(t, 10.0 * v, {"room": "b"}) for t, v in zip(range(0, 120, 20), range(1, 7), strict=True)],
        "Cel",
    )
    stale = gauge("room.temperature", [(50, 1000.0, {"room": "a"})], "Cel", flags=1)
    requests_a = sum_metric(
        "http.requests",
        [
            (-100, 0, 10, {"route": "/a"}),  # run started inside the look-back: counts whole
            (-100, 30, 15, {"route": "/a"}),
            (-100, 60, 25, {"route": "/a"}),
            (80, 90, 5, {"route": "/a"}),  # new StartTimeUnix: a reset
            (80, 120, 12, {"route": "/a"}),
            (80, 150, 2, {"route": "/a"}),  # a drop without a new start: a reset too
            (80, 180, 4, {"route": "/a"}),
        ],
    )
    requests_b = sum_metric(
        "http.requests",
        [(-3600, 0, 100, {"route": "/b"}), (-3600, 60, 160, {"route": "/b"})],  # started long before
    )
    requests_c = sum_metric(  # Prometheus style: start = first observation, reset to its own time
        "http.requests",
        [
            (0, 0, 50, {"route": "/c"}),
            (0, 60, 70, {"route": "/c"}),
            (120, 120, 5, {"route": "/c"}),
            (120, 180, 9, {"route": "/c"}),
        ],
    )
    sent = sum_metric("net.bytes_sent", [(0, 10, 5, {}), (10, 20, 7, {}), (60, 70, 3, {})], temporality=1)
    level = sum_metric("queue.length", [(-10, 0, 5, {}), (-10, 30, 3, {}), (-10, 60, 8, {})], monotonic=False)
    latency_a = histogram(
        "http.latency",
        [1, 5, 10],
        [
            (-60, 0, [1, 1, 0, 0], 3, {"route": "/a"}),
            (-60, 30, [2, 3, 1, 0], 20, {"route": "/a"}),
            (-60, 60, [2, 5, 3, 1], 60, {"route": "/a"}),
            (85, 90, [1, 0, 0, 0], 0.5, {"route": "/a"}),  # a reset
        ],
    )
    latency_b = histogram(
        "http.latency",
        [1, 5, 10],
        [(-60, 0, [0, 0, 2, 0], 14, {"route": "/b"}), (-60, 60, [0, 0, 2, 2], 40, {"route": "/b"})],
    )
    jobs = gauge("jobs.running", [(0, 3, {"queue": "q1"})])
    return [
        request(H1, temp_a, stale, requests_a, requests_c, latency_a, sent, level),
        request(H2, temp_b, requests_b, latency_b),
        request(WORKER, jobs),
    ]


DAY2 = 86_400  # the data of tests that need their own metrics, a day later (out of RANGE)


def day_two() -> list[ExportMetricsServiceRequest]:
    """A histogram without observations, 401 series, a name with two types."""
    idle = histogram("idle", [1], [(DAY2 - 10, DAY2, [0, 0], 0, {}), (DAY2 - 10, DAY2 + 30, [0, 0], 0, {})])
    wide = gauge("wide", [(DAY2, 1.0, {"i": str(i)}) for i in range(401)])
    twice = [gauge("twice", [(DAY2, 1.0, {})]), sum_metric("twice", [(DAY2 - 1, DAY2, 2.0, {})])]
    return [request(H1, idle, wide, *twice)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend() -> AsyncIterator[ClickHouseBackend]:
    async with filled_backend(*data(), *day_two()) as filled:
        yield filled


@pytest.fixture
async def api(backend: ClickHouseBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(backend) as client:
        yield client


RANGE = {"start": str(T0), "end": str(T0 + 180)}
DAY2_RANGE = {"start": str(T0 + DAY2), "end": str(T0 + DAY2 + 180)}


async def series(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """The series of a query_range over RANGE in 60 s steps (unless given)."""
    response = await api.get("/v1/query_range", params={**RANGE, "step": "60s", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["series"])


def points(found: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """{labels as k=v,...: [[seconds after T0, value], ...]}."""
    return {
        ",".join(f"{k}={v}" for k, v in s["labels"].items()): [[t - T0, v] for t, v in s["points"]]
        for s in found
    }


# --- names, labels, values ---------------------------------------------------------------------


async def test_metric_names_with_type_unit_description_and_temporality(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics", params=RANGE)
    assert response.status_code == 200
    assert response.json()["metrics"] == [
        {
            "name": "http.latency",
            "type": "histogram",
            "unit": "ms",
            "description": "the http.latency",
            "temporality": "cumulative",
        },
        {
            "name": "http.requests",
            "type": "sum",
            "unit": "1",
            "description": "the http.requests",
            "temporality": "cumulative",
            "monotonic": True,
        },
        {"name": "jobs.running", "type": "gauge", "unit": "", "description": "the jobs.running"},
        {
            "name": "net.bytes_sent",
            "type": "sum",
            "unit": "1",
            "description": "the net.bytes_sent",
            "temporality": "delta",
            "monotonic": True,
        },
        {
            "name": "queue.length",
            "type": "sum",
            "unit": "1",
            "description": "the queue.length",
            "temporality": "cumulative",
            "monotonic": False,
        },
        {"name": "room.temperature", "type": "gauge", "unit": "Cel", "description": "the room.temperature"},
    ]


async def test_metric_names_filter_by_service_and_prefix(api: httpx.AsyncClient) -> None:
    by_service = await api.get("/v1/metrics", params={**RANGE, "service": "worker"})
    assert [m["name"] for m in by_service.json()["metrics"]] == ["jobs.running"]
    by_prefix = await api.get("/v1/metrics", params={**RANGE, "prefix": "http."})
    assert [m["name"] for m in by_prefix.json()["metrics"]] == ["http.latency", "http.requests"]
    limited = await api.get("/v1/metrics", params={**RANGE, "limit": "2"})
    assert [m["name"] for m in limited.json()["metrics"]] == ["http.latency", "http.requests"]


async def test_metric_names_only_in_the_time_range(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics", params={"start": str(T0 + 130), "end": str(T0 + 3600)})
    assert [m["name"] for m in response.json()["metrics"]] == ["http.requests"]


async def test_labels_are_attribute_keys_and_resource_keys_prefixed(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics/room.temperature/labels", params=RANGE)
    assert response.json() == {
        "metric": "room.temperature",
        "labels": ["resource.host.name", "resource.service.name", "room"],
    }


async def test_label_values_of_attributes_and_resource_attributes(api: httpx.AsyncClient) -> None:
    rooms = await api.get("/v1/metrics/room.temperature/labels/room/values", params=RANGE)
    assert rooms.json() == {"metric": "room.temperature", "label": "room", "values": ["a", "b"]}
    hosts = await api.get("/v1/metrics/http.requests/labels/resource.host.name/values", params=RANGE)
    assert hosts.json()["values"] == ["h1", "h2"]
    services = await api.get("/v1/metrics/jobs.running/labels/resource.service.name/values", params=RANGE)
    assert services.json()["values"] == ["worker"]
    none = await api.get("/v1/metrics/room.temperature/labels/nope/values", params=RANGE)
    assert none.json()["values"] == []


# --- range queries: gauges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("sum", [[0, 66.0], [60, 165.0]]),
        ("avg", [[0, 11.0], [60, 27.5]]),
        ("min", [[0, 1.0], [60, 4.0]]),
        ("max", [[0, 30.0], [60, 60.0]]),
        ("count", [[0, 6.0], [60, 6.0]]),
    ],
)
async def test_gauge_aggregates_the_values_of_each_step(
    api: httpx.AsyncClient, agg: str, expected: list[list[float]]
) -> None:
    # The point flagged NO_RECORDED_VALUE (1000 at 50 s) is left out.
    assert points(await series(api, metric="room.temperature", agg=agg)) == {"": expected}


async def test_gauge_grouped_by_resource_and_attribute_labels(api: httpx.AsyncClient) -> None:
    found = await series(api, metric="room.temperature", agg="sum", by=["resource.host.name", "room"])
    assert points(found) == {
        "resource.host.name=h1,room=a": [[0, 6.0], [60, 15.0]],
        "resource.host.name=h2,room=b": [[0, 60.0], [60, 150.0]],
    }


async def test_filters_select_series_by_label_value(api: httpx.AsyncClient) -> None:
    found = await series(
        api, metric="room.temperature", agg="max", filter=["room:a", "resource.service.name:api"]
    )
    assert points(found) == {"": [[0, 3.0], [60, 6.0]]}
    assert await series(api, metric="room.temperature", agg="max", filter=["resource.host.name:h9"]) == []


async def test_answer_names_type_step_and_source(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/query_range", params={**RANGE, "metric": "room.temperature", "agg": "avg", "step": "1m"}
    )
    body = response.json()
    assert {k: body[k] for k in ("metric", "type", "agg", "step", "source", "parts")} == {
        "metric": "room.temperature",
        "type": "gauge",
        "agg": "avg",
        "step": 60.0,
        "source": "raw",
        "parts": [{"source": "raw", "from": T0, "to": T0 + 240}],  # the steps 0 to 180, each 60 s long
    }


async def test_steps_are_aligned_to_multiples_of_the_step(api: httpx.AsyncClient) -> None:
    found = await series(
        api, metric="room.temperature", agg="count", start=str(T0 + 70), end=str(T0 + 100), step="30s"
    )
    # steps at 60 (points 60, 80) and 90 (100).
    assert points(found) == {"": [[60, 4.0], [90, 2.0]]}


# --- range queries: sums -----------------------------------------------------------------------


async def test_cumulative_increase_per_series_with_resets(api: httpx.AsyncClient) -> None:
    found = await series(api, metric="http.requests", agg="increase", by=["route"])
    assert points(found) == {
        # /a: 10 (run started in the window) + 5 | 10 + 5 (new start) | 7 + 2 (drop) | 2
        "route=/a": [[0, 15.0], [60, 15.0], [120, 9.0], [180, 2.0]],
        # /b: its run started before the window: the first point is only a baseline
        "route=/b": [[0, 0.0], [60, 60.0]],
        # /c: start = first observation: a baseline; reset to its own time after a drop: counts 5
        "route=/c": [[0, 0.0], [60, 20.0], [120, 5.0], [180, 4.0]],
    }


async def test_cumulative_rate_is_the_increase_per_second_summed_over_series(api: httpx.AsyncClient) -> None:
    found = await series(api, metric="http.requests", agg="rate")
    assert points(found) == {"": [[0, 15 / 60], [60, 95 / 60], [120, 14 / 60], [180, 6 / 60]]}


async def test_non_monotonic_sum_increase_can_be_negative(api: httpx.AsyncClient) -> None:
    # Its run started inside the look-back (-10 s), so the first value counts.
    found = await series(api, metric="queue.length", agg="increase")
    assert points(found) == {"": [[0, 3.0], [60, 5.0]]}


async def test_cumulative_sum_values_aggregate_like_a_gauge(api: httpx.AsyncClient) -> None:
    found = await series(api, metric="http.requests", agg="max", by=["route"])
    assert points(found)["route=/a"] == [[0, 15.0], [60, 25.0], [120, 12.0], [180, 4.0]]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("increase", [[0, 12.0], [60, 3.0]]),
        ("rate", [[0, 0.2], [60, 0.05]]),
        ("sum", [[0, 12.0], [60, 3.0]]),
        ("count", [[0, 2.0], [60, 1.0]]),
    ],
)
async def test_delta_sums_are_accumulated(
    api: httpx.AsyncClient, agg: str, expected: list[list[float]]
) -> None:
    assert points(await series(api, metric="net.bytes_sent", agg=agg)) == {"": expected}


# --- range queries: histograms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        # /a: [1,1,0,0]+[1,2,1,0], then [0,2,2,1] and the reset's [1,0,0,0]; /b: [0,0,2,0], then [0,0,0,2]
        ("count", [[0, 8.0], [60, 8.0]]),
        ("increase", [[0, 8.0], [60, 8.0]]),
        ("rate", [[0, 8 / 60], [60, 8 / 60]]),
        ("sum", [[0, 34.0], [60, 66.5]]),
        ("avg", [[0, 34 / 8], [60, 66.5 / 8]]),
    ],
)
async def test_histogram_count_sum_avg_from_count_and_sum(
    api: httpx.AsyncClient, agg: str, expected: list[list[float]]
) -> None:
    assert points(await series(api, metric="http.latency", agg=agg)) == {"": expected}


async def test_histogram_quantile_interpolates_within_the_merged_buckets(api: httpx.AsyncClient) -> None:
    # step 0: buckets [2,3,3,0] (le 1, 5, 10, +Inf): rank 4 falls in (1, 5]: 1 + 4 * (4 - 2) / 3
    # step 60: [1,2,2,3]: rank 4 falls in (5, 10]: 5 + 5 * (4 - 3) / 2
    found = await series(api, metric="http.latency", agg="quantile", q="0.5")
    assert points(found) == {"": [[0, pytest.approx(1 + 4 * 2 / 3)], [60, 7.5]]}


async def test_histogram_quantile_per_group_and_in_the_last_bucket(api: httpx.AsyncClient) -> None:
    found = await series(api, metric="http.latency", agg="quantile", q="0.99", by=["route"])
    assert points(found) == {
        # /a: [2,3,1,0]: rank 5.94 falls in (5, 10]; then [1,2,2,1]: past le=10, so the highest finite bound
        "route=/a": [[0, pytest.approx(5 + 5 * 0.94)], [60, 10.0]],
        # /b: [0,0,2,0]: rank 1.98 of 2 in (5, 10]; then [0,0,0,2]: all past le=10
        "route=/b": [[0, pytest.approx(5 + 5 * 1.98 / 2)], [60, 10.0]],
    }


async def test_quantile_of_no_observations_is_null(api: httpx.AsyncClient) -> None:
    found = await series(api, **DAY2_RANGE, metric="idle", agg="quantile", q="0.5")
    assert points(found) == {"": [[DAY2, None]]}
    assert points(await series(api, **DAY2_RANGE, metric="idle", agg="avg")) == {"": [[DAY2, None]]}


# --- bad input and caps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"agg": "sum"}, "metric", "is required"),
        ({"metric": "room.temperature"}, "agg", "'' is not one of sum, avg"),
        ({"metric": "room.temperature", "agg": "median"}, "agg", "'median' is not one of"),
        ({"metric": "room.temperature", "agg": "rate"}, "agg", "'rate' does not apply to gauge metrics"),
        ({"metric": "http.latency", "agg": "min"}, "agg", "'min' does not apply to histogram"),
        ({"metric": "http.latency", "agg": "quantile"}, "q", "is not a number between 0 and 1"),
        ({"metric": "http.latency", "agg": "quantile", "q": "1.5"}, "q", "1.5 must be between 0 and 1"),
        ({"metric": "http.latency", "agg": "count", "q": "0.5"}, "q", "only applies to agg=quantile"),
        ({"metric": "room.temperature", "agg": "sum", "filter": "room"}, "filter", "'room' is not key:value"),
        ({"metric": "room.temperature", "agg": "sum", "by": "resource."}, "by", "is not a label"),
        ({"metric": "room.temperature", "agg": "sum", "step": "soon"}, "step", "is not a duration"),
        ({"metric": "room.temperature", "agg": "sum", "step": "0s"}, "step", "must be at least 1ms"),
        ({"metric": "room.temperature", "agg": "sum", "start": "x"}, "start", "is not a time"),
        (
            {"metric": "room.temperature", "agg": "sum", "source": "5m"},
            "source",
            "'5m' is not one of auto, raw",
        ),
        (
            {"metric": "room.temperature", "agg": "sum", "source": "1m", "step": "30s"},
            "source",
            "whole multiples of 1m",
        ),
        ({"metric": "room.temperature", "agg": "sum", "type": "counter"}, "type", "'counter' is not one of"),
    ],
)
async def test_bad_input_is_a_400_naming_the_parameter(
    api: httpx.AsyncClient, params: dict[str, str], parameter: str, message: str
) -> None:
    response = await api.get("/v1/query_range", params={**RANGE, "step": "60s", **params})
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{parameter}: ")
    assert message in response.json()["error"]


async def test_too_many_steps_is_a_400_naming_step(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/query_range",
        params={
            "metric": "room.temperature",
            "agg": "sum",
            "start": str(T0),
            "end": str(T0 + 11_000),
            "step": "1s",
        },
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "step: the range holds more than 11000 steps of this size; use a larger step"
    )
    ok = await api.get(
        "/v1/query_range",
        params={
            "metric": "room.temperature",
            "agg": "sum",
            "start": str(T0),
            "end": str(T0 + 10_999),
            "step": "1s",
        },
    )
    assert ok.status_code == 200


async def test_more_series_than_the_cap_is_a_400_naming_by(
    api: httpx.AsyncClient, backend: ClickHouseBackend
) -> None:
    response = await api.get(
        "/v1/query_range", params={**DAY2_RANGE, "metric": "wide", "agg": "sum", "by": "i"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("by: the query matches more than 400 series")
    assert points(await series(api, **DAY2_RANGE, metric="wide", agg="sum")) == {"": [[DAY2, 401.0]]}
    async with client_of(backend, max_series=401) as wider:
        assert len(await series(wider, **DAY2_RANGE, metric="wide", agg="sum", by="i")) == 401


async def test_a_time_range_beyond_max_range_is_a_400(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/query_range",
        params={
            "metric": "room.temperature",
            "agg": "sum",
            "start": str(T0),
            "end": str(T0 + 32 * 86400),
            "step": "1h",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("start, end: the time range is longer than max_range")


async def test_unknown_metric_has_no_series(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/query_range", params={**RANGE, "metric": "nope", "agg": "sum"})
    assert response.json()["series"] == [] and response.json()["type"] is None


async def test_a_name_with_two_types_needs_type(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/query_range", params={**DAY2_RANGE, "metric": "twice", "agg": "sum"})
    assert response.status_code == 400
    assert response.json()["error"] == "type: 'twice' is stored as gauge and sum; choose one"
    found = await series(api, **DAY2_RANGE, metric="twice", agg="sum", type="sum")
    assert points(found) == {"": [[DAY2, 2.0]]}
