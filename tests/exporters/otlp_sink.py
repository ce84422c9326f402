"""A small OTLP server for exporter tests: records every request it gets and answers as told.

`GrpcSink` serves the three Export methods with raw-bytes handlers (grpc.aio); `HttpSink` serves
OTLP/HTTP on any path (starlette on uvicorn), undoing the request's Content-Encoding. Both may serve
TLS, and both share one `Answer` that says what to reply (success, partial success or an error).
`make_certificate` writes a self-signed certificate with openssl; `ByteCounter` is a TCP relay that
counts the bytes a client sends, to see that compression happened on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cramjam
import grpc
import uvicorn
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from grpc import aio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.pdata import Batch, otlpjson
from collector.signal import Signal
from exporters.otlp.protocol import EXPORT_RESPONSES

__all__ = ["Answer", "ByteCounter", "Certificate", "GrpcSink", "HttpSink", "Received", "make_certificate"]

SERVICES: dict[Signal, str] = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}
REQUESTS: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
_DECOMPRESS: dict[str, Any] = {
    "gzip": cramjam.gzip.decompress,
    "zstd": cramjam.zstd.decompress,
    "zlib": cramjam.zlib.decompress,
    "deflate": cramjam.zlib.decompress,
    "snappy": cramjam.snappy.decompress_raw,
    "x-snappy-framed": cramjam.snappy.decompress,
    "lz4": cramjam.lz4.decompress,
}


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate (its own CA) and its key, as PEM files."""

    cert_file: str
    key_file: str


def make_certificate(folder: Path, name: str = "localhost", ip: bool = True) -> Certificate:
    """A self-signed certificate for `name` (and 127.0.0.1 if `ip`), valid for a day, made by openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    names = f"DNS:{name},IP:127.0.0.1" if ip else f"DNS:{name}"
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName={names}",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(str(cert), str(key))


def retry_info(seconds: float) -> RetryInfo:
    """A RetryInfo asking to wait `seconds`."""
    nanos = round(seconds * 1e9)
    return RetryInfo(retry_delay=Duration(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000))


@dataclass
class Received:
    """One request as the sink got it: the body after undoing any Content-Encoding, and its headers."""

    signal: Signal | None
    body: bytes
    headers: dict[str, str]
    path: str = ""
    wire_body: bytes = b""

    def request(self) -> Message:
        """The Export*ServiceRequest in the body (OTLP/JSON when the content type says so)."""
        assert self.signal is not None
        if self.headers.get("content-type", "").startswith("application/json"):
            return otlpjson.decode(self.signal, self.body)
        request = REQUESTS[self.signal]()
        request.ParseFromString(self.body)
        return request


@dataclass
class Answer:
    """What the sink replies to every request until told otherwise (default: plain success)."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.OK
    http_status: int = 200
    message: str = ""
    retry_after: float | None = None
    """gRPC: a RetryInfo delay; HTTP: a RetryInfo in the Status body (and see `headers`)."""
    retry_info_in_trailer: bool = False
    """gRPC: send RetryInfo as `google.rpc.retryinfo-bin` (the Python SDK's way) instead of in the status."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    """HTTP: the exact error body (default: a protobuf google.rpc.Status)."""
    content_type: str = "application/x-protobuf"
    rejected: int = 0
    """Items reported as rejected in a partial success."""
    delay: float = 0.0
    """Seconds to wait before answering."""

    def status(self, code: int) -> Status:
        """The google.rpc.Status describing this answer's error."""
        details = []
        if self.retry_after is not None:
            detail = AnyProto()
            detail.Pack(retry_info(self.retry_after))
            details.append(detail)
        return Status(code=code, message=self.message, details=details)

    def response(self, signal: Signal) -> Message:
        """The Export*ServiceResponse of a success (with a partial success if asked for)."""
        response_type, rejected_field, _ = EXPORT_RESPONSES[signal]
        response = response_type()
        if self.rejected or self.message:
            setattr(response.partial_success, rejected_field, self.rejected)
            response.partial_success.error_message = self.message
        return response


def sample_request(signal: Signal) -> Message:
    """A request using most fields of its signal: several resources, every attribute type, ids, times."""
    if signal is Signal.TRACES:
        traces = ExportTraceServiceRequest()
        for r in range(2):
            rs = traces.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.21.0")
            _attributes(rs.resource.attributes, f"svc-{r}")
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = "airis.test", "1.0"
            for i in range(3):
                span = ss.spans.add(
                    trace_id=bytes(range(16)), span_id=bytes([r, i, 3, 4, 5, 6, 7, 8]),
                    parent_span_id=b"\x09" * 8, name=f"op-{i}", kind=2, trace_state="k=v", flags=257,
                    start_time_unix_nano=1_700_000_000_000_000_000 + i,
                    end_time_unix_nano=1_700_000_000_500_000_000 + i,
                )  # fmt: skip
                _attributes(span.attributes, f"span-{i}")
                event = span.events.add(time_unix_nano=1_700_000_000_100_000_000, name="retry")
                _attributes(event.attributes, "event")
                span.links.add(trace_id=b"\xff" * 16, span_id=b"\xee" * 8)
                span.status.code, span.status.message = 2, "boom"
        return traces
    if signal is Signal.METRICS:
        metrics = ExportMetricsServiceRequest()
        rm = metrics.resource_metrics.add()
        _attributes(rm.resource.attributes, "svc")
        sm = rm.scope_metrics.add()
        sm.scope.name = "airis.test"
        gauge = sm.metrics.add(name="temperature", unit="Cel", description="a gauge")
        gauge.gauge.data_points.add(as_double=21.5, time_unix_nano=7)
        gauge.gauge.data_points.add(as_int=-3, time_unix_nano=8)
        total = sm.metrics.add(name="requests", unit="1")
        total.sum.aggregation_temporality, total.sum.is_monotonic = 2, True
        point = total.sum.data_points.add(as_int=2**40, start_time_unix_nano=1, time_unix_nano=9)
        _attributes(point.attributes, "sum")
        point.exemplars.add(as_double=1.5, time_unix_nano=9, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        histogram = sm.metrics.add(name="latency", unit="ms")
        histogram.histogram.aggregation_temporality = 1
        histogram.histogram.data_points.add(
            count=6, sum=12.5, min=0.5, max=5.0, bucket_counts=[1, 2, 3], explicit_bounds=[1.0, 2.0]
        )
        expo = sm.metrics.add(name="sizes")
        point_e = expo.exponential_histogram.data_points.add(count=3, scale=2, zero_count=1, sum=4.0)
        point_e.positive.offset, point_e.positive.bucket_counts[:] = -1, [1, 1]
        summary = sm.metrics.add(name="rtt")
        point_s = summary.summary.data_points.add(count=4, sum=10.0)
        point_s.quantile_values.add(quantile=0.5, value=2.0)
        return metrics
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    _attributes(rl.resource.attributes, "svc")
    sl = rl.scope_logs.add()
    sl.scope.name = "airis.test"
    for i in range(3):
        record = sl.log_records.add(
            time_unix_nano=1_700_000_000_000_000_000 + i, observed_time_unix_nano=1_700_000_000_000_000_001,
            severity_number=9 + i, severity_text="INFO", trace_id=b"\x0a" * 16, span_id=b"\x0b" * 8, flags=1,
        )  # fmt: skip
        record.body.string_value = f"line {i}"
        _attributes(record.attributes, f"log-{i}")
    record = sl.log_records.add(severity_number=17)
    record.body.kvlist_value.values.add(key="structured").value.int_value = 1
    return logs


def _attributes(attributes: Any, tag: str) -> None:
    attributes.add(key="tag").value.string_value = tag
    attributes.add(key="int").value.int_value = -(2**62)
    attributes.add(key="double").value.double_value = 0.25
    attributes.add(key="bool").value.bool_value = True
    attributes.add(key="bytes").value.bytes_value = b"\x00\xff"
    array = attributes.add(key="array").value.array_value
    array.values.add().string_value = "a"
    array.values.add().int_value = 2
    attributes.add(key="map").value.kvlist_value.values.add(key="nested").value.string_value = "yes"


def sample_batch(signal: Signal) -> Batch:
    """`sample_request(signal)` as a Batch built from bytes, as a receiver would hand it on."""
    return Batch.from_otlp_bytes(signal, sample_request(signal).SerializeToString())


class _Sink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answer = Answer()
        self.port = 0
        self.arrived = asyncio.Event()

    def record(self, item: Received) -> None:
        self.received.append(item)
        self.arrived.set()


class GrpcSink(_Sink):
    """An OTLP/gRPC server on 127.0.0.1 (TLS with `certificate`, mutual with `client_ca`) recording calls."""

    def __init__(self, certificate: Certificate | None = None, client_ca: str | None = None) -> None:
        super().__init__()
        self.credentials = None
        if certificate is not None:
            key = Path(certificate.key_file).read_bytes()
            cert = Path(certificate.cert_file).read_bytes()
            ca = Path(client_ca).read_bytes() if client_ca else None
            self.credentials = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
            )
        self._server: aio.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> GrpcSink:
        server = aio.server()
        for signal, service in SERVICES.items():
            handler = grpc.unary_unary_rpc_method_handler(
                self._handler(signal), request_deserializer=None, response_serializer=None
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
            )
        if self.credentials is None:
            self.port = server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = server.add_secure_port("127.0.0.1:0", self.credentials)
        await server.start()
        self._server = server
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop(None)

    def _handler(self, signal: Signal) -> Any:
        async def handle(request: bytes, context: aio.ServicerContext) -> bytes:
            headers = {m.key: m.value for m in context.invocation_metadata() or ()}
            self.record(Received(signal, request, headers, f"/{SERVICES[signal]}/Export"))
            answer = self.answer
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.grpc_code is not grpc.StatusCode.OK:
                trailers: tuple[tuple[str, bytes], ...] = ()
                if answer.retry_after is not None and answer.retry_info_in_trailer:
                    trailers = (
                        ("google.rpc.retryinfo-bin", retry_info(answer.retry_after).SerializeToString()),
                    )
                elif answer.retry_after is not None:
                    status = answer.status(answer.grpc_code.value[0]).SerializeToString()
                    trailers = (("grpc-status-details-bin", status),)
                await context.abort(answer.grpc_code, answer.message, trailing_metadata=trailers)
            return bytes(answer.response(signal).SerializeToString())

        return handle


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class HttpSink(_Sink):
    """An OTLP/HTTP server on 127.0.0.1 (HTTPS with `certificate`, mutual with `client_ca`) recording POSTs."""

    def __init__(self, certificate: Certificate | None = None, client_ca: str | None = None) -> None:
        super().__init__()
        self.certificate = certificate
        self.client_ca = client_ca
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> HttpSink:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])
        tls: dict[str, Any] = {}
        if self.certificate is not None:
            tls = {"ssl_certfile": self.certificate.cert_file, "ssl_keyfile": self.certificate.key_file}
            if self.client_ca:
                tls |= {"ssl_ca_certs": self.client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, loop="none", **tls)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _endpoint(self, request: Request) -> Response:
        wire = await request.body()
        encoding = request.headers.get("content-encoding", "")
        body = bytes(_DECOMPRESS[encoding](wire)) if encoding else wire
        path = request.url.path
        signal = next((s for s in Signal if path == f"/v1/{s.value}" or path.endswith(f"/{s.value}")), None)
        self.record(Received(signal, body, dict(request.headers), path, wire))
        answer = self.answer
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.http_status != 200:
            body = answer.body if answer.body is not None else answer.status(2).SerializeToString()
            return Response(body, answer.http_status, answer.headers, media_type=answer.content_type)
        assert signal is not None, f"no signal at {path}"
        response = answer.response(signal)
        if request.headers.get("content-type") == "application/json":
            from google.protobuf import json_format

            text = json_format.MessageToJson(response)
            return Response(text, 200, answer.headers, media_type="application/json")
        return Response(
            response.SerializeToString(), 200, answer.headers, media_type="application/x-protobuf"
        )


class ByteCounter:
    """A TCP relay from a local port to `target_port`, counting the bytes clients send through it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ByteCounter:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if count:
                        self.sent += len(data)
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
