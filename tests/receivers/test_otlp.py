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
from receivers.otlp import FACTORY, OtlpReceiver
from receivers.otlp.config import GrpcConfig, HttpConfig, OtlpReceiverConfig, ProtocolsConfig

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

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

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
) -> Running:
    registry = MetricsRegistry()
    consumers = {signal: RecordingConsumer() for signal in signals}
    http_config = http or HttpConfig()
    http_config.endpoint = f"127.0.0.1:{free_port()}"
    config = OtlpReceiverConfig(
        ProtocolsConfig(grpc=GrpcConfig(endpoint=f"127.0.0.1:{free_port()}"), http=http_config)
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


async def test_http_json_is_refused_with_415_saying_it_comes_later(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/traces"), content=b"{}", headers={"content-type": "application/json"}
        )
    assert response.status_code == 415
    status = decode_status(response)
    assert "application/json is not supported yet" in status.message
    assert PROTOBUF in status.message
    assert running.consumers[Signal.TRACES].batches == []


async def test_http_other_content_types_are_refused_with_415(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            running.url("/v1/logs"), content=b"x", headers={"content-type": "text/plain"}
        )
    assert response.status_code == 415
    assert decode_status(response).message == (
        "unsupported media type 'text/plain', supported: [application/x-protobuf]"
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
