"""The Prometheus catalog: names, types and label sets of stored OTel metrics, and series selection.

The builders here write OTLP metrics through the clickhouse exporter's write path (the other metrics
tests use them too).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.catalog import Catalog, Part, StoredMetric, point_labels
from backend.metrics.promql.matchers import Matcher, MatchOp
from backend.service import ServiceConfig, Store
from collector.pdata.batch import Batch
from exporters.clickhouse.metrics import MetricsTables, write
from tests.backend.conftest import fresh_backend

in_module_loop = pytest.mark.asyncio(loop_scope="module")
"""Async tests here run in the module's event loop, the one the shared backend was started in."""

MS = 1_000_000
T0 = 1_700_000_000_000
"""A whole minute, in Unix ms."""
Points = Sequence[tuple[int, float | None]]
"""(Unix ms, value) of a number series; None is a point flagged `no recorded value` (a staleness marker)."""


# --- OTLP builders ------------------------------------------------------------------------------


def attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    """OTLP attributes of str, bool, int or float values."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            out.append(KeyValue(key=key, value=AnyValue(bool_value=value)))
        elif isinstance(value, int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        elif isinstance(value, float):
            out.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return out


def request(*resources: tuple[Mapping[str, Any], Sequence[Metric]]) -> ExportMetricsServiceRequest:
    """A request of (resource attributes, metrics) pairs."""
    out = ExportMetricsServiceRequest()
    for resource, metrics in resources:
        rm = out.resource_metrics.add()
        rm.resource.attributes.extend(attributes(resource))
        rm.scope_metrics.add().metrics.extend(metrics)
    return out


def _number_points(
    data: Any, series: Iterable[tuple[Mapping[str, Any], Points]], delta: bool = False
) -> None:
    for attrs, points in series:
        previous = points[0][0] - 1 if points else 0
        for ms, value in points:
            point = data.data_points.add(time_unix_nano=ms * MS)
            if delta:
                point.start_time_unix_nano = previous * MS
                previous = ms
            if value is None:
                point.flags = 1
            else:
                point.as_double = value
            point.attributes.extend(attributes(attrs))


def gauge(name: str, unit: str, *series: tuple[Mapping[str, Any], Points], description: str = "") -> Metric:
    """A gauge with one point list per attribute set."""
    metric = Metric(name=name, unit=unit, description=description)
    _number_points(metric.gauge, series)
    return metric


def counter(
    name: str,
    unit: str,
    *series: tuple[Mapping[str, Any], Points],
    monotonic: bool = True,
    delta: bool = False,
    description: str = "",
) -> Metric:
    """A sum (cumulative unless `delta`) with one point list per attribute set."""
    metric = Metric(name=name, unit=unit, description=description)
    metric.sum.is_monotonic = monotonic
    metric.sum.aggregation_temporality = 1 if delta else 2
    _number_points(metric.sum, series, delta)
    return metric


def histogram(
    name: str,
    unit: str,
    bounds: Sequence[float],
    *series: tuple[Mapping[str, Any], Sequence[tuple[int, Sequence[int], float]]],
    delta: bool = False,
) -> Metric:
    """A histogram: per attribute set, points of (Unix ms, bucket counts, sum)."""
    metric = Metric(name=name, unit=unit)
    metric.histogram.aggregation_temporality = 1 if delta else 2
    for attrs, points in series:
        for ms, counts, total in points:
            point = metric.histogram.data_points.add(
                time_unix_nano=ms * MS,
                count=sum(counts),
                sum=total,
                explicit_bounds=list(bounds),
                bucket_counts=list(counts),
            )
            point.attributes.extend(attributes(attrs))
    return metric


def summary(
    name: str,
    unit: str,
    *series: tuple[Mapping[str, Any], Sequence[tuple[int, int, float, Mapping[float, float]]]],
) -> Metric:
    """A summary: per attribute set, points of (Unix ms, count, sum, {quantile: value})."""
    metric = Metric(name=name, unit=unit)
    for attrs, points in series:
        for ms, count, total, quantiles in points:
            point = metric.summary.data_points.add(time_unix_nano=ms * MS, count=count, sum=total)
            for q, v in quantiles.items():
                point.quantile_values.add(quantile=q, value=v)
            point.attributes.extend(attributes(attrs))
    return metric


async def store(backend: ClickHouseBackend, otlp: ExportMetricsServiceRequest) -> None:
    """Write a request through the clickhouse exporter's write path."""
    await write(backend, MetricsTables(), Batch.from_otlp(otlp))


def every(start: int, count: int, step: int = 15_000) -> list[int]:
    """`count` times `step` ms apart from `start`."""
    return [start + i * step for i in range(count)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared() -> AsyncIterator[ClickHouseBackend]:
    """One database for this module's tests, each writing metrics of its own names."""
    async with fresh_backend("catalog") as backend:
        yield backend


# --- tests ----------------------------------------------------------------------------------------

API = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1"}


def test_labels_are_sanitized_attributes_then_job_and_instance_then_the_name() -> None:
    labels = point_labels(
        {"http.method": "GET", "0dev": "sda", "_x": "1", "a.b": "x", "a_b": "y", "empty": ""},
        {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1", "host": "h"},
        "m_total",
        ("le", "0.5"),
    )
    assert labels == (
        ("__name__", "m_total"),
        ("a_b", "x;y"),
        ("http_method", "GET"),
        ("instance", "i-1"),
        ("job", "shop/api"),
        ("key_0dev", "sda"),
        ("key_x", "1"),
        ("le", "0.5"),
    )


@pytest.mark.parametrize(
    ("metric", "names", "type_"),
    [
        (
            StoredMetric("histogram", "http.server.duration", "s"),
            {
                "http_server_duration_seconds_bucket": Part.BUCKET,
                "http_server_duration_seconds_sum": Part.SUM,
                "http_server_duration_seconds_count": Part.COUNT,
            },
            "histogram",
        ),
        (
            StoredMetric("sum", "http.requests", "{request}", True, 2),
            {"http_requests_total": Part.VALUE},
            "counter",
        ),
        (StoredMetric("sum", "jobs", "", True, 1), {"jobs_total": Part.VALUE}, "counter"),
        (StoredMetric("sum", "queue.length", "", False, 2), {"queue_length": Part.VALUE}, "gauge"),
        (StoredMetric("gauge", "cpu.utilization", "1"), {"cpu_utilization_ratio": Part.VALUE}, "gauge"),
        (
            StoredMetric("summary", "rpc.latency", "ms"),
            {
                "rpc_latency_milliseconds": Part.QUANTILE,
                "rpc_latency_milliseconds_sum": Part.SUM,
                "rpc_latency_milliseconds_count": Part.COUNT,
            },
            "summary",
        ),
    ],
    ids=["histogram", "counter", "delta-counter", "updown-sum", "ratio-gauge", "summary"],
)
def test_stored_metrics_are_named_as_the_prometheus_exporters_name_them(
    metric: StoredMetric, names: dict[str, Part], type_: str
) -> None:
    assert metric.series_names() == names
    assert metric.type == type_


@in_module_loop
async def test_metadata_lists_families_with_type_help_and_unit(shared: ClickHouseBackend) -> None:
    await store(
        shared,
        request(
            (
                API,
                [
                    counter("meta.requests", "", ({}, [(T0, 1.0)]), description="Requests served"),
                    histogram("meta.duration", "s", [0.5], ({}, [(T0, [1, 0], 0.1)])),
                    gauge("meta.memory", "By", ({}, [(T0, 5.0)]), description="Memory"),
                ],
            ),
        ),
    )
    families = await Catalog(Store(shared, ServiceConfig())).families()
    assert {name: (f.type, f.help, f.unit) for name, f in families.items() if name.startswith("meta_")} == {
        "meta_requests_total": ("counter", ["Requests served"], ""),
        "meta_duration_seconds": ("histogram", [""], "seconds"),
        "meta_memory_bytes": ("gauge", ["Memory"], "bytes"),
    }


@in_module_loop
async def test_a_histogram_selects_a_bucket_series_per_bound_seen_in_the_range(
    shared: ClickHouseBackend,
) -> None:
    await store(
        shared,
        request(
            (API, [histogram("lat", "s", [0.1, 1.0], ({"route": "/a"}, [(T0, [1, 2, 3], 2.5)]))]),
            (API, [histogram("lat", "s", [0.25], ({"route": "/a"}, [(T0 + 60_000, [1, 1], 0.3)]))]),
        ),
    )
    catalog = Catalog(Store(shared, ServiceConfig()), max_age=0)
    name = [Matcher("__name__", MatchOp.EQUAL, "lat_seconds_bucket")]
    selection = await catalog.select(name, T0 * MS, (T0 + 60_000) * MS, 100)
    assert sorted(dict(s.labels)["le"] for s in selection.series) == ["+Inf", "0.1", "0.25", "1"]
    early = await catalog.select(name, T0 * MS, (T0 + 1_000) * MS, 100)
    assert sorted(dict(s.labels)["le"] for s in early.series) == ["+Inf", "0.1", "1"]
    assert {s.arg for s in early.series} == {0.1, 1.0, math.inf}


@in_module_loop
async def test_matchers_select_on_labels_with_anchored_regexes(shared: ClickHouseBackend) -> None:
    points = [(T0, 1.0)]
    await store(
        shared,
        request(
            (
                API,
                [
                    counter(
                        "hits",
                        "",
                        ({"code": "200"}, points),
                        ({"code": "500"}, points),
                        ({"code": "2000"}, points),
                    )
                ],
            ),
            ({"service.name": "web"}, [counter("hits", "", ({"code": "200"}, points))]),
        ),
    )
    catalog = Catalog(Store(shared, ServiceConfig()), max_age=0)

    async def select(*matchers: tuple[str, str, str]) -> list[dict[str, str]]:
        rules = [Matcher(n, MatchOp(op), v) for n, op, v in matchers]
        found = await catalog.select(rules, T0 * MS, T0 * MS, 100)
        return sorted((dict(s.labels) for s in found.series), key=lambda d: sorted(d.items()))

    by_code = await select(("__name__", "=", "hits_total"), ("code", "=~", "2.."))
    assert [(d["code"], d["job"]) for d in by_code] == [("200", "shop/api"), ("200", "web")]
    assert [d["code"] for d in await select(("__name__", "=~", "hits.*"), ("code", "!~", "2.*"))] == ["500"]
    assert [d["code"] for d in await select(("__name__", "=", "hits_total"), ("job", "=", "web"))] == ["200"]
    assert len(await select(("__name__", "=", "hits_total"), ("instance", "!=", "i-1"))) == 1
    assert len(await select(("__name__", "=", "hits_total"), ("instance", "=", ""))) == 1
    assert (
        await select(
            ("__name__", "=", "hits"),
        )
        == []
    )


@in_module_loop
async def test_a_selection_past_the_limit_says_it_is_truncated(shared: ClickHouseBackend) -> None:
    await store(shared, request((API, [gauge("g", "", *(({"n": i}, [(T0, 1.0)]) for i in range(5)))])))
    catalog = Catalog(Store(shared, ServiceConfig()), max_age=0)
    selection = await catalog.select([Matcher("__name__", MatchOp.EQUAL, "g")], T0 * MS, T0 * MS, 3)
    assert selection.truncated and len(selection.series) == 3
    everything = await catalog.select([Matcher("__name__", MatchOp.EQUAL, "g")], T0 * MS, T0 * MS, 5)
    assert not everything.truncated and len(everything.series) == 5


@in_module_loop
async def test_a_new_metric_is_found_although_the_cache_is_fresh(
    shared: ClickHouseBackend,
) -> None:
    catalog = Catalog(Store(shared, ServiceConfig()), max_age=3600)
    assert "late" not in {m.name for m in await catalog.metrics()}
    await store(shared, request((API, [gauge("late", "", ({}, [(T0, 1.0)]))])))
    catalog._loaded -= 2  # the cache is older than the one second a missing name waits for
    found = await catalog.select([Matcher("__name__", MatchOp.EQUAL, "late")], T0 * MS, T0 * MS, 10)
    assert [dict(s.labels)["__name__"] for s in found.series] == ["late"]
