"""The `prometheusremotewrite` exporter: OTLP metrics into a real Prometheus, the wire format, errors."""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    Metric,
    ResourceMetrics,
)

from collector import prompb
from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.prometheusremotewrite.config import PrometheusRemoteWriteExporterConfig
from exporters.prometheusremotewrite.factory import FACTORY
from exporters.prometheusremotewrite.sender import RemoteWriteSender
from exporters.prometheusremotewrite.translate import STALE_NAN, RemoteWriteConverter, bucket_layout
from tests.conftest import free_port
from tests.exporters.otlp_sink import Answer, HttpSink, make_certificate

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NO_HOST: Any = None

# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class PrometheusServer:
    """A Prometheus process on 127.0.0.1 with its HTTP API."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query (at `at`, seconds since the epoch, if given)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        answer = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def series(self, match: str) -> list[dict[str, str]]:
        answer = httpx.get(f"{self.url}/api/v1/series", params={"match[]": match}, timeout=10).json()
        assert answer["status"] == "success", answer
        found: list[dict[str, str]] = answer["data"]
        return found

    def wait_for(self, promql: str, deadline_s: float = 60.0) -> list[dict[str, Any]]:
        """Poll until the query returns something (a deadline, not a timing assertion)."""
        deadline = time.monotonic() + deadline_s
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.2)


def start_prometheus(folder: Path, config: str, *flags: str, port: int | None = None) -> PrometheusServer:
    """Start /usr/bin/prometheus with `config` on a free port (or `port`) and wait until it is ready."""
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    (folder / "prometheus.yml").write_text(config)
    log = folder / "prometheus.log"
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = PrometheusServer(process, port, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"prometheus did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop_prometheus(server: PrometheusServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def settings() -> Settings:
    return Settings(
        ComponentId("prometheusremotewrite"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("test.prw")
    )


def config(**raw: Any) -> PrometheusRemoteWriteExporterConfig:
    decoded, problems = decode(PrometheusRemoteWriteExporterConfig, raw)
    assert problems == []
    assert decoded is not None
    return decoded


def problems(**raw: Any) -> list[str]:
    return [str(p) for p in decode(PrometheusRemoteWriteExporterConfig, raw)[1]]


def attributes(**values: Any) -> list[KeyValue]:
    out = []
    for name, value in values.items():
        key = name.replace("__", ".")
        if isinstance(value, bool):
            out.append(KeyValue(key=key, value=AnyValue(bool_value=value)))
        elif isinstance(value, int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        elif isinstance(value, float):
            out.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return out


def request(*metrics: Metric, resource: dict[str, Any] | None = None) -> ExportMetricsServiceRequest:
    resource_metrics = ResourceMetrics()
    resource_metrics.resource.attributes.extend(attributes(**(resource or {})))
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return ExportMetricsServiceRequest(resource_metrics=[resource_metrics])


NOW_NS = time.time_ns() // 1_000_000 * 1_000_000  # whole milliseconds, as Prometheus keeps them


def gauge(name: str, value: float, unit: str = "", at: int = NOW_NS, **attrs: Any) -> Metric:
    metric = Metric(name=name, unit=unit)
    metric.gauge.data_points.add(time_unix_nano=at, as_double=value).attributes.extend(attributes(**attrs))
    return metric


def counter(
    name: str,
    value: float,
    unit: str = "",
    at: int = NOW_NS,
    delta: bool = False,
    start: int = 0,
    **attrs: Any,
) -> Metric:
    metric = Metric(name=name, unit=unit)
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = (
        AGGREGATION_TEMPORALITY_DELTA if delta else AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    point = metric.sum.data_points.add(time_unix_nano=at, start_time_unix_nano=start, as_double=value)
    point.attributes.extend(attributes(**attrs))
    return metric


def histogram(
    name: str, bounds: list[float], counts: list[int], total: float, at: int = NOW_NS, **attrs: Any
) -> Metric:
    metric = Metric(name=name, unit="s")
    metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.histogram.data_points.add(
        time_unix_nano=at, count=sum(counts), sum=total, explicit_bounds=bounds, bucket_counts=counts
    )
    point.attributes.extend(attributes(**attrs))
    return metric


def convert(
    req: ExportMetricsServiceRequest, **options: Any
) -> dict[tuple[tuple[str, str], ...], list[float]]:
    conversion = RemoteWriteConverter(**options).convert(req)
    return {labels: [v for v, _ in s.samples] for labels, s in conversion.series.items()}


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k.replace("__name", "__name__") if k == "__name" else k, v) for k, v in pairs.items())
    )


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    server = start_prometheus(tmp_path / "prometheus", "global: {}\n", "--web.enable-remote-write-receiver")
    try:
        yield server
    finally:
        stop_prometheus(server)


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    async with HttpSink() as server:
        server.answer = Answer(http_status=204, body=b"")
        yield server


async def send(batch: Batch, url: str, attempt_timeout: float = 5.0, **raw: Any) -> RemoteWriteSender:
    sender = RemoteWriteSender(settings(), config(endpoint=url, **raw))
    await sender.start(NO_HOST)
    try:
        await sender.send(batch, attempt_timeout)
    finally:
        await sender.shutdown()
    return sender


def received_request(sink: HttpSink, index: int = 0) -> Any:
    return prompb.WriteRequest.FromString(sink.received[index].body)


# --- translation -----------------------------------------------------------------------------------


def test_a_gauge_becomes_one_series_with_its_attributes_and_the_service_labels() -> None:
    req = request(
        gauge("memory.usage", 42.0, "By", **{"host.name": "h1", "0dev": "sda"}),
        resource={"service__name": "api", "service__namespace": "shop", "service__instance__id": "i-1"},
    )
    assert convert(req) == {
        labels(__name="memory_usage_bytes", job="shop/api", instance="i-1", host_name="h1", key_0dev="sda"): [
            42.0
        ]
    }


def test_a_cumulative_monotonic_sum_is_a_total_counter_and_an_updown_sum_is_not() -> None:
    updown = counter("queue.length", 3.0)
    updown.sum.is_monotonic = False
    req = request(counter("http.requests", 7.0), updown, resource={"service__name": "api"})
    assert convert(req) == {
        labels(__name="http_requests_total", job="api"): [7.0],
        labels(__name="queue_length", job="api"): [3.0],
    }


def test_delta_sums_are_accumulated_into_cumulative_per_series() -> None:
    converter = RemoteWriteConverter()
    values = []
    for i, (value, code) in enumerate([(2.0, "200"), (3.0, "200"), (1.0, "500"), (4.0, "200")]):
        req = request(counter("hits", value, delta=True, at=NOW_NS + i * 1_000_000_000, code=code))
        series = converter.convert(req).series
        values.append(next((dict(k)["code"], s.samples[0][0]) for k, s in series.items()))
    assert values == [("200", 2.0), ("200", 5.0), ("500", 1.0), ("200", 9.0)]


def test_a_histogram_is_cumulative_buckets_up_to_inf_with_sum_and_count() -> None:
    req = request(histogram("rpc.duration", [0.1, 1.0], [2, 3, 1], 4.5, method="get"))
    assert convert(req) == {
        labels(__name="rpc_duration_seconds_bucket", le="0.1", method="get"): [2.0],
        labels(__name="rpc_duration_seconds_bucket", le="1", method="get"): [5.0],
        labels(__name="rpc_duration_seconds_bucket", le="+Inf", method="get"): [6.0],
        labels(__name="rpc_duration_seconds_sum", method="get"): [4.5],
        labels(__name="rpc_duration_seconds_count", method="get"): [6.0],
    }


def test_delta_histograms_are_accumulated() -> None:
    converter = RemoteWriteConverter()
    first = histogram("lat", [1.0], [1, 0], 0.5)
    first.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    converter.convert(request(first))
    second = histogram("lat", [1.0], [2, 1], 4.0, at=NOW_NS + 10**9)
    second.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    series = {
        dict(k).get("le", dict(k)["__name__"]): s.samples[0][0]
        for k, s in converter.convert(request(second)).series.items()
    }
    assert series == {"1": 3.0, "+Inf": 4.0, "lat_seconds_sum": 4.5, "lat_seconds_count": 4.0}


def test_a_summary_is_quantile_series_with_sum_and_count() -> None:
    metric = Metric(name="latency", unit="ms")
    point = metric.summary.data_points.add(time_unix_nano=NOW_NS, count=10, sum=55.0)
    point.quantile_values.add(quantile=0.5, value=4.0)
    point.quantile_values.add(quantile=0.99, value=9.5)
    assert convert(request(metric)) == {
        labels(__name="latency_milliseconds", quantile="0.5"): [4.0],
        labels(__name="latency_milliseconds", quantile="0.99"): [9.5],
        labels(__name="latency_milliseconds_sum"): [55.0],
        labels(__name="latency_milliseconds_count"): [10.0],
    }


def test_target_info_carries_the_other_resource_attributes() -> None:
    req = request(
        gauge("up", 1.0), resource={"service__name": "api", "service__instance__id": "i-1", "host__name": "h"}
    )
    assert convert(req)[labels(__name="target_info", job="api", instance="i-1", host_name="h")] == [1.0]
    assert labels(__name="target_info", job="api", instance="i-1", host_name="h") not in convert(
        req, target_info=False
    )


def test_resource_to_telemetry_puts_resource_attributes_on_every_series() -> None:
    req = request(gauge("up", 1.0, zone="a"), resource={"service__name": "api", "host__name": "h"})
    converted = convert(req, resource_to_telemetry=True, target_info=False)
    assert converted == {labels(__name="up", job="api", zone="a", host_name="h", service_name="api"): [1.0]}


def test_namespace_external_labels_and_no_suffixes() -> None:
    req = request(counter("http.requests", 1.0, region="mine"))
    converted = convert(
        req,
        namespace="shop",
        external_labels={"region": "eu", "cluster.name": "c1"},
        add_metric_suffixes=False,
    )
    assert converted == {labels(__name="shop_http_requests", region="mine", cluster_name="c1"): [1.0]}


def test_colliding_label_names_are_joined_with_a_semicolon() -> None:
    req = request(gauge("g", 1.0, **{"a.b": "x", "a_b": "y"}))
    assert convert(req) == {labels(__name="g", a_b="x;y"): [1.0]}


def test_points_without_a_recorded_value_are_stale_markers() -> None:
    metric = gauge("g", 1.0)
    metric.gauge.data_points[0].flags = 1
    (value,) = convert(request(metric))[labels(__name="g")]
    assert (
        math.isnan(value)
        and prompb.Sample(value=value).SerializeToString()
        == prompb.Sample(value=STALE_NAN).SerializeToString()
    )


def test_untranslatable_metrics_are_reported_not_raised() -> None:
    conversion = RemoteWriteConverter().convert(
        request(Metric(name="nothing"), gauge("@#$", 1.0), gauge("ok", 1.0))
    )
    assert list(conversion.series) == [labels(__name="ok")]
    assert len(conversion.errors) == 2


@pytest.mark.parametrize(
    ("offset", "counts", "scale_down", "spans", "deltas"),
    [
        (0, [1, 2, 3], 0, [(1, 3)], [1, 1, 1]),  # OTel bucket 0 is Prometheus bucket 1
        (-2, [4, 0, 0, 0, 5], 0, [(-1, 1), (3, 1)], [4, 1]),  # a gap of 3 starts a span
        (0, [1, 0, 2], 0, [(1, 3)], [1, -1, 2]),  # a gap of 1 is filled with a zero
        (
            0,
            [1, 1, 1, 1],
            1,
            [
                (1, 2),
            ],
            [2, 0],
        ),  # merged pairwise when the scale is lowered
    ],
)
def test_exponential_buckets_become_native_histogram_spans(
    offset: int, counts: list[int], scale_down: int, spans: list[tuple[int, int]], deltas: list[int]
) -> None:
    assert bucket_layout(offset, counts, scale_down) == (spans, deltas)


def test_large_batches_are_split_into_requests_under_the_size_limit() -> None:
    conversion = RemoteWriteConverter().convert(request(*(gauge(f"m{i}", float(i)) for i in range(100))))
    bodies = conversion.requests(1000)
    assert len(bodies) > 3 and all(len(b) <= 1000 for b in bodies)
    names = [
        dict((lb.name, lb.value) for lb in ts.labels)["__name__"]
        for b in bodies
        for ts in prompb.WriteRequest.FromString(b).timeseries
    ]
    assert sorted(names) == sorted(f"m{i}" for i in range(100))


# --- config ----------------------------------------------------------------------------------------


def test_defaults_are_the_contrib_exporters() -> None:
    default = config(endpoint="http://p:9090/api/v1/write")
    assert (default.add_metric_suffixes, default.target_info.enabled, default.namespace) == (True, True, "")
    assert default.max_batch_size_bytes == 3_000_000
    assert default.retry_on_failure.initial_interval.total_seconds() == 0.05
    assert default.sending_queue.num_consumers == 1
    assert not default.resource_to_telemetry_conversion.enabled


def test_config_problems_are_reported_with_their_keys() -> None:
    assert problems() == ["endpoint: must be set (e.g. http://prometheus:9090/api/v1/write)"]
    found = problems(endpoint="ftp://x", external_labels={"a": ""}, max_batch_size_bytes=0)
    assert [p.split(":")[0] for p in found] == ["endpoint", "external_labels", "max_batch_size_bytes"]


def test_the_factory_builds_metrics_exporters_only() -> None:
    cfg = config(endpoint="http://127.0.0.1:1/api/v1/write")
    assert FACTORY.type == "prometheusremotewrite" and set(FACTORY.signals) == {Signal.METRICS}
    FACTORY.create(settings(), cfg, Signal.METRICS)
    with pytest.raises(ValueError, match="only exports metrics"):
        FACTORY.create(settings(), cfg, Signal.TRACES)


# --- the wire --------------------------------------------------------------------------------------


async def test_requests_are_snappy_protobuf_with_the_remote_write_headers(sink: HttpSink) -> None:
    batch = Batch.from_otlp(request(gauge("up", 1.0, zone="a")))
    await send(batch, f"{sink.url}/api/v1/write", headers={"X-Scope-OrgID": "tenant"})
    (received,) = sink.received
    assert received.path == "/api/v1/write"
    assert received.headers["content-encoding"] == "snappy"
    assert received.headers["content-type"] == "application/x-protobuf"
    assert received.headers["x-prometheus-remote-write-version"] == "0.1.0"
    assert received.headers["x-scope-orgid"] == "tenant"
    assert bytes(cramjam.snappy.decompress_raw(received.wire_body)) == received.body
    (series,) = received_request(sink).timeseries
    assert [(lb.name, lb.value) for lb in series.labels] == [("__name__", "up"), ("zone", "a")]
    assert [(s.value, s.timestamp) for s in series.samples] == [(1.0, NOW_NS // 1_000_000)]


async def test_https_uses_the_tls_settings(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path / "tls")
    async with HttpSink(certificate) as server:
        server.answer = Answer(http_status=204, body=b"")
        batch = Batch.from_otlp(request(gauge("up", 1.0)))
        await send(batch, f"{server.url}/api/v1/write", tls={"ca_file": certificate.cert_file})
        with pytest.raises(RetryableError, match="failed to make an HTTP request"):
            await send(batch, f"{server.url}/api/v1/write")  # the system CAs do not know it
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (404, False)]
)
async def test_errors_are_classified_by_status(sink: HttpSink, status: int, retryable: bool) -> None:
    sink.answer = Answer(http_status=status, body=b"out of order sample", content_type="text/plain")
    with pytest.raises(RetryableError if retryable else PermanentError, match="out of order sample"):
        await send(Batch.from_otlp(request(gauge("up", 1.0))), f"{sink.url}/api/v1/write")


async def test_retry_after_is_honoured(sink: HttpSink) -> None:
    sink.answer = Answer(
        http_status=429, body=b"slow down", headers={"Retry-After": "7"}, content_type="text/plain"
    )
    with pytest.raises(RetryableError) as caught:
        await send(Batch.from_otlp(request(gauge("up", 1.0))), f"{sink.url}/api/v1/write")
    assert caught.value.retry_after == 7


async def test_no_server_is_retryable() -> None:
    with pytest.raises(RetryableError, match="failed to make an HTTP request"):
        await send(Batch.from_otlp(request(gauge("up", 1.0))), f"http://127.0.0.1:{free_port()}/api/v1/write")


async def test_a_retry_resends_only_what_was_not_accepted_and_counts_deltas_once(sink: HttpSink) -> None:
    cfg = config(endpoint=f"{sink.url}/api/v1/write", max_batch_size_bytes=200)
    sender = RemoteWriteSender(settings(), cfg, concurrency=1)
    await sender.start(NO_HOST)
    batch = Batch.from_otlp(request(*(counter(f"c{i}", 1.0, delta=True) for i in range(6))))
    calls = 0

    try:
        sink.answer = Answer(http_status=204, body=b"")
        original = sender._post

        async def post(client: httpx.AsyncClient, body: bytes, timeout: float) -> Any:  # noqa: ASYNC109
            nonlocal calls
            calls += 1
            if calls == 2:
                return RetryableError("injected")
            return await original(client, body, timeout)

        sender._post = post  # type: ignore[method-assign]
        with pytest.raises(RetryableError, match="injected"):
            await sender.send(batch, 5.0)
        first = len(sink.received)
        await sender.send(batch, 5.0)
    finally:
        await sender.shutdown()
    assert first >= 1 and len(sink.received) == first + 1  # only the refused request again
    names = sorted(
        (dict((lb.name, lb.value) for lb in ts.labels)["__name__"], ts.samples[0].value)
        for r in sink.received
        for ts in prompb.WriteRequest.FromString(r.body).timeseries
    )
    assert names == [(f"c{i}_total", 1.0) for i in range(6)]


# --- a real Prometheus -----------------------------------------------------------------------------


async def test_metrics_arrive_in_a_real_prometheus(prometheus: PrometheusServer) -> None:
    cfg = config(
        endpoint=f"{prometheus.url}/api/v1/write",
        external_labels={"cluster": "c1"},
        sending_queue={"enabled": False},
    )
    exporter = FACTORY.create(settings(), cfg, Signal.METRICS)
    resource = {
        "service__name": "api",
        "service__namespace": "shop",
        "service__instance__id": "i-1",
        "host__name": "box",
    }
    at = NOW_NS
    await exporter.start(NO_HOST)
    try:
        await exporter.consume(
            Batch.from_otlp(
                request(
                    gauge("memory.usage", 1024.0, "By", state="used"),
                    counter("http.server.requests", 5.0, method="GET"),
                    counter("jobs.done", 2.0, delta=True, at=at - 1_000_000_000),
                    histogram("rpc.duration", [0.1, 1.0], [2, 3, 1], 4.5),
                    resource=resource,
                )
            )
        )
        await exporter.consume(
            Batch.from_otlp(request(counter("jobs.done", 3.0, delta=True, at=at), resource=resource))
        )
    finally:
        await exporter.shutdown()

    when = at / 1e9
    common = {"job": "shop/api", "instance": "i-1", "cluster": "c1"}
    (memory,) = await asyncio.to_thread(prometheus.query, "memory_usage_bytes", when)
    assert memory["metric"] == {"__name__": "memory_usage_bytes", "state": "used", **common}
    assert memory["value"][1] == "1024"
    (requests,) = await asyncio.to_thread(prometheus.query, 'http_server_requests_total{method="GET"}', when)
    assert requests["value"][1] == "5"
    (jobs,) = await asyncio.to_thread(prometheus.query, "jobs_done_total", when)
    assert jobs["value"][1] == "5"  # 2 + 3, the deltas summed
    buckets = await asyncio.to_thread(prometheus.query, "rpc_duration_seconds_bucket", when)
    assert {b["metric"]["le"]: b["value"][1] for b in buckets} == {"0.1": "2", "1": "5", "+Inf": "6"}
    (count,) = await asyncio.to_thread(prometheus.query, "rpc_duration_seconds_count", when)
    assert count["value"][1] == "6"
    (quantile,) = await asyncio.to_thread(
        prometheus.query, "histogram_quantile(0.5, rpc_duration_seconds_bucket)", when
    )
    assert 0.1 < float(quantile["value"][1]) <= 1.0
    (info,) = await asyncio.to_thread(prometheus.series, "target_info")
    assert info == {"__name__": "target_info", "host_name": "box", **common}
    names = {s["__name__"] for s in await asyncio.to_thread(prometheus.series, '{job="shop/api"}')}
    assert names == {
        "memory_usage_bytes",
        "http_server_requests_total",
        "jobs_done_total",
        "rpc_duration_seconds_bucket",
        "rpc_duration_seconds_sum",
        "rpc_duration_seconds_count",
        "target_info",
    }


async def test_prometheus_refusing_an_out_of_order_sample_is_permanent(prometheus: PrometheusServer) -> None:
    cfg = config(
        endpoint=f"{prometheus.url}/api/v1/write",
        sending_queue={"enabled": False},
        retry_on_failure={"enabled": False},
    )
    exporter = FACTORY.create(settings(), cfg, Signal.METRICS)
    await exporter.start(NO_HOST)
    try:
        await exporter.consume(Batch.from_otlp(request(gauge("g", 2.0, at=NOW_NS))))
        with pytest.raises(PermanentError, match="HTTP status 400"):
            await exporter.consume(Batch.from_otlp(request(gauge("g", 1.0, at=NOW_NS - 60_000_000_000))))
    finally:
        await exporter.shutdown()


async def test_exponential_histograms_arrive_as_native_histograms(tmp_path: Path) -> None:
    server = await asyncio.to_thread(
        start_prometheus,
        tmp_path / "prometheus",
        "global: {}\n",
        "--web.enable-remote-write-receiver",
        "--enable-feature=native-histograms",
    )
    try:
        metric = Metric(name="request.size", unit="By")
        metric.exponential_histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
        point = metric.exponential_histogram.data_points.add(
            time_unix_nano=NOW_NS, count=10, sum=100.0, scale=0, zero_count=1
        )
        point.positive.offset = 2  # (4, 8]
        point.positive.bucket_counts.extend([3, 0, 0, 0, 4, 2])  # then (64, 128] and (128, 256]
        cfg = config(endpoint=f"{server.url}/api/v1/write", sending_queue={"enabled": False})
        exporter = FACTORY.create(settings(), cfg, Signal.METRICS)
        await exporter.start(NO_HOST)
        try:
            await exporter.consume(Batch.from_otlp(request(metric)))
        finally:
            await exporter.shutdown()
        (stored,) = await asyncio.to_thread(server.query, "request_size_bytes", NOW_NS / 1e9)
        histogram = stored["histogram"][1]
        assert (histogram["count"], histogram["sum"]) == ("10", "100")
        assert [(lower, upper, count) for _, lower, upper, count in histogram["buckets"]] == [
            ("-1e-128", "1e-128", "1"),
            ("4", "8", "3"),
            ("64", "128", "4"),
            ("128", "256", "2"),
        ]
    finally:
        await asyncio.to_thread(stop_prometheus, server)
