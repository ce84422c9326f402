"""The `prometheusremotewrite` receiver: remote write 1.0 in, OTLP metrics out, from a real Prometheus too."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import struct
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector import prompb
from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.confmap import load_yaml
from collector.errors import PermanentError, RetryableError
from collector.pdata import Batch
from collector.prompb import MetricType
from collector.service import Service
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from receivers.prometheusremotewrite.config import PrometheusRemoteWriteReceiverConfig
from receivers.prometheusremotewrite.factory import FACTORY, PrometheusRemoteWriteReceiver
from receivers.prometheusremotewrite.translate import InvalidWriteRequestError, RemoteWriteTranslator
from tests.components import JOURNAL, registry_with_test_components
from tests.conftest import free_port
from tests.exporters.test_prometheusremotewrite import PrometheusServer, start_prometheus, stop_prometheus

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
NO_HOST: Any = None
T = 1_700_000_000_000  # ms

# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class RecordingConsumer:
    """Keeps every batch; raises `error` instead while one is set."""

    batches: list[Batch] = field(default_factory=list)
    error: BaseException | None = None

    async def consume(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)


@dataclass
class Running:
    receiver: PrometheusRemoteWriteReceiver
    consumer: RecordingConsumer
    registry: MetricsRegistry

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.receiver.port}/api/v1/write"

    async def post(
        self, body: bytes, headers: Mapping[str, str] = HEADERS, method: str = "POST"
    ) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.request(method, self.url, content=body, headers=dict(headers), timeout=30)

    async def write(self, request: Any) -> httpx.Response:
        return await self.post(bytes(cramjam.snappy.compress_raw(request.SerializeToString())))

    def metrics(self) -> dict[str, Any]:
        """Every metric received, by name (the last one of each name)."""
        return {m.name: m for _, _, m in self.flat()}

    def flat(self) -> list[tuple[dict[str, str], tuple[str, str], Any]]:
        """(resource attributes, scope, metric) of everything received."""
        out = []
        for batch in self.consumer.batches:
            request = ExportMetricsServiceRequest.FromString(batch.otlp_bytes())
            for rm in request.resource_metrics:
                resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
                for sm in rm.scope_metrics:
                    out.extend((resource, (sm.scope.name, sm.scope.version), m) for m in sm.metrics)
        return out


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    registry = MetricsRegistry()
    consumer = RecordingConsumer()
    config = PrometheusRemoteWriteReceiverConfig(endpoint=f"127.0.0.1:{free_port()}")
    settings = Settings(
        ComponentId("prometheusremotewrite"), Kind.RECEIVER, registry, logging.getLogger("test")
    )
    receiver = FACTORY.create(settings, config, {Signal.METRICS: consumer})
    assert isinstance(receiver, PrometheusRemoteWriteReceiver)
    await receiver.start(NO_HOST)
    try:
        yield Running(receiver, consumer, registry)
    finally:
        await receiver.shutdown()


def write_request(
    *series: tuple[dict[str, str], Iterable[tuple[float, int]]], metadata: Iterable[Any] = ()
) -> Any:
    request = prompb.WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name in sorted(labels):
            ts.labels.add(name=name, value=labels[name])
        for value, timestamp in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    request.metadata.extend(metadata)
    return request


def meta(family: str, type_: int, help_: str = "", unit: str = "") -> Any:
    return prompb.MetricMetadata(type=type_, metric_family_name=family, help=help_, unit=unit)


def attrs(point: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


def prometheus_type(metric: Any) -> str:
    (kv,) = [kv for kv in metric.metadata if kv.key == "prometheus.type"]
    return str(kv.value.string_value)


# --- mapping ---------------------------------------------------------------------------------------


async def test_job_and_instance_become_the_resource_and_other_labels_attributes(running: Running) -> None:
    labels = {"__name__": "node_load1", "job": "shop/node", "instance": "h1:9100", "cpu": "0"}
    assert (await running.write(write_request((labels, [(0.5, T)])))).status_code == 204
    ((resource, scope, metric),) = running.flat()
    assert resource == {"service.namespace": "shop", "service.name": "node", "service.instance.id": "h1:9100"}
    assert scope[0] == "airis"
    assert metric.name == "node_load1" and prometheus_type(metric) == "unknown"
    (point,) = metric.gauge.data_points
    assert (attrs(point), point.as_double, point.time_unix_nano) == ({"cpu": "0"}, 0.5, T * 1_000_000)


async def test_metadata_types_make_counters_and_gauges(running: Running) -> None:
    request = write_request(
        ({"__name__": "http_requests_total", "job": "api", "code": "200"}, [(10.0, T)]),
        ({"__name__": "temperature", "job": "api"}, [(21.5, T)]),
        metadata=[
            meta("http_requests_total", MetricType.COUNTER, "Requests.", ""),
            meta("temperature", MetricType.GAUGE, "Temp.", "celsius"),
        ],
    )
    assert (await running.write(request)).status_code == 204
    metrics = running.metrics()
    counter = metrics["http_requests_total"]
    assert counter.sum.is_monotonic and counter.sum.aggregation_temporality == 2
    assert (counter.description, prometheus_type(counter)) == ("Requests.", "counter")
    assert counter.sum.data_points[0].as_double == 10.0
    temperature = metrics["temperature"]
    assert (temperature.WhichOneof("data"), temperature.unit, prometheus_type(temperature)) == (
        "gauge",
        "celsius",
        "gauge",
    )


async def test_without_metadata_a_total_series_is_a_counter_and_others_gauges(running: Running) -> None:
    request = write_request(
        ({"__name__": "jobs_total", "job": "w"}, [(3.0, T)]),
        ({"__name__": "queue_depth", "job": "w"}, [(4.0, T)]),
    )
    await running.write(request)
    metrics = running.metrics()
    assert metrics["jobs_total"].WhichOneof("data") == "sum" and metrics["jobs_total"].sum.is_monotonic
    assert metrics["queue_depth"].WhichOneof("data") == "gauge"


async def test_metadata_is_remembered_across_requests(running: Running) -> None:
    await running.write(write_request(metadata=[meta("hits", MetricType.COUNTER)]))
    await running.write(write_request(({"__name__": "hits", "job": "w"}, [(1.0, T)])))
    assert running.metrics()["hits"].WhichOneof("data") == "sum"


async def test_target_info_enriches_its_resource_now_and_later(running: Running) -> None:
    base = {"job": "api", "instance": "i-1"}
    request = write_request(
        ({"__name__": "up", **base}, [(1.0, T)]),
        ({"__name__": "target_info", **base, "host_name": "box", "os_type": "linux"}, [(1.0, T)]),
    )
    await running.write(request)
    await running.write(write_request(({"__name__": "up", **base}, [(1.0, T + 1000)])))
    expected = {"service.name": "api", "service.instance.id": "i-1", "host_name": "box", "os_type": "linux"}
    assert [(r, m.name) for r, _, m in running.flat()] == [(expected, "up"), (expected, "up")]


async def test_scope_labels_become_the_scope(running: Running) -> None:
    labels = {"__name__": "g", "otel_scope_name": "lib", "otel_scope_version": "1.2", "k": "v"}
    await running.write(write_request((labels, [(1.0, T)])))
    ((_, scope, metric),) = running.flat()
    assert scope == ("lib", "1.2") and attrs(metric.gauge.data_points[0]) == {"k": "v"}


async def test_classic_histograms_are_assembled_from_their_series(running: Running) -> None:
    base = {"job": "api", "handler": "/x"}
    series = [
        ({"__name__": "lat_seconds_bucket", **base, "le": le}, [(c, T)])
        for le, c in [("0.1", 1), ("1", 3), ("+Inf", 4)]
    ]
    request = write_request(
        *series,
        ({"__name__": "lat_seconds_sum", **base}, [(2.5, T)]),
        ({"__name__": "lat_seconds_count", **base}, [(4.0, T)]),
        metadata=[meta("lat_seconds", MetricType.HISTOGRAM, "Latency.", "seconds")],
    )
    await running.write(request)
    ((_, _, metric),) = running.flat()
    assert (metric.name, metric.unit, prometheus_type(metric)) == ("lat_seconds", "seconds", "histogram")
    (point,) = metric.histogram.data_points
    assert list(point.explicit_bounds) == [0.1, 1.0] and list(point.bucket_counts) == [1, 2, 1]
    assert (point.count, point.sum, attrs(point)) == (4, 2.5, {"handler": "/x"})
    assert metric.histogram.aggregation_temporality == 2


async def test_a_histogram_without_its_inf_bucket_stays_as_gauges(running: Running) -> None:
    request = write_request(
        ({"__name__": "lat_bucket", "le": "1"}, [(3.0, T)]),
        ({"__name__": "lat_count"}, [(4.0, T)]),
        metadata=[meta("lat", MetricType.HISTOGRAM)],
    )
    await running.write(request)
    metrics = running.metrics()
    assert set(metrics) == {"lat_bucket", "lat_count"}
    assert attrs(metrics["lat_bucket"].gauge.data_points[0]) == {"le": "1"}


async def test_summaries_are_assembled_from_quantiles_sum_and_count(running: Running) -> None:
    request = write_request(
        ({"__name__": "rpc", "quantile": "0.5"}, [(0.2, T)]),
        ({"__name__": "rpc", "quantile": "0.99"}, [(0.9, T)]),
        ({"__name__": "rpc_sum"}, [(12.0, T)]),
        ({"__name__": "rpc_count"}, [(40.0, T)]),
        metadata=[meta("rpc", MetricType.SUMMARY)],
    )
    await running.write(request)
    ((_, _, metric),) = running.flat()
    (point,) = metric.summary.data_points
    assert (point.count, point.sum) == (40, 12.0)
    assert [(q.quantile, q.value) for q in point.quantile_values] == [(0.5, 0.2), (0.99, 0.9)]


async def test_stale_markers_become_no_recorded_value(running: Running) -> None:
    await running.write(write_request(({"__name__": "g"}, [(STALE_NAN, T)])))
    (point,) = running.metrics()["g"].gauge.data_points
    assert point.flags == 1


async def test_unusual_series_take_the_slow_path_with_the_same_result(running: Running) -> None:
    """Several samples, a zero value (left out on the wire) and a zero timestamp."""
    request = write_request(
        ({"__name__": "c_total", "a": "b"}, [(0.0, T), (2.0, T + 1000)]),
        ({"__name__": "c_total", "a": "b"}, [(5.0, 0)]),
    )
    await running.write(request)
    (metric,) = running.metrics().values()
    points = [(p.as_double, p.time_unix_nano, attrs(p)) for p in metric.sum.data_points]
    assert points == [
        (0.0, T * 10**6, {"a": "b"}),
        (2.0, (T + 1000) * 10**6, {"a": "b"}),
        (5.0, 0, {"a": "b"}),
    ]


async def test_exemplars_go_with_their_data_point(running: Running) -> None:
    request = write_request(({"__name__": "c_total"}, [(2.0, T)]))
    request.timeseries[0].exemplars.add(
        value=1.5,
        timestamp=T,
        labels=[
            prompb.Label(name="trace_id", value="0af7651916cd43dd8448eb211c80319c"),
            prompb.Label(name="user", value="u1"),
        ],
    )
    await running.write(request)
    (point,) = running.metrics()["c_total"].sum.data_points
    (exemplar,) = point.exemplars
    assert exemplar.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert (exemplar.as_double, attrs_of(exemplar.filtered_attributes)) == (1.5, {"user": "u1"})


def attrs_of(key_values: Iterable[Any]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in key_values}


async def test_native_histograms_become_exponential_histograms(running: Running) -> None:
    request = write_request(({"__name__": "nh", "job": "j"}, []))
    histogram = request.timeseries[0].histograms.add(
        count_int=6, sum=10.0, schema=1, zero_threshold=0.001, zero_count_int=1, timestamp=T
    )
    histogram.positive_spans.add(offset=0, length=2)
    histogram.positive_spans.add(offset=1, length=1)
    histogram.positive_deltas.extend([2, -1, 1])  # counts 2, 1, (gap 0), 2
    await running.write(request)
    (point,) = running.metrics()["nh"].exponential_histogram.data_points
    assert (point.count, point.sum, point.scale, point.zero_count) == (6, 10.0, 1, 1)
    assert (point.positive.offset, list(point.positive.bucket_counts)) == (-1, [2, 1, 0, 2])


async def test_trim_metric_suffixes_drops_total_and_units() -> None:
    consumer = RecordingConsumer()
    config = PrometheusRemoteWriteReceiverConfig(
        endpoint=f"127.0.0.1:{free_port()}", trim_metric_suffixes=True
    )
    settings = Settings(ComponentId("prw"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger("test"))
    receiver = FACTORY.create(settings, config, {Signal.METRICS: consumer})
    assert isinstance(receiver, PrometheusRemoteWriteReceiver)
    await receiver.start(NO_HOST)
    try:
        running = Running(receiver, consumer, MetricsRegistry())
        await running.write(
            write_request(
                ({"__name__": "cpu_seconds_total"}, [(1.0, T)]),
                metadata=[meta("cpu_seconds_total", MetricType.COUNTER, unit="seconds")],
            )
        )
    finally:
        await receiver.shutdown()
    assert list(running.metrics()) == ["cpu"]


async def test_accepted_points_are_counted(running: Running) -> None:
    await running.write(write_request(({"__name__": "a"}, [(1.0, T)]), ({"__name__": "b"}, [(1.0, T)])))
    accepted = running.registry.get("otelcol_receiver_accepted_metric_points_total").value(
        receiver="prometheusremotewrite", transport="http"
    )
    assert accepted == 2


# --- errors ----------------------------------------------------------------------------------------


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"\xff\xff\xff\xff\xff\x00garbage", 400, "invalid snappy block"),
        (snappy(b"\x0a\x05\x0a\x03ab"), 400, "invalid prometheus.WriteRequest"),
        (snappy(b"\x0a\x0f\x0a\x0d\x0a\x03job\x12\x06x"), 400, "invalid prometheus.WriteRequest"),
        (snappy(write_request(({"job": "x"}, [(1.0, T)])).SerializeToString()), 400, "missing metric name"),
        (snappy(b"\x0a\x0e\x0a\x0c\x0a\x08__name__\x12\x00"), 400, "missing metric name"),
        (snappy(b"\x0a\x10\x0a\x0e\x0a\x08__name__\x12\x02\xff\xfe"), 400, "invalid prometheus.WriteRequest"),
    ],
    ids=[
        "not-snappy",
        "truncated-protobuf",
        "label-past-its-series",
        "no-name",
        "empty-name",
        "invalid-utf8",
    ],
)
async def test_malformed_bodies_are_400_with_a_message_and_the_receiver_carries_on(
    running: Running, body: bytes, status: int, message: str
) -> None:
    response = await running.post(body)
    assert response.status_code == status and message in response.text
    assert running.consumer.batches == []
    assert (await running.write(write_request(({"__name__": "ok"}, [(1.0, T)])))).status_code == 204


async def test_duplicate_label_names_are_refused(running: Running) -> None:
    request = prompb.WriteRequest()
    ts = request.timeseries.add()
    ts.labels.add(name="__name__", value="x")
    ts.labels.add(name="a", value="1")
    ts.labels.add(name="a", value="2")
    ts.samples.add(value=1, timestamp=T)
    response = await running.write(request)
    assert response.status_code == 400 and "duplicate label 'a'" in response.text


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({**HEADERS, "Content-Type": "application/json"}, 415, "expected Content-Type"),
        (
            {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
            415,
            "remote write 1.0",
        ),
        ({**HEADERS, "Content-Encoding": "gzip"}, 400, "unsupported Content-Encoding"),
    ],
)
async def test_other_formats_are_refused(
    running: Running, headers: dict[str, str], status: int, message: str
) -> None:
    body = snappy(write_request(({"__name__": "x"}, [(1.0, T)])).SerializeToString())
    response = await running.post(body, headers)
    assert response.status_code == status and message in response.text


async def test_the_v1_proto_parameter_and_a_missing_encoding_are_accepted(running: Running) -> None:
    body = snappy(write_request(({"__name__": "x"}, [(1.0, T)])).SerializeToString())
    headers = {"Content-Type": "application/x-protobuf; proto=prometheus.WriteRequest"}
    assert (await running.post(body, headers)).status_code == 204


async def test_get_is_405(running: Running) -> None:
    response = await running.post(b"", method="GET")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_bodies_over_the_limit_are_413_before_decompressing() -> None:
    consumer = RecordingConsumer()
    config = PrometheusRemoteWriteReceiverConfig(
        endpoint=f"127.0.0.1:{free_port()}", max_request_body_size=10_000
    )
    settings = Settings(ComponentId("prw"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger("test"))
    receiver = FACTORY.create(settings, config, {Signal.METRICS: consumer})
    assert isinstance(receiver, PrometheusRemoteWriteReceiver)
    await receiver.start(NO_HOST)
    try:
        running = Running(receiver, consumer, MetricsRegistry())
        bomb = snappy(b"\x00" * 100_000)  # small on the wire, large once decompressed
        assert len(bomb) < 10_000
        response = await running.post(bomb)
        assert response.status_code == 413 and "max_request_body_size" in response.text
        assert (await running.post(b"x" * 20_000)).status_code == 413
    finally:
        await receiver.shutdown()


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (RetryableError("queue is full", retry_after=2.5), 503, "3"),
        (RetryableError("memory limit"), 503, "5"),
        (RuntimeError("boom"), 503, "5"),
        (PermanentError("never"), 400, None),
    ],
)
async def test_pipeline_refusals_map_to_status_codes(
    running: Running, error: BaseException, status: int, retry_after: str | None
) -> None:
    running.consumer.error = error
    response = await running.write(write_request(({"__name__": "x"}, [(1.0, T)])))
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    refused = running.registry.get("otelcol_receiver_refused_metric_points_total").value(
        receiver="prometheusremotewrite", transport="http"
    )
    assert refused == 1


def test_config_defaults_and_problems() -> None:
    default, problems = decode(PrometheusRemoteWriteReceiverConfig, {})
    assert problems == [] and default is not None
    assert (default.endpoint, default.max_request_body_size) == ("localhost:9090", 10 * 1024 * 1024)
    _, problems = decode(
        PrometheusRemoteWriteReceiverConfig, {"endpoint": "nowhere", "max_request_body_size": 0}
    )
    assert [p.path for p in problems] == ["endpoint", "max_request_body_size"]


# --- a real Prometheus sending ---------------------------------------------------------------------


def _recorded() -> list[tuple[dict[str, str], Any]]:
    recorder = JOURNAL.exporters.get("exporter recorder (metrics)")
    out = []
    for batch in recorder.batches if recorder is not None else []:
        request = ExportMetricsServiceRequest.FromString(batch.otlp_bytes())
        for rm in request.resource_metrics:
            resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
            out.extend((resource, m) for sm in rm.scope_metrics for m in sm.metrics)
    return out


def _find(name: str, kind: str, handler: str) -> tuple[dict[str, str], Any] | None:
    for resource, metric in reversed(_recorded()):
        if metric.name == name and metric.WhichOneof("data") == kind:
            for point in getattr(metric, kind).data_points:
                if attrs(point).get("handler") == handler and not point.flags:
                    return resource, point
    return None


async def test_series_from_a_real_prometheus_arrive_with_the_right_names_labels_and_values(
    tmp_path: Path,
) -> None:
    receiver_port, prometheus_port = free_port(), free_port()
    text = f"""
receivers:
  prometheusremotewrite: {{endpoint: "127.0.0.1:{receiver_port}"}}
exporters: {{recorder: }}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [prometheusremotewrite], exporters: [recorder]}}
"""
    service = Service(lambda: load_yaml(text, "test.yaml"), registry_with_test_components())
    await service.start()
    prometheus: PrometheusServer | None = None
    try:
        config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{prometheus_port}"]}}]
remote_write:
  - url: http://127.0.0.1:{receiver_port}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 5000, min_backoff: 100ms, max_backoff: 1s}}
    metadata_config: {{send: true, send_interval: 1s}}
"""
        prometheus = await asyncio.to_thread(
            start_prometheus, tmp_path / "prometheus", config, port=prometheus_port
        )
        deadline = time.monotonic() + 90
        counter = histogram = None
        while (counter is None or histogram is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            counter = _find("prometheus_http_requests_total", "sum", "/metrics")
            histogram = _find("prometheus_http_request_duration_seconds", "histogram", "/metrics")
        assert counter is not None, f"no counter arrived: {sorted({m.name for _, m in _recorded()})[:20]}"
        assert histogram is not None, "no assembled histogram arrived"

        resource, point = counter
        assert resource == {
            "service.name": "prometheus",
            "service.instance.id": f"127.0.0.1:{prometheus_port}",
        }
        assert attrs(point) == {"code": "200", "handler": "/metrics"}
        at = point.time_unix_nano / 1e9
        (theirs,) = await asyncio.to_thread(
            prometheus.query, 'prometheus_http_requests_total{handler="/metrics",code="200"}', at
        )
        assert float(theirs["value"][1]) == point.as_double and theirs["value"][0] == pytest.approx(at)

        _, hist = histogram
        at = hist.time_unix_nano / 1e9
        buckets = await asyncio.to_thread(
            prometheus.query, 'prometheus_http_request_duration_seconds_bucket{handler="/metrics"}', at
        )
        by_le = sorted((float(b["metric"]["le"]), float(b["value"][1])) for b in buckets)
        assert list(hist.explicit_bounds) == [le for le, _ in by_le if math.isfinite(le)]
        cumulative = [sum(hist.bucket_counts[: i + 1]) for i in range(len(hist.bucket_counts))]
        assert cumulative == [count for _, count in by_le]
        (count,) = await asyncio.to_thread(
            prometheus.query, 'prometheus_http_request_duration_seconds_count{handler="/metrics"}', at
        )
        assert float(count["value"][1]) == hist.count

        names = {m.name: m for _, m in _recorded()}
        assert names["up"].WhichOneof("data") == "gauge"
        assert names["prometheus_build_info"].gauge.data_points[0].as_double == 1.0
        assert "version" in attrs(names["prometheus_build_info"].gauge.data_points[0])
        assert names["go_goroutines"].WhichOneof("data") == "gauge"
    finally:
        if prometheus is not None:
            await asyncio.to_thread(stop_prometheus, prometheus)
        await service.shutdown()


def test_mutated_bodies_are_either_translated_or_refused_as_invalid() -> None:
    """Random corruption of a body with every kind of series never raises anything but a 400's error."""
    request = write_request(
        *(
            ({"__name__": name, "job": "j", "le": le, "quantile": "0.5"}, [(float(i), T + i), (0.0, T + 99)])
            for i, (name, le) in enumerate(
                [
                    ("a_total", "1"),
                    ("lat_bucket", "0.1"),
                    ("lat_bucket", "+Inf"),
                    ("lat_sum", "x"),
                    ("rpc", "1"),
                ]
            )
        ),
        metadata=[meta("lat", MetricType.HISTOGRAM), meta("rpc", MetricType.SUMMARY)],
    )
    native = request.timeseries[0].histograms.add(count_int=3, schema=1, sum=1.0, timestamp=T)
    native.positive_spans.add(offset=0, length=2)
    native.positive_deltas.extend([1, 1])
    request.timeseries[1].exemplars.add(
        value=1.0, timestamp=T, labels=[prompb.Label(name="trace_id", value="zz")]
    )
    body = request.SerializeToString()
    rng = random.Random(5)
    outcomes = {"translated": 0, "invalid": 0}
    for _ in range(3000):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(mutated))
            if rng.random() < 0.6:
                mutated[position] = rng.randrange(256)
            else:
                del mutated[position : position + rng.randint(1, 4)]
        try:
            RemoteWriteTranslator("airis", "test").translate(bytes(mutated))
            outcomes["translated"] += 1
        except InvalidWriteRequestError:
            outcomes["invalid"] += 1
    assert outcomes["translated"] > 0 and outcomes["invalid"] > 0
