"""What airis forwards is what it received: agent -> otlp exporter -> a second airis, field by field."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import otlpjson
from collector.signal import Signal
from tests.collector.pdata import fixtures
from tests.collector.pdata.normalize import normalize
from tests.conftest import free_port
from tests.e2e.airis_process import AirisProcess, wait_until

REQUEST_TYPES: dict[str, Any] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
SERVICES = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    """An agent (otlp in, otlp out, gzip, batching after the queue) in front of a recording airis."""
    sink_port, grpc_port, http_port = free_port(), free_port(), free_port()
    dump = tmp_path / "received.txt"
    pipelines = ", ".join(f"{s}: {{receivers: [otlp], exporters: [recorder]}}" for s in REQUEST_TYPES)
    sink = AirisProcess(
        tmp_path,
        "sink",
        f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{sink_port}"}}}}}}}}
exporters: {{recorder: {{dump: "{dump}"}}}}
service: {{extensions: [health_check], pipelines: {{{pipelines}}}}}
""",
        module="tests.run_airis",
    ).start()
    pipelines = ", ".join(f"{s}: {{receivers: [otlp], exporters: [otlp]}}" for s in REQUEST_TYPES)
    agent = AirisProcess(
        tmp_path,
        "agent",
        f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}, http: {{endpoint: "127.0.0.1:{http_port}"}}}}}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_port}"
    tls: {{insecure: true}}
    sending_queue: {{batch: {{flush_timeout: 50ms}}}}
service: {{extensions: [health_check], pipelines: {{{pipelines}}}}}
""",
    ).start()
    try:
        yield agent, grpc_port, http_port, dump
    finally:
        agent.kill()
        sink.kill()


def received(dump: Path, signal: str) -> Any:
    """Everything the sink recorded for `signal`, merged into one request."""
    merged = REQUEST_TYPES[signal]()
    if dump.exists():
        for line in dump.read_text().splitlines():
            kind, data = line.split()
            if kind == signal:
                merged.MergeFromString(base64.b64decode(data))
    return merged


FIXTURES = {
    "traces": fixtures.traces_request,
    "metrics": fixtures.metrics_request,
    "logs": fixtures.logs_request,
}


@pytest.mark.parametrize("signal", list(FIXTURES))
def test_grpc_protobuf_arrives_field_by_field(pair: Any, signal: str) -> None:
    import grpc

    _, grpc_port, _, dump = pair
    sent = FIXTURES[signal]()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        channel.unary_unary(SERVICES[signal], request_serializer=None, response_deserializer=None)(
            sent.SerializeToString(), timeout=10
        )
    assert wait_until(lambda: normalize(received(dump, signal)) == normalize(sent), 15), (
        f"received {received(dump, signal)}"
    )


@pytest.mark.parametrize("signal", list(FIXTURES))
def test_http_json_arrives_field_by_field(pair: Any, signal: str) -> None:
    _, _, http_port, dump = pair
    sent = FIXTURES[signal]()
    response = httpx.post(
        f"http://127.0.0.1:{http_port}/v1/{signal}",
        content=otlpjson.encode(sent),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert wait_until(lambda: normalize(received(dump, signal)) == normalize(sent), 15)


def test_the_sdk_exporters_spans_arrive_with_their_attributes(pair: Any) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    _, grpc_port, _, dump = pair
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop", "1.2")
    with tracer.start_as_current_span("order", attributes={"order.id": 42, "vip": True}) as parent:
        parent.add_event("paid", {"amount": 9.5})
        with tracer.start_as_current_span("charge"):
            pass
    provider.shutdown()
    sent = {s.context.span_id: s for s in memory.get_finished_spans()}

    def arrived() -> dict[int, Any]:
        request = received(dump, Signal.TRACES)
        return {
            int.from_bytes(s.span_id, "big"): (rs, ss, s)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        }

    assert wait_until(lambda: set(arrived()) == set(sent), 15)
    for span_id, (rs, ss, span) in arrived().items():
        original = sent[span_id]
        assert span.name == original.name
        assert span.trace_id == original.context.trace_id.to_bytes(16, "big")
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
            original.start_time,
            original.end_time,
        )
        assert {kv.key: kv.value for kv in span.attributes} == {
            k: _any(v) for k, v in (original.attributes or {}).items()
        }
        assert (ss.scope.name, ss.scope.version) == ("shop", "1.2")
        assert {kv.key: kv.value.string_value for kv in rs.resource.attributes}["service.name"] == "checkout"
    order = next(s for _, _, s in arrived().values() if s.name == "order")
    assert [(e.name, e.attributes[0].value.double_value) for e in order.events] == [("paid", 9.5)]


def _any(value: object) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))
