"""The `otlp` receiver: real OTLP clients in, recorded batches, status codes and counters out."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from grpc import aio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from collector.tlsconfig import TlsServerConfig
from receivers.otlp import FACTORY, OtlpReceiver
from receivers.otlp.config import (
    AdmissionConfig,
    CorsConfig,
    GrpcConfig,
    HttpConfig,
    OtlpReceiverConfig,
    ProtocolsConfig,
)

PROTOBUF = "application/x-protobuf"
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


# --- helpers ------------------------------------------------------------------------------------


@dataclass
class RecordingConsumer:
    """Stores every batch it takes; raises `error` instead while one is set."""

    batches: list[Batch] = field(default_factory=list)
    error: Exception | None = None

    async def consume(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    receiver: OtlpReceiver
    registry: MetricsRegistry
    consumers: dict[Signal, RecordingConsumer]
    grpc_port: int
    http_port: int

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.http_port}{path}"

    def counter(self, name: str, transport: str) -> float:
        try:
            return self.registry.get(name).value(receiver="otlp", transport=transport)
        except KeyError:
            return 0.0


def make_settings(registry: MetricsRegistry) -> Settings:
    return Settings(ComponentId("otlp"), Kind.RECEIVER, registry, logging.getLogger("test"))


async def start_receiver(
    signals: tuple[Signal, ...] = (Signal.TRACES, Signal.METRICS, Signal.LOGS),
    http: HttpConfig | None = None,
    grpc_config: GrpcConfig | None = None,
    admission: AdmissionConfig | None = None,
) -> Running:
    registry = MetricsRegistry()
    consumers = {signal: RecordingConsumer() for signal in signals}
    http_config = http or HttpConfig()
    http_config.endpoint = f"127.0.0.1:{free_port()}"
    grpc_config = grpc_config or GrpcConfig()
    grpc_config.endpoint = f"127.0.0.1:{free_port()}"
    config = OtlpReceiverConfig(
        ProtocolsConfig(grpc=grpc_config, http=http_config), admission=admission or AdmissionConfig()
    )
    receiver = FACTORY.create(make_settings(registry), config, consumers)
    assert isinstance(receiver, OtlpReceiver)
    await receiver.start(NoHost())
    assert config.protocols.grpc is not None
    grpc_port = int(config.protocols.grpc.endpoint.rpartition(":")[2])
    http_port = int(http_config.endpoint.rpartition(":")[2])
    return Running(receiver, registry, consumers, grpc_port, http_port)


class NoHost:
    def extension(self, id: ComponentId) -> Any:
        raise KeyError(id)

    def extensions(self) -> Mapping[ComponentId, Any]:
        return {}

    @property
    def status(self) -> Any:
        return "running"


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    run = await start_receiver()
    yield run
    await run.receiver.shutdown()


def trace_request(*names: str, attrs: Mapping[str, str] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i, name in enumerate(names):
        span = scope.spans.add(name=name, trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8)
        for key, value in (attrs or {}).items():
            span.attributes.add(key=key).value.string_value = value
    return request


async def grpc_call(target: str, method: str, body: bytes) -> tuple[bytes, Any]:
    """Call one Export method with raw bytes; return (response, None) or (b"", the AioRpcError)."""
    async with aio.insecure_channel(target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            return await call(body, timeout=10), None
        except aio.AioRpcError as err:
            return b"", err


def decode_status(response: httpx.Response) -> Status:
    assert response.headers["content-type"] == PROTOBUF
    status = Status()
    status.ParseFromString(response.content)
    return status


def span_names(batches: list[Batch]) -> list[str]:
    request: Any = None
    names = []
    for batch in batches:
        request = batch.otlp()
        names += [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return names


# --- real OpenTelemetry SDK exporters -----------------------------------------------------------


@pytest.fixture
def sdk_spans() -> Iterator[list[Any]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test-scope")
    with (
        tracer.start_as_current_span("parent", attributes={"http.route": "/checkout"}),
        tracer.start_as_current_span("child", attributes={"db.system": "clickhouse", "rows": 3}),
    ):
        pass
    yield list(memory.get_finished_spans())
    provider.shutdown()


def _assert_sdk_spans_recorded(batches: list[Batch]) -> None:
    assert len(batches) == 1
    request: Any = batches[0].otlp()
    spans = {s.name: s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert set(spans) == {"parent", "child"}
    attrs = {a.key: a.value for a in spans["child"].attributes}
    assert attrs["db.system"].string_value == "clickhouse"
    assert attrs["rows"].int_value == 3
    assert {a.key: a.value.string_value for a in spans["parent"].attributes} == {"http.route": "/checkout"}
    assert spans["child"].parent_span_id == spans["parent"].span_id
    assert request.resource_spans[0].scope_spans[0].scope.name == "test-scope"


async def test_sdk_grpc_span_exporter_delivers_spans_with_names_and_attributes(
    running: Running, sdk_spans: list[Any]
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = OTLPSpanExporter(endpoint=running.grpc_target, insecure=True)
    try:
        result = await asyncio.to_thread(exporter.export, sdk_spans)
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    _assert_sdk_spans_recorded(running.consumers[Signal.TRACES].batches)
    assert running.counter("otelcol_receiver_accepted_spans_total", "grpc") == 2
    assert running.counter("otelcol_receiver_accepted_spans_total", "http") == 0


async def test_sdk_http_span_exporter_delivers_spans_with_names_and_attributes(
    running: Running, sdk_spans: list[Any]
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = OTLPSpanExporter(endpoint=running.url("/v1/traces"))
    try:
        result = await asyncio.to_thread(exporter.export, sdk_spans)
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    _assert_sdk_spans_recorded(running.consumers[Signal.TRACES].batches)
    assert running.counter("otelcol_receiver_accepted_spans_total", "http") == 2


def _sdk_metrics() -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("test-meter")
    meter.create_counter("requests").add(5, {"route": "/a"})
    meter.create_counter("requests").add(2, {"route": "/b"})
    meter.create_histogram("latency").record(12.5, {"route": "/a"})
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def _assert_sdk_metrics_recorded(batches: list[Batch]) -> None:
    assert len(batches) == 1
    assert len(batches[0]) == 3  # two counter points and one histogram point
    request: Any = batches[0].otlp()
    metrics = {m.name: m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert set(metrics) == {"requests", "latency"}
    points = {p.attributes[0].value.string_value: p.as_int for p in metrics["requests"].sum.data_points}
    assert points == {"/a": 5, "/b": 2}
    assert metrics["latency"].histogram.data_points[0].sum == 12.5


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_sdk_metric_exporters_deliver_points_with_names_and_values(
    running: Running, transport: str
) -> None:
    from opentelemetry.sdk.metrics.export import MetricExportResult

    exporter: Any
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=running.grpc_target, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        exporter = HttpMetricExporter(endpoint=running.url("/v1/metrics"))
    try:
        result = await asyncio.to_thread(exporter.export, _sdk_metrics())
    finally:
        exporter.shutdown()
    assert result is MetricExportResult.SUCCESS
    _assert_sdk_metrics_recorded(running.consumers[Signal.METRICS].batches)
    assert running.counter("otelcol_receiver_accepted_metric_points_total", transport) == 3


def _sdk_logs() -> list[Any]:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("test-logger")
    logger.emit(body="disk almost full", severity_text="WARN", attributes={"disk": "/dev/sda1"})
    logger.emit(body="disk full", severity_text="ERROR", attributes={"disk": "/dev/sda1"})
    logs = list(memory.get_finished_logs())
    provider.shutdown()
    return logs


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_sdk_log_exporters_deliver_records_with_bodies_and_attributes(
    running: Running, transport: str
) -> None:
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    exporter: Any
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=running.grpc_target, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

        exporter = HttpLogExporter(endpoint=running.url("/v1/logs"))
    try:
        result = await asyncio.to_thread(exporter.export, _sdk_logs())
    finally:
        exporter.shutdown()
    assert result is LogRecordExportResult.SUCCESS
    batches = running.consumers[Signal.LOGS].batches
    assert len(batches) == 1
    request: Any = batches[0].otlp()
    records = [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert [(r.body.string_value, r.severity_text) for r in records] == [
        ("disk almost full", "WARN"),
        ("disk full", "ERROR"),
    ]
    assert {a.key: a.value.string_value for a in records[0].attributes} == {"disk": "/dev/sda1"}
    assert running.counter("otelcol_receiver_accepted_log_records_total", transport) == 2


# --- pass-through ---------------------------------------------------------------------------------


async def test_grpc_batch_holds_the_exact_bytes_received(running: Running) -> None:
    body = trace_request("a", "b", attrs={"k": "v"}).SerializeToString()
    response, error = await grpc_call(running.grpc_target, TRACE_EXPORT, body)
    assert error is None
    assert ExportTraceServiceResponse.FromString(response) == ExportTraceServiceResponse()
    (batch,) = running.consumers[Signal.TRACES].batches
    assert batch.otlp_bytes() == body
    assert batch.signal is Signal.TRACES
    assert len(batch) == 2


async def test_http_batch_holds_the_exact_bytes_received(running: Running) -> None:
    body = trace_request("a").SerializeToString()
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    (batch,) = running.consumers[Signal.TRACES].batches
    assert batch.otlp_bytes() == body


async def test_an_empty_request_succeeds_without_reaching_the_consumer(running: Running) -> None:
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, b"")
    assert error is None
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=b"", headers={"content-type": PROTOBUF}
        )
    assert response.status_code == 200
    assert running.consumers[Signal.TRACES].batches == []


async def test_http_content_type_parameters_are_accepted(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"),
            content=trace_request("x").SerializeToString(),
            headers={"content-type": "Application/X-Protobuf; charset=binary"},
        )
    assert response.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["x"]


async def test_http_url_paths_are_configurable() -> None:
    run = await start_receiver(http=HttpConfig(traces_url_path="custom/traces"))
    try:
        async with httpx.AsyncClient() as client:
            body = trace_request("routed").SerializeToString()
            moved = await client.post(
                run.url("/custom/traces"), content=body, headers={"content-type": PROTOBUF}
            )
            old = await client.post(run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF})
        assert moved.status_code == 200
        assert old.status_code == 404
        assert span_names(run.consumers[Signal.TRACES].batches) == ["routed"]
    finally:
        await run.receiver.shutdown()


# --- HTTP request errors -------------------------------------------------------------------------


async def test_http_other_content_types_are_refused_with_415(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/logs"), content=b"x", headers={"content-type": "text/plain"}
        )
    assert response.status_code == 415
    assert decode_status(response).message == (
        "unsupported media type 'text/plain', supported: [application/json, application/x-protobuf]"
    )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_http_methods_other_than_post_are_refused_with_405(running: Running, method: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, running.url("/v1/traces"))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert decode_status(response).message == f"{method} method not allowed, supported: [POST]"


async def test_http_body_over_the_limit_is_refused_with_413() -> None:
    run = await start_receiver(http=HttpConfig(max_request_body_size=1000))
    try:
        body = trace_request(*[f"span-{i}" for i in range(100)]).SerializeToString()
        assert len(body) > 1000

        async def chunked() -> AsyncIterator[bytes]:
            yield body  # streamed: no Content-Length, so the limit is enforced while reading

        async with httpx.AsyncClient() as client:
            declared = await client.post(
                run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
            )
            streamed = await client.post(
                run.url("/v1/traces"), content=chunked(), headers={"content-type": PROTOBUF}
            )
            fits = await client.post(
                run.url("/v1/traces"),
                content=trace_request("small").SerializeToString(),
                headers={"content-type": PROTOBUF},
            )
        for response in (declared, streamed):
            assert response.status_code == 413
            message = decode_status(response).message
            assert "request body too large: the limit is 1000 bytes" in message
            assert "receivers::otlp::protocols::http::max_request_body_size" in message
        assert fits.status_code == 200
        assert span_names(run.consumers[Signal.TRACES].batches) == ["small"]
    finally:
        await run.receiver.shutdown()


async def test_http_undecodable_protobuf_is_refused_with_400(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=b"\x0a\xff\xff\xff", headers={"content-type": PROTOBUF}
        )
        after = await client.post(
            running.url("/v1/traces"),
            content=trace_request("good").SerializeToString(),
            headers={"content-type": PROTOBUF},
        )
    assert response.status_code == 400
    status = decode_status(response)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "invalid OTLP traces request" in status.message
    assert after.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["good"]


# --- gRPC request errors -------------------------------------------------------------------------


async def test_grpc_garbage_is_invalid_argument_and_the_server_keeps_serving(running: Running) -> None:
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, b"\x0a\xff\xff\xff")
    assert error is not None
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid OTLP traces request" in error.details()
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, trace_request("good").SerializeToString())
    assert error is None
    assert span_names(running.consumers[Signal.TRACES].batches) == ["good"]
    assert running.counter("otelcol_receiver_refused_spans_total", "grpc") == 0


async def test_grpc_messages_over_max_recv_msg_size_are_refused() -> None:
    registry = MetricsRegistry()
    consumer = RecordingConsumer()
    endpoint = f"127.0.0.1:{free_port()}"
    config = OtlpReceiverConfig(ProtocolsConfig(grpc=GrpcConfig(endpoint=endpoint, max_recv_msg_size_mib=1)))
    receiver = FACTORY.create(make_settings(registry), config, {Signal.TRACES: consumer})
    await receiver.start(NoHost())
    try:
        big = trace_request("x" * (1024 * 1024 + 10)).SerializeToString()
        _, error = await grpc_call(endpoint, TRACE_EXPORT, big)
        assert error is not None
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _, error = await grpc_call(endpoint, TRACE_EXPORT, trace_request("ok").SerializeToString())
        assert error is None
        assert span_names(consumer.batches) == ["ok"]
    finally:
        await receiver.shutdown()


# --- unconfigured signals ------------------------------------------------------------------------


async def test_a_signal_without_a_pipeline_is_unimplemented_over_grpc_and_404_over_http() -> None:
    run = await start_receiver(signals=(Signal.TRACES,))
    try:
        body = ExportMetricsServiceRequest().SerializeToString()
        _, error = await grpc_call(run.grpc_target, METRICS_EXPORT, body)
        assert error is not None
        assert error.code() is grpc.StatusCode.UNIMPLEMENTED
        async with httpx.AsyncClient() as client:
            response = await client.post(
                run.url("/v1/metrics"), content=body, headers={"content-type": PROTOBUF}
            )
        assert response.status_code == 404
        status = decode_status(response)
        assert status.code == grpc.StatusCode.UNIMPLEMENTED.value[0]
        assert "'/v1/metrics'" in status.message
        _, error = await grpc_call(run.grpc_target, TRACE_EXPORT, trace_request("t").SerializeToString())
        assert error is None
    finally:
        await run.receiver.shutdown()


# --- errors of the next consumer travel back -----------------------------------------------------


async def test_retryable_error_is_grpc_unavailable_with_retry_info(running: Running) -> None:
    running.consumers[Signal.TRACES].error = RetryableError("exporter queue is full", retry_after=7)
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, trace_request("a", "b").SerializeToString())
    assert error is not None
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert error.details() == "exporter queue is full"
    trailers = dict(error.trailing_metadata() or ())
    assert RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds == 7
    assert running.counter("otelcol_receiver_refused_spans_total", "grpc") == 2
    assert running.counter("otelcol_receiver_accepted_spans_total", "grpc") == 0


async def test_retryable_error_is_http_503_with_retry_after(running: Running) -> None:
    consumer = running.consumers[Signal.TRACES]
    body = trace_request("a").SerializeToString()
    async with httpx.AsyncClient() as client:
        consumer.error = RetryableError("backend down", retry_after=2.5)
        given = await client.post(running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF})
        consumer.error = RetryableError("backend down")
        default = await client.post(
            running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
        )
    assert given.status_code == default.status_code == 503
    assert given.headers["retry-after"] == "3"
    assert default.headers["retry-after"] == "5"
    status = decode_status(given)
    assert (status.code, status.message) == (grpc.StatusCode.UNAVAILABLE.value[0], "backend down")
    info = RetryInfo()
    assert status.details[0].Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (2, 500_000_000)
    assert running.counter("otelcol_receiver_refused_spans_total", "http") == 2


async def test_permanent_error_is_grpc_internal_and_http_500(running: Running) -> None:
    running.consumers[Signal.LOGS].error = PermanentError("log record too large for the backend")
    body = ExportLogsServiceRequest()
    body.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "hello"
    _, error = await grpc_call(
        running.grpc_target,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        body.SerializeToString(),
    )
    assert error is not None
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "log record too large for the backend"
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/logs"), content=body.SerializeToString(), headers={"content-type": PROTOBUF}
        )
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    status = decode_status(response)
    assert (status.code, status.message) == (
        grpc.StatusCode.INTERNAL.value[0],
        "log record too large for the backend",
    )
    assert running.counter("otelcol_receiver_refused_log_records_total", "grpc") == 1
    assert running.counter("otelcol_receiver_refused_log_records_total", "http") == 1


async def test_an_unexpected_consumer_exception_is_answered_as_retryable(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.consumers[Signal.TRACES].error = ZeroDivisionError("boom")
    body = trace_request("a").SerializeToString()
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, body)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
        )
    assert error is not None
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert error.details() == "ZeroDivisionError: boom"
    assert response.status_code == 503
    assert decode_status(response).message == "ZeroDivisionError: boom"
    assert "the next consumer failed on traces" in caplog.text


async def test_sdk_grpc_exporter_sees_a_permanent_error_as_a_failure(
    running: Running, sdk_spans: list[Any]
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    running.consumers[Signal.TRACES].error = PermanentError("rejected")
    exporter = OTLPSpanExporter(endpoint=running.grpc_target, insecure=True, timeout=5)
    try:
        result = await asyncio.to_thread(exporter.export, sdk_spans)
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.FAILURE
    assert running.counter("otelcol_receiver_refused_spans_total", "grpc") == 2


# --- lifecycle -----------------------------------------------------------------------------------


async def test_shutdown_is_safe_without_start_and_twice() -> None:
    receiver = FACTORY.create(
        make_settings(MetricsRegistry()),
        OtlpReceiverConfig(ProtocolsConfig(grpc=GrpcConfig(), http=HttpConfig())),
        {Signal.TRACES: RecordingConsumer()},
    )
    await receiver.shutdown()
    await receiver.shutdown()


async def test_shutdown_twice_after_start_frees_both_ports(running: Running) -> None:
    await running.receiver.shutdown()
    await running.receiver.shutdown()
    for port in (running.grpc_port, running.http_port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_a_taken_port_is_an_oserror_naming_the_endpoint(protocol: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"127.0.0.1:{taken.getsockname()[1]}"
        other = f"127.0.0.1:{free_port()}"
        if protocol == "grpc":
            protocols = ProtocolsConfig(grpc=GrpcConfig(endpoint=endpoint), http=HttpConfig(endpoint=other))
        else:
            protocols = ProtocolsConfig(grpc=GrpcConfig(endpoint=other), http=HttpConfig(endpoint=endpoint))
        receiver = FACTORY.create(
            make_settings(MetricsRegistry()),
            OtlpReceiverConfig(protocols),
            {Signal.TRACES: RecordingConsumer()},
        )
        with pytest.raises(OSError, match=f"cannot listen on {endpoint}") as raised:
            await receiver.start(NoHost())
        assert f"receivers::otlp::protocols::{protocol}" in str(raised.value)
        assert "in use" in str(raised.value)
        # The server that did start is stopped again: its port is free.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", int(other.rpartition(":")[2])))
        await receiver.shutdown()


async def test_shutdown_lets_in_flight_requests_finish() -> None:
    run = await start_receiver(signals=(Signal.TRACES,))
    entered, release = asyncio.Event(), asyncio.Event()
    consumer = run.consumers[Signal.TRACES]

    async def slow_consume(batch: Batch) -> None:
        entered.set()
        await release.wait()
        consumer.batches.append(batch)

    consumer.consume = slow_consume  # type: ignore[method-assign]
    body = trace_request("slow").SerializeToString()
    grpc_request = asyncio.create_task(grpc_call(run.grpc_target, TRACE_EXPORT, body))
    await asyncio.wait_for(entered.wait(), 10)
    entered.clear()
    async with httpx.AsyncClient() as client:
        http_request = asyncio.create_task(
            client.post(run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF})
        )
        await asyncio.wait_for(entered.wait(), 10)
        shutdown = asyncio.create_task(run.receiver.shutdown())
        await asyncio.sleep(0.2)
        assert not shutdown.done()
        release.set()
        (_, grpc_error), http_response = await asyncio.wait_for(
            asyncio.gather(grpc_request, http_request), 10
        )
    await asyncio.wait_for(shutdown, 10)
    assert grpc_error is None
    assert http_response.status_code == 200
    assert span_names(consumer.batches) == ["slow", "slow"]


def test_importing_the_factory_imports_neither_grpc_nor_starlette() -> None:
    code = (
        "import sys, receivers.otlp.factory; "
        "print(sorted(m for m in ('grpc', 'starlette', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- config --------------------------------------------------------------------------------------


def test_factory_declares_type_and_signals() -> None:
    assert FACTORY.type == "otlp"
    assert set(FACTORY.signals) == {Signal.TRACES, Signal.METRICS, Signal.LOGS}
    assert FACTORY.default_config() == OtlpReceiverConfig()


def test_config_without_protocols_is_refused_as_in_the_collector() -> None:
    config, problems = decode(OtlpReceiverConfig, {}, "receivers::otlp")
    assert config is None
    assert [str(p) for p in problems] == [
        "receivers::otlp: must specify at least one protocol when using the OTLP receiver"
    ]
    _, problems = decode(OtlpReceiverConfig, {"protocols": {}}, "receivers::otlp")
    assert len(problems) == 1


def test_a_protocol_key_with_an_empty_body_enables_it_with_defaults() -> None:
    config, problems = decode(OtlpReceiverConfig, {"protocols": {"grpc": None}}, "receivers::otlp")
    assert problems == []
    assert config is not None
    assert config.protocols.grpc == GrpcConfig(endpoint="localhost:4317", max_recv_msg_size_mib=4)
    assert config.protocols.http is None


def test_a_protocol_key_with_an_empty_map_enables_it_with_defaults() -> None:
    config, problems = decode(OtlpReceiverConfig, {"protocols": {"http": {}}}, "receivers::otlp")
    assert problems == []
    assert config is not None
    assert config.protocols.grpc is None
    assert config.protocols.http == HttpConfig()
    assert config.protocols.http.endpoint == "localhost:4318"
    assert config.protocols.http.max_request_body_size == 20 * 1024 * 1024
    assert config.protocols.http.url_paths() == {
        Signal.TRACES: "/v1/traces",
        Signal.METRICS: "/v1/metrics",
        Signal.LOGS: "/v1/logs",
    }


def test_url_paths_get_a_leading_slash() -> None:
    config, problems = decode(OtlpReceiverConfig, {"protocols": {"http": {"logs_url_path": "v2/logs"}}})
    assert problems == []
    assert config is not None and config.protocols.http is not None
    assert config.protocols.http.logs_url_path == "/v2/logs"


def test_every_bad_protocol_value_is_reported_with_its_key_path() -> None:
    raw = {
        "protocols": {
            "grpc": {"endpoint": "no-port", "max_recv_msg_size_mib": 0},
            "http": {
                "max_request_body_size": -1,
                "traces_url_path": "/v1/x?y",
                "metrics_url_path": "/v1/x?y",
            },
        }
    }
    config, problems = decode(OtlpReceiverConfig, raw, "receivers::otlp")
    assert config is None
    assert sorted(p.path for p in problems) == [
        "receivers::otlp::protocols::grpc::endpoint",
        "receivers::otlp::protocols::grpc::max_recv_msg_size_mib",
        "receivers::otlp::protocols::http",
        "receivers::otlp::protocols::http::max_request_body_size",
        "receivers::otlp::protocols::http::metrics_url_path",
        "receivers::otlp::protocols::http::traces_url_path",
    ]
    assert any("'no-port' is not a host:port address" in p.message for p in problems)


# --- OTLP/JSON -----------------------------------------------------------------------------------

JSON_TRACE = b"""{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
    "scopeSpans": [{
      "scope": {"name": "browser-sdk"},
      "spans": [
        {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
         "name": "upper", "kind": 2, "startTimeUnixNano": "1544712660000000000",
         "endTimeUnixNano": "1544712661000000000",
         "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}]},
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
         "parentSpanId": "eee19b7ec3c1b174", "name": "lower", "kind": 3}
      ]
    }]
  }]
}"""


def json_status(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_http_json_with_upper_and_lower_case_hex_ids_is_recorded_field_by_field(
    running: Running,
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=JSON_TRACE, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    (batch,) = running.consumers[Signal.TRACES].batches
    assert batch.signal is Signal.TRACES and len(batch) == 2
    request: Any = batch.otlp()
    resource_spans = request.resource_spans[0]
    assert resource_spans.resource.attributes[0].value.string_value == "checkout"
    assert resource_spans.scope_spans[0].scope.name == "browser-sdk"
    upper, lower = resource_spans.scope_spans[0].spans
    trace_id = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert (upper.name, upper.trace_id, upper.span_id) == (
        "upper",
        trace_id,
        bytes.fromhex("eee19b7ec3c1b174"),
    )
    assert (upper.kind, upper.start_time_unix_nano, upper.end_time_unix_nano) == (
        2,
        1544712660000000000,
        1544712661000000000,
    )
    assert upper.attributes[0].value.int_value == 200
    assert (lower.name, lower.trace_id, lower.parent_span_id) == ("lower", trace_id, upper.span_id)
    assert lower.span_id == bytes.fromhex("eee19b7ec3c1b175")
    assert running.counter("otelcol_receiver_accepted_spans_total", "http") == 2


async def test_http_json_that_is_not_otlp_is_400_with_a_json_status(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        bad_id = await client.post(
            running.url("/v1/traces"),
            content=b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            headers={"content-type": "application/json"},
        )
        not_json = await client.post(
            running.url("/v1/traces"), content=b"{oops", headers={"content-type": "application/json"}
        )
        after = await client.post(
            running.url("/v1/traces"), content=JSON_TRACE, headers={"content-type": "application/json"}
        )
    for response in (bad_id, not_json):
        assert response.status_code == 400
        status = json_status(response)
        assert status["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert status["message"]
    assert "traceId" in json_status(bad_id)["message"]
    assert after.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["upper", "lower"]


async def test_http_json_retryable_error_is_503_with_a_json_status_and_retry_delay(running: Running) -> None:
    running.consumers[Signal.TRACES].error = RetryableError("queue full", retry_after=2.5)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=JSON_TRACE, headers={"content-type": "application/json"}
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert json_status(response) == {
        "code": grpc.StatusCode.UNAVAILABLE.value[0],
        "message": "queue full",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.500s"}],
    }


async def test_http_json_to_an_unserved_signal_is_404_as_json() -> None:
    run = await start_receiver(signals=(Signal.TRACES,))
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                run.url("/v1/logs"), content=b"{}", headers={"content-type": "application/json"}
            )
        assert response.status_code == 404
        assert json_status(response)["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    finally:
        await run.receiver.shutdown()


# --- request compression -------------------------------------------------------------------------


def _compress(encoding: str, data: bytes) -> bytes:
    import gzip
    import zlib

    import cramjam

    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if encoding in ("zlib", "deflate"):
        return zlib.compress(data)
    if encoding == "zstd":
        return bytes(cramjam.zstd.compress(data))
    if encoding == "snappy":
        return bytes(cramjam.snappy.compress_raw(data))  # the block format
    if encoding in ("snappy-framed", "x-snappy-framed"):
        return bytes(cramjam.snappy.compress(data))  # the framing format
    if encoding == "lz4":
        return bytes(cramjam.lz4.compress(data))
    raise AssertionError(encoding)


@pytest.mark.parametrize(
    ("encoding", "compression"),
    [
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("zlib", "zlib"),
        ("deflate", "deflate"),
        ("zstd", "zstd"),
        ("snappy", "snappy"),
        ("snappy", "snappy-framed"),  # the collector's former framed "snappy" is recognized
        ("x-snappy-framed", "x-snappy-framed"),
        ("lz4", "lz4"),
        ("identity", "identity"),
    ],
)
async def test_http_each_content_encoding_is_decompressed(
    running: Running, encoding: str, compression: str
) -> None:
    body = trace_request("compressed", attrs={"k": "v" * 500}).SerializeToString()
    wire = body if compression == "identity" else _compress(compression, body)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"),
            content=wire,
            headers={"content-type": PROTOBUF, "content-encoding": encoding},
        )
    assert response.status_code == 200, response.content
    (batch,) = running.consumers[Signal.TRACES].batches
    assert batch.otlp_bytes() == body


async def test_http_gzip_json_is_decompressed_then_decoded(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"),
            content=_compress("gzip", JSON_TRACE),
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert response.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["upper", "lower"]


async def test_sdk_http_span_exporter_with_gzip_compression_delivers_spans(
    running: Running, sdk_spans: list[Any]
) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter: Any = OTLPSpanExporter(endpoint=running.url("/v1/traces"), compression=Compression.Gzip)
    try:
        result = await asyncio.to_thread(exporter.export, sdk_spans)
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    _assert_sdk_spans_recorded(running.consumers[Signal.TRACES].batches)


async def test_sdk_grpc_span_exporter_with_gzip_compression_delivers_spans(
    running: Running, sdk_spans: list[Any]
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = OTLPSpanExporter(
        endpoint=running.grpc_target, insecure=True, compression=grpc.Compression.Gzip
    )
    try:
        result = await asyncio.to_thread(exporter.export, sdk_spans)
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    _assert_sdk_spans_recorded(running.consumers[Signal.TRACES].batches)


async def test_http_unknown_content_encoding_is_400_naming_the_supported_ones(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"),
            content=b"x",
            headers={"content-type": PROTOBUF, "content-encoding": "br"},
        )
    assert response.status_code == 400
    assert decode_status(response).message == (
        "unsupported Content-Encoding 'br', supported: "
        "[deflate, gzip, identity, lz4, snappy, x-gzip, x-snappy-framed, zlib, zstd]"
    )


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "snappy", "lz4", "deflate"])
async def test_http_truncated_or_corrupt_compressed_body_is_400_and_the_next_request_is_served(
    running: Running, encoding: str
) -> None:
    body = trace_request(*[f"s{i}" for i in range(50)]).SerializeToString()
    compressed = _compress(encoding, body)
    async with httpx.AsyncClient() as client:
        truncated = await client.post(
            running.url("/v1/traces"),
            content=compressed[: len(compressed) // 2],
            headers={"content-type": PROTOBUF, "content-encoding": encoding},
        )
        garbage = await client.post(
            running.url("/v1/traces"),
            content=b"\x00not compressed at all\xff" * 3,
            headers={"content-type": PROTOBUF, "content-encoding": encoding},
        )
        after = await client.post(
            running.url("/v1/traces"),
            content=_compress(encoding, trace_request("next").SerializeToString()),
            headers={"content-type": PROTOBUF, "content-encoding": encoding},
        )
    for response in (truncated, garbage):
        assert response.status_code == 400
        status = decode_status(response)
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert status.message.startswith(f"invalid {encoding} body: ")
    assert after.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["next"]


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """1 GiB of zeros as one gzip stream (about 1 MB) and one zstd frame (about 32 KB)."""
    import struct
    import zlib

    import cramjam

    chunk, count = bytes(16 * 1024 * 1024), 64
    # A fully flushed deflate block of the chunk can be repeated; then the final block and trailer.
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    trailer = struct.pack("<II", crc, (count * len(chunk)) & 0xFFFFFFFF)
    gzip_bomb = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + block * count + b"\x03\x00" + trailer
    zstd_stream = cramjam.zstd.Compressor()
    for _ in range(count):
        zstd_stream.compress(chunk)
    return {"gzip": gzip_bomb, "zstd": bytes(zstd_stream.finish())}


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
async def test_http_compression_bomb_is_413_quickly_without_memory_growing(
    running: Running, bombs: dict[str, bytes], encoding: str
) -> None:
    bomb = bombs[encoding]
    assert len(bomb) < 2 * 1024 * 1024
    before = _rss_bytes()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            running.url("/v1/traces"),
            content=bomb,
            headers={"content-type": PROTOBUF, "content-encoding": encoding},
        )
    elapsed = loop.time() - started
    assert response.status_code == 413
    status = decode_status(response)
    assert "the limit is 20971520 bytes once decompressed" in status.message
    assert "receivers::otlp::protocols::http::max_request_body_size" in status.message
    assert elapsed < 5
    assert _rss_bytes() - before < 100 * 1024 * 1024
    assert running.consumers[Signal.TRACES].batches == []


async def test_http_50_mib_body_is_413(running: Running) -> None:
    body = bytes(50 * 1024 * 1024)

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1024 * 1024):
            yield body[start : start + 1024 * 1024]

    async with httpx.AsyncClient(timeout=30) as client:
        declared = await client.post(
            running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
        )
        chunked = await client.post(
            running.url("/v1/traces"), content=streamed(), headers={"content-type": PROTOBUF}
        )
        after = await client.post(
            running.url("/v1/traces"),
            content=trace_request("fine").SerializeToString(),
            headers={"content-type": PROTOBUF},
        )
    assert declared.status_code == chunked.status_code == 413
    assert "the limit is 20971520 bytes" in decode_status(declared).message
    assert after.status_code == 200
    assert span_names(running.consumers[Signal.TRACES].batches) == ["fine"]


# --- CORS ----------------------------------------------------------------------------------------


def _preflight_headers(origin: str, request_headers: str = "content-type") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": request_headers,
    }


async def test_cors_preflight_and_request_from_an_allowed_origin_get_cors_headers() -> None:
    cors = CorsConfig(
        allowed_origins=["https://*.example.com", "http://exact.test"],
        allowed_headers=["X-Tenant"],
        max_age=600,
    )
    run = await start_receiver(http=HttpConfig(cors=cors))
    try:
        async with httpx.AsyncClient() as client:
            wildcard = await client.options(
                run.url("/v1/traces"),
                headers=_preflight_headers("https://shop.example.com", "content-type,x-tenant"),
            )
            exact = await client.options(
                run.url("/v1/traces"), headers=_preflight_headers("http://exact.test")
            )
            post = await client.post(
                run.url("/v1/traces"),
                content=trace_request("from-browser").SerializeToString(),
                headers={"content-type": PROTOBUF, "origin": "https://shop.example.com", "x-tenant": "a"},
            )
        assert wildcard.status_code == exact.status_code == 200
        assert wildcard.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert exact.headers["access-control-allow-origin"] == "http://exact.test"
        assert wildcard.headers["access-control-allow-credentials"] == "true"
        assert wildcard.headers["access-control-max-age"] == "600"
        assert "POST" in wildcard.headers["access-control-allow-methods"]
        allowed = {h.strip().lower() for h in wildcard.headers["access-control-allow-headers"].split(",")}
        assert {"x-tenant", "content-type"} <= allowed
        assert post.status_code == 200
        assert post.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert post.headers["access-control-allow-credentials"] == "true"
        assert span_names(run.consumers[Signal.TRACES].batches) == ["from-browser"]
    finally:
        await run.receiver.shutdown()


async def test_cors_refuses_other_origins_and_unlisted_headers() -> None:
    cors = CorsConfig(allowed_origins=["https://*.example.com"])
    run = await start_receiver(http=HttpConfig(cors=cors))
    try:
        async with httpx.AsyncClient() as client:
            other = await client.options(
                run.url("/v1/traces"), headers=_preflight_headers("https://evil.test")
            )
            # The wildcard does not let the scheme or the parent domain through.
            plain = await client.options(
                run.url("/v1/traces"), headers=_preflight_headers("http://shop.example.com")
            )
            header = await client.options(
                run.url("/v1/traces"),
                headers=_preflight_headers("https://shop.example.com", "x-unlisted"),
            )
            post = await client.post(
                run.url("/v1/traces"),
                content=trace_request("x").SerializeToString(),
                headers={"content-type": PROTOBUF, "origin": "https://evil.test"},
            )
        assert (other.status_code, other.text) == (400, "Disallowed CORS origin")
        assert (plain.status_code, plain.text) == (400, "Disallowed CORS origin")
        assert (header.status_code, header.text) == (400, "Disallowed CORS headers")
        assert "access-control-allow-origin" not in other.headers
        assert "access-control-allow-origin" not in post.headers
    finally:
        await run.receiver.shutdown()


async def test_without_cors_a_preflight_is_not_answered(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.options(
            running.url("/v1/traces"), headers=_preflight_headers("https://app.example.com")
        )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


# --- TLS -----------------------------------------------------------------------------------------


@dataclass
class Certs:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _openssl(*args: str, cwd: Any) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        cwd=folder,
    )
    for name, usage, san in (
        ("server", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
        ("client", "clientAuth", ""),
    ):
        (folder / f"{name}.ext").write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{san}")
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=folder,
        )  # fmt: skip
    return Certs(
        *(str(folder / f) for f in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key"))
    )


def _tls(certs: Certs, mutual: bool) -> TlsServerConfig:
    return TlsServerConfig(
        cert_file=certs.server_cert,
        key_file=certs.server_key,
        client_ca_file=certs.ca if mutual else "",
    )


async def _start_tls_receiver(certs: Certs, mutual: bool) -> Running:
    return await start_receiver(
        http=HttpConfig(tls=_tls(certs, mutual)), grpc_config=GrpcConfig(tls=_tls(certs, mutual))
    )


def _grpc_credentials(certs: Certs, with_client_cert: bool) -> grpc.ChannelCredentials:
    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    if not with_client_cert:
        return grpc.ssl_channel_credentials(root_certificates=read(certs.ca))
    return grpc.ssl_channel_credentials(
        root_certificates=read(certs.ca),
        private_key=read(certs.client_key),
        certificate_chain=read(certs.client_cert),
    )


async def _grpc_tls_call(target: str, credentials: grpc.ChannelCredentials, body: bytes) -> Any:
    async with aio.secure_channel(target, credentials) as channel:
        call = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            await call(body, timeout=10)
        except aio.AioRpcError as err:
            return err
        return None


@pytest.fixture
def requests_without_ca_bundle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the SDK's `certificate_file`."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.mark.usefixtures("requests_without_ca_bundle_env")
async def test_tls_serves_sdk_exporters_over_both_protocols(certs: Certs, sdk_spans: list[Any]) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    run = await _start_tls_receiver(certs, mutual=False)
    try:
        exporters: list[Any] = [
            GrpcExporter(endpoint=run.grpc_target, credentials=_grpc_credentials(certs, False), timeout=10),
            HttpExporter(endpoint=run.url("/v1/traces", "https"), certificate_file=certs.ca, timeout=10),
        ]
        for exporter in exporters:
            try:
                assert await asyncio.to_thread(exporter.export, sdk_spans) is SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
        batches = run.consumers[Signal.TRACES].batches
        assert [sorted(span_names([b])) for b in batches] == [["child", "parent"], ["child", "parent"]]
        async with httpx.AsyncClient(verify=False) as client:
            with pytest.raises(httpx.TransportError):
                await client.post(
                    run.url("/v1/traces"),  # plain HTTP to the TLS port
                    content=trace_request("x").SerializeToString(),
                    headers={"content-type": PROTOBUF},
                )
        _, error = await grpc_call(run.grpc_target, TRACE_EXPORT, trace_request("x").SerializeToString())
        assert error is not None and error.code() is grpc.StatusCode.UNAVAILABLE
        assert len(run.consumers[Signal.TRACES].batches) == 2
    finally:
        await run.receiver.shutdown()


@pytest.mark.usefixtures("requests_without_ca_bundle_env")
async def test_mutual_tls_accepts_clients_with_a_certificate_and_refuses_the_others(
    certs: Certs, sdk_spans: list[Any]
) -> None:
    import ssl

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    run = await _start_tls_receiver(certs, mutual=True)
    body = trace_request("no-cert").SerializeToString()
    try:
        exporters: list[Any] = [
            GrpcExporter(endpoint=run.grpc_target, credentials=_grpc_credentials(certs, True), timeout=10),
            HttpExporter(
                endpoint=run.url("/v1/traces", "https"),
                certificate_file=certs.ca,
                client_key_file=certs.client_key,
                client_certificate_file=certs.client_cert,
                timeout=10,
            ),
        ]
        for exporter in exporters:
            try:
                assert await asyncio.to_thread(exporter.export, sdk_spans) is SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
        assert len(run.consumers[Signal.TRACES].batches) == 2

        error = await _grpc_tls_call(run.grpc_target, _grpc_credentials(certs, False), body)
        assert error is not None and error.code() is grpc.StatusCode.UNAVAILABLE
        without_cert = ssl.create_default_context(cafile=certs.ca)
        async with httpx.AsyncClient(verify=without_cert) as client:
            with pytest.raises(httpx.TransportError):
                await client.post(
                    run.url("/v1/traces", "https"), content=body, headers={"content-type": PROTOBUF}
                )
        with_cert = ssl.create_default_context(cafile=certs.ca)
        with_cert.load_cert_chain(certs.client_cert, certs.client_key)
        async with httpx.AsyncClient(verify=with_cert) as client:
            response = await client.post(
                run.url("/v1/traces", "https"),
                content=trace_request("with-cert").SerializeToString(),
                headers={"content-type": PROTOBUF},
            )
        assert response.status_code == 200
        assert span_names(run.consumers[Signal.TRACES].batches[2:]) == ["with-cert"]
    finally:
        await run.receiver.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_tls_with_a_missing_certificate_fails_start_naming_the_key(
    certs: Certs, protocol: str, tmp_path: Any
) -> None:
    from collector.errors import ConfigError

    tls = TlsServerConfig(cert_file=str(tmp_path / "missing.crt"), key_file=certs.server_key)
    endpoint = f"127.0.0.1:{free_port()}"
    protocols = (
        ProtocolsConfig(grpc=GrpcConfig(endpoint=endpoint, tls=tls))
        if protocol == "grpc"
        else ProtocolsConfig(http=HttpConfig(endpoint=endpoint, tls=tls))
    )
    receiver = FACTORY.create(
        make_settings(MetricsRegistry()), OtlpReceiverConfig(protocols), {Signal.TRACES: RecordingConsumer()}
    )
    with pytest.raises(ConfigError) as raised:
        await receiver.start(NoHost())
    (problem,) = raised.value.problems
    assert problem.path == f"receivers::otlp::protocols::{protocol}::tls::cert_file"
    assert "missing.crt" in problem.message
    await receiver.shutdown()


# --- include_metadata ----------------------------------------------------------------------------


@pytest.mark.parametrize("include", [True, False])
async def test_include_metadata_hands_headers_and_grpc_metadata_on(include: bool) -> None:
    run = await start_receiver(
        http=HttpConfig(include_metadata=include), grpc_config=GrpcConfig(include_metadata=include)
    )
    try:
        body = trace_request("m").SerializeToString()
        async with httpx.AsyncClient() as client:
            response = await client.post(
                run.url("/v1/traces"),
                content=body,
                headers=[("content-type", PROTOBUF), ("X-Tenant", "acme"), ("x-tag", "a"), ("x-tag", "b")],
            )
        assert response.status_code == 200
        async with aio.insecure_channel(run.grpc_target) as channel:
            call = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            await call(body, timeout=10, metadata=(("x-tenant", "acme"), ("x-tag", "a"), ("x-tag", "b")))
        http_batch, grpc_batch = run.consumers[Signal.TRACES].batches
        for batch in (http_batch, grpc_batch):
            if include:
                assert batch.metadata["x-tenant"] == ("acme",)
                assert batch.metadata["x-tag"] == ("a", "b")
            else:
                assert batch.metadata == {}
        if include:
            assert http_batch.metadata["content-type"] == (PROTOBUF,)
    finally:
        await run.receiver.shutdown()


# --- admission -----------------------------------------------------------------------------------


def _blocking_consumer(consumer: RecordingConsumer) -> asyncio.Event:
    release = asyncio.Event()

    async def slow_consume(batch: Batch) -> None:
        await release.wait()
        consumer.batches.append(batch)

    consumer.consume = slow_consume  # type: ignore[method-assign]
    return release


async def _until(condition: Any) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_admission_refuses_what_neither_fits_nor_may_wait_and_loses_nothing_accepted(
    transport: str,
) -> None:
    # 1 MiB in flight and 1 MiB waiting: of twelve 300 KB requests, three run, three wait, six are refused.
    run = await start_receiver(admission=AdmissionConfig(request_limit_mib=1, waiting_limit_mib=1))
    consumer = run.consumers[Signal.TRACES]
    release = _blocking_consumer(consumer)
    queue = run.receiver.admission
    bodies = [trace_request(f"r{i:02d}", attrs={"pad": "x" * 300_000}).SerializeToString() for i in range(12)]
    size = len(bodies[0])

    async def send_http(client: httpx.AsyncClient, body: bytes) -> tuple[bool, str | None]:
        response = await client.post(run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF})
        if response.status_code == 200:
            return True, None
        assert response.status_code == 503
        status = decode_status(response)
        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert "too much pending data" in status.message
        return False, response.headers["retry-after"]

    async def send_grpc(body: bytes) -> tuple[bool, str | None]:
        _, error = await grpc_call(run.grpc_target, TRACE_EXPORT, body)
        if error is None:
            return True, None
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        assert "too much pending data" in error.details()
        trailers = dict(error.trailing_metadata() or ())
        return False, str(RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds)

    try:
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = [
                asyncio.create_task(send_http(client, body) if transport == "http" else send_grpc(body))
                for body in bodies
            ]
            # Every request is either answered (refused) or holding/awaiting room.
            await _until(
                lambda: sum(t.done() for t in tasks) + (queue.admitted + queue.waiting) // size == len(bodies)
            )
            assert queue.admitted == 3 * size and queue.waiting == 3 * size
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        accepted = [f"r{i:02d}" for i, (ok, _) in enumerate(results) if ok]
        refused = [retry_after for ok, retry_after in results if not ok]
        assert len(accepted) == 6 and len(refused) == 6
        assert set(refused) == {"1"}
        assert sorted(span_names(consumer.batches)) == sorted(accepted)
        assert run.counter("otelcol_receiver_accepted_spans_total", transport) == 6
        assert (
            run.registry.get("airis_receiver_admission_refused_requests_total").value(
                receiver="otlp", transport=transport
            )
            == 6
        )
        assert (queue.admitted, queue.waiting) == (0, 0)
    finally:
        release.set()
        await run.receiver.shutdown()


async def test_admission_reads_no_body_when_the_declared_length_cannot_be_admitted() -> None:
    run = await start_receiver(admission=AdmissionConfig(request_limit_mib=1, waiting_limit_mib=0))
    release = _blocking_consumer(run.consumers[Signal.TRACES])
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            big = trace_request("big", attrs={"pad": "x" * 900_000}).SerializeToString()
            holder = asyncio.create_task(
                client.post(run.url("/v1/traces"), content=big, headers={"content-type": PROTOBUF})
            )
            await _until(lambda: run.receiver.admission.admitted > 0)
            # Only the headers are sent: the refusal comes without the body being awaited.
            reader, writer = await asyncio.open_connection("127.0.0.1", run.http_port)
            writer.write(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 500000\r\n\r\n"
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            assert status_line.startswith(b"HTTP/1.1 503")
            release.set()
            assert (await holder).status_code == 200
    finally:
        release.set()
        await run.receiver.shutdown()


async def test_a_request_larger_than_the_admission_limit_is_refused_for_good() -> None:
    run = await start_receiver(admission=AdmissionConfig(request_limit_mib=1))
    try:
        body = trace_request("huge", attrs={"pad": "x" * 1_100_000}).SerializeToString()
        async with httpx.AsyncClient() as client:
            response = await client.post(
                run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
            )
        _, error = await grpc_call(run.grpc_target, TRACE_EXPORT, body)
        assert response.status_code == 413
        assert "larger than the receivers::otlp::admission limit" in decode_status(response).message
        assert error is not None and error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert run.consumers[Signal.TRACES].batches == []
    finally:
        await run.receiver.shutdown()


async def test_a_grpc_call_waiting_for_admission_leaves_the_queue_at_its_deadline() -> None:
    run = await start_receiver(admission=AdmissionConfig(request_limit_mib=1, waiting_limit_mib=1))
    release = _blocking_consumer(run.consumers[Signal.TRACES])
    queue = run.receiver.admission
    body = trace_request("w", attrs={"pad": "x" * 700_000}).SerializeToString()
    try:
        holder = asyncio.create_task(grpc_call(run.grpc_target, TRACE_EXPORT, body))
        await _until(lambda: queue.admitted > 0)
        async with aio.insecure_channel(run.grpc_target) as channel:
            call = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            with pytest.raises(aio.AioRpcError) as raised:
                await call(body, timeout=0.5)
        assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        await _until(lambda: queue.waiting == 0)
        release.set()
        assert (await holder)[1] is None
        assert span_names(run.consumers[Signal.TRACES].batches) == ["w"]
        assert (queue.admitted, queue.waiting) == (0, 0)
    finally:
        release.set()
        await run.receiver.shutdown()


async def test_admission_zero_request_limit_turns_it_off() -> None:
    run = await start_receiver(admission=AdmissionConfig(request_limit_mib=0, waiting_limit_mib=0))
    try:
        body = trace_request("any", attrs={"pad": "x" * 2_000_000}).SerializeToString()
        async with httpx.AsyncClient() as client:
            response = await client.post(
                run.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
            )
        assert response.status_code == 200
    finally:
        await run.receiver.shutdown()


async def test_admission_queue_a_cancelled_waiter_gives_its_place_back() -> None:
    from receivers.otlp.admission import AdmissionQueue

    queue = AdmissionQueue(request_limit=100, waiting_limit=100)
    await queue.acquire(80)
    first = asyncio.create_task(queue.acquire(50))
    second = asyncio.create_task(queue.acquire(20))
    await asyncio.sleep(0)
    assert (queue.admitted, queue.waiting) == (80, 70)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)  # first come, first served: 20 fits once 50 is gone
    assert (queue.admitted, queue.waiting) == (100, 0)
    queue.release(80)
    queue.release(20)
    assert (queue.admitted, queue.waiting) == (0, 0)


# --- robustness ----------------------------------------------------------------------------------


async def test_a_slowloris_connection_does_not_stop_other_clients(running: Running) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", running.http_port)
    _, body_writer = await asyncio.open_connection("127.0.0.1", running.http_port)
    try:
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")  # headers trickle
        body_writer.write(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\n\x0a\x05"  # the body trickles
        )
        await writer.drain()
        await body_writer.drain()
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(
                running.url("/v1/traces"),
                content=trace_request("served").SerializeToString(),
                headers={"content-type": PROTOBUF},
            )
        assert response.status_code == 200
        assert span_names(running.consumers[Signal.TRACES].batches) == ["served"]
    finally:
        writer.close()
        body_writer.close()


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a length varint that overflows
        b"\x0a\x10" + b"\x12\x0e" + b"\xff" * 14,  # nested garbage
        b"\xff" * 64,
        bytes(range(256)) * 8,
    ],
)
async def test_malformed_messages_are_400_or_invalid_argument_and_the_receiver_keeps_serving(
    running: Running, body: bytes
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=body, headers={"content-type": PROTOBUF}
        )
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, body)
    assert response.status_code in (200, 400)
    assert error is None or error.code() is grpc.StatusCode.INVALID_ARGUMENT
    _, error = await grpc_call(running.grpc_target, TRACE_EXPORT, trace_request("ok").SerializeToString())
    assert error is None
    assert span_names(running.consumers[Signal.TRACES].batches)[-1] == "ok"


def test_tls_cors_include_metadata_and_admission_keys_decode_as_in_the_collector() -> None:
    raw = {
        "protocols": {
            "grpc": {
                "include_metadata": True,
                "tls": {"cert_file": "s.crt", "key_file": "s.key", "client_ca_file": "ca.crt"},
            },
            "http": {
                "include_metadata": True,
                "tls": {"cert_file": "s.crt", "key_file": "s.key", "min_version": "1.3"},
                "cors": {
                    "allowed_origins": ["https://*.example.com"],
                    "allowed_headers": ["X-Tenant"],
                    "max_age": 7200,
                },
            },
        },
        "admission": {"request_limit_mib": 64, "waiting_limit_mib": 16},
    }
    config, problems = decode(OtlpReceiverConfig, raw, "receivers::otlp")
    assert problems == []
    assert config is not None and config.protocols.grpc is not None and config.protocols.http is not None
    assert config.protocols.grpc.include_metadata and config.protocols.http.include_metadata
    assert config.protocols.grpc.tls == TlsServerConfig("s.crt", "s.key", "ca.crt", "1.2", None)
    assert config.protocols.http.tls == TlsServerConfig("s.crt", "s.key", "", "1.3", None)
    assert config.protocols.http.cors == CorsConfig(["https://*.example.com"], ["X-Tenant"], 7200)
    assert config.admission == AdmissionConfig(request_limit_mib=64, waiting_limit_mib=16)


def test_defaults_have_no_tls_no_cors_no_metadata_and_otel_arrow_admission_limits() -> None:
    config, problems = decode(OtlpReceiverConfig, {"protocols": {"grpc": None, "http": None}})
    assert problems == []
    assert config is not None and config.protocols.grpc is not None and config.protocols.http is not None
    assert (config.protocols.grpc.tls, config.protocols.grpc.include_metadata) == (None, False)
    assert (
        config.protocols.http.tls,
        config.protocols.http.cors,
        config.protocols.http.include_metadata,
    ) == (
        None,
        None,
        False,
    )
    assert config.admission == AdmissionConfig(request_limit_mib=128, waiting_limit_mib=32)


def test_bad_tls_cors_and_admission_values_are_reported_with_their_key_paths() -> None:
    raw = {
        "protocols": {
            "grpc": {"tls": {"cert_file": "s.crt"}},
            "http": {
                "tls": {
                    "cert_file": "s.crt",
                    "key_file": "s.key",
                    "min_version": "1.3",
                    "max_version": "1.2",
                },
                "cors": {"max_age": -1},
            },
        },
        "admission": {"request_limit_mib": -1, "waiting_limit_mib": -2},
    }
    config, problems = decode(OtlpReceiverConfig, raw, "receivers::otlp")
    assert config is None
    assert sorted(str(p) for p in problems) == [
        "receivers::otlp::admission::request_limit_mib: must not be negative, got -1",
        "receivers::otlp::admission::waiting_limit_mib: must not be negative, got -2",
        "receivers::otlp::protocols::grpc::tls::key_file: is required when tls is configured",
        "receivers::otlp::protocols::http::cors::max_age: must not be negative, got -1",
        "receivers::otlp::protocols::http::tls::max_version: '1.2' is below min_version '1.3'",
    ]
    _, problems = decode(OtlpReceiverConfig, {"protocols": {"http": {"tls": {"min_version": "1.4"}}}})
    assert any(p.path == "protocols::http::tls::min_version" and "1.4" in p.message for p in problems)
