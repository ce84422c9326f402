"""The `otlp` exporter sends OTLP over gRPC as the collector's does: bytes as they are, its error mapping."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import ConfigError, PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.otlp.config import OtlpExporterConfig
from exporters.otlp.factory import FACTORY
from exporters.otlp.sender import OtlpGrpcSender
from tests.conftest import free_port
from tests.exporters.otlp_sink import (
    Answer,
    ByteCounter,
    Certificate,
    GrpcSink,
    make_certificate,
    sample_batch,
    sample_request,
)

NO_HOST: Any = None


def settings() -> Settings:
    return Settings(ComponentId("otlp"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("test.otlp"))


def config(**raw: Any) -> OtlpExporterConfig:
    """The config the YAML `raw` gives (plaintext unless `tls` is given), failing on any problem."""
    raw.setdefault("tls", {"insecure": True})
    decoded, problems = decode(OtlpExporterConfig, raw)
    assert problems == []
    assert decoded is not None
    return decoded


def problems(**raw: Any) -> list[str]:
    return [str(p) for p in decode(OtlpExporterConfig, raw)[1]]


async def send(sink_endpoint: str, batch: Batch, attempt_timeout: float = 5.0, **raw: Any) -> None:
    """Start a sender for `batch`'s signal, send `batch` once, shut down."""
    sender = OtlpGrpcSender(settings(), config(endpoint=sink_endpoint, **raw), batch.signal)
    await sender.start(NO_HOST)
    try:
        await sender.send(batch, attempt_timeout)
    finally:
        await sender.shutdown()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


# ---------------------------------------------------------------------------------------------------
# What arrives


@pytest.mark.parametrize("signal", list(Signal))
async def test_every_signal_arrives_as_the_exact_bytes_sent(signal: Signal) -> None:
    batch = sample_batch(signal)
    async with GrpcSink() as sink:
        await send(sink.endpoint, batch)
    assert [r.signal for r in sink.received] == [signal]
    assert sink.received[0].body == batch.otlp_bytes()
    assert sink.received[0].request() == sample_request(signal)


async def test_a_batch_built_from_a_message_arrives_field_for_field() -> None:
    request = sample_request(Signal.TRACES)
    async with GrpcSink() as sink:
        await send(sink.endpoint, Batch.from_otlp(request))
    got = sink.received[0].request()
    assert isinstance(got, ExportTraceServiceRequest)
    assert got == request
    assert got.resource_spans[1].scope_spans[0].spans[2].span_id == bytes([1, 2, 3, 4, 5, 6, 7, 8])


async def test_headers_arrive_as_metadata_with_the_user_agent() -> None:
    async with GrpcSink() as sink:
        await send(
            sink.endpoint,
            sample_batch(Signal.LOGS),
            headers={"Authorization": "Bearer s3cr3t", "x-tenant": "a"},
        )
    headers = sink.received[0].headers
    assert headers["authorization"] == "Bearer s3cr3t"
    assert headers["x-tenant"] == "a"
    assert headers["user-agent"].startswith("airis/")


async def test_an_http_scheme_in_the_endpoint_is_dropped() -> None:
    async with GrpcSink() as sink:
        await send(f"http://{sink.endpoint}", sample_batch(Signal.TRACES))
    assert len(sink.received) == 1


def compressible_batch() -> Batch:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(2000):
        spans.add(name="GET /api/v1/checkout/items", trace_id=b"\x01" * 16, span_id=i.to_bytes(8, "big"))
    return Batch.from_otlp(request)


@pytest.mark.parametrize(("compression", "most"), [("gzip", 0.2), ("none", 2.0)])
async def test_gzip_compression_shrinks_what_goes_on_the_wire(compression: str, most: float) -> None:
    batch = compressible_batch()
    async with GrpcSink() as sink, ByteCounter(sink.port) as counter:
        await send(f"127.0.0.1:{counter.port}", batch, compression=compression)
    assert sink.received[0].body == batch.otlp_bytes()
    size = len(batch.otlp_bytes())
    assert counter.sent < size * most
    if compression == "none":
        assert counter.sent > size


async def test_a_partial_success_is_logged_and_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(rejected=2, message="2 spans too old")
        with caplog.at_level(logging.WARNING, "test.otlp"):
            await send(sink.endpoint, sample_batch(Signal.TRACES))
    assert "rejected 2 spans: 2 spans too old" in caplog.text


# ---------------------------------------------------------------------------------------------------
# Errors

RETRYABLE = ["CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"]
PERMANENT = [
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "FAILED_PRECONDITION",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAUTHENTICATED",
    "RESOURCE_EXHAUSTED",
]


@pytest.mark.parametrize("code", RETRYABLE)
async def test_retryable_codes_raise_retryable_errors(code: str) -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(grpc_code=grpc.StatusCode[code], message="try later")
        with pytest.raises(RetryableError) as caught:
            await send(sink.endpoint, sample_batch(Signal.METRICS))
    assert caught.value.retry_after is None
    assert f"code = {code} desc = try later" in str(caught.value)


@pytest.mark.parametrize("code", PERMANENT)
async def test_other_codes_raise_permanent_errors(code: str) -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(grpc_code=grpc.StatusCode[code], message="no")
        with pytest.raises(PermanentError, match=f"code = {code} desc = no"):
            await send(sink.endpoint, sample_batch(Signal.METRICS))


@pytest.mark.parametrize("in_trailer", [False, True], ids=["status-details", "retryinfo-trailer"])
async def test_retry_info_sets_retry_after(in_trailer: bool) -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(
            grpc_code=grpc.StatusCode.UNAVAILABLE, retry_after=2.5, retry_info_in_trailer=in_trailer
        )
        with pytest.raises(RetryableError) as caught:
            await send(sink.endpoint, sample_batch(Signal.TRACES))
    assert caught.value.retry_after == 2.5


async def test_resource_exhausted_with_retry_info_is_retryable() -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, message="slow down", retry_after=1)
        with pytest.raises(RetryableError) as caught:
            await send(sink.endpoint, sample_batch(Signal.LOGS))
    assert caught.value.retry_after == 1.0


async def test_a_refused_connection_is_retryable() -> None:
    with pytest.raises(RetryableError, match="UNAVAILABLE"):
        await send(f"127.0.0.1:{free_port()}", sample_batch(Signal.TRACES))


async def test_no_answer_within_the_timeout_is_retryable() -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(delay=2.0)
        with pytest.raises(RetryableError, match="DEADLINE_EXCEEDED"):
            await send(sink.endpoint, sample_batch(Signal.TRACES), attempt_timeout=0.2)


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    sender = OtlpGrpcSender(settings(), config(endpoint="127.0.0.1:1"), Signal.TRACES)
    await sender.shutdown()
    await sender.start(NO_HOST)
    await sender.shutdown()
    await sender.shutdown()
    with pytest.raises(RetryableError, match="not started"):
        await sender.send(sample_batch(Signal.TRACES), 1.0)


# ---------------------------------------------------------------------------------------------------
# TLS


async def test_tls_with_the_servers_ca_file_works(certificate: Certificate) -> None:
    batch = sample_batch(Signal.TRACES)
    async with GrpcSink(certificate) as sink:
        await send(sink.endpoint, batch, tls={"ca_file": certificate.cert_file})
    assert sink.received[0].body == batch.otlp_bytes()


async def test_an_https_endpoint_forces_tls_even_when_insecure(certificate: Certificate) -> None:
    async with GrpcSink(certificate) as sink:
        await send(
            f"https://{sink.endpoint}",
            sample_batch(Signal.LOGS),
            tls={"insecure": True, "ca_file": certificate.cert_file},
        )
    assert len(sink.received) == 1


async def test_an_untrusted_server_certificate_is_a_retryable_connection_error(
    certificate: Certificate,
) -> None:
    async with GrpcSink(certificate) as sink:
        with pytest.raises(RetryableError, match="UNAVAILABLE"):
            await send(sink.endpoint, sample_batch(Signal.TRACES), tls={})
    assert sink.received == []


async def test_plaintext_to_a_tls_server_is_retryable(certificate: Certificate) -> None:
    async with GrpcSink(certificate) as sink:
        with pytest.raises(RetryableError, match="UNAVAILABLE"):
            await send(sink.endpoint, sample_batch(Signal.TRACES), attempt_timeout=2.0)
    assert sink.received == []


async def test_server_name_override_is_checked_against_the_certificate(tmp_path: Path) -> None:
    named = make_certificate(tmp_path, "sink.test", ip=False)
    async with GrpcSink(named) as sink:
        with pytest.raises(RetryableError):
            await send(sink.endpoint, sample_batch(Signal.TRACES), tls={"ca_file": named.cert_file})
        await send(
            sink.endpoint,
            sample_batch(Signal.TRACES),
            tls={"ca_file": named.cert_file, "server_name_override": "sink.test"},
        )
    assert len(sink.received) == 1


async def test_mutual_tls_presents_the_client_certificate(certificate: Certificate, tmp_path: Path) -> None:
    client = make_certificate(tmp_path, "client")
    async with GrpcSink(certificate, client_ca=client.cert_file) as sink:
        with pytest.raises(RetryableError, match="UNAVAILABLE"):
            await send(sink.endpoint, sample_batch(Signal.TRACES), tls={"ca_file": certificate.cert_file})
        tls = {"ca_file": certificate.cert_file, "cert_file": client.cert_file, "key_file": client.key_file}
        await send(sink.endpoint, sample_batch(Signal.TRACES), tls=tls)
    assert len(sink.received) == 1


async def test_an_unreadable_ca_file_fails_start_naming_the_key(tmp_path: Path) -> None:
    sender = OtlpGrpcSender(
        settings(),
        config(endpoint="127.0.0.1:1", tls={"ca_file": str(tmp_path / "missing.pem")}),
        Signal.TRACES,
    )
    with pytest.raises(
        ConfigError, match=r"exporters::otlp::tls::ca_file: cannot read '.*missing.pem': No such file"
    ):
        await sender.start(NO_HOST)


# ---------------------------------------------------------------------------------------------------
# Config and factory


def test_the_defaults_are_the_collectors() -> None:
    default = FACTORY.default_config()
    assert (default.endpoint, default.compression, default.headers) == ("", "gzip", {})
    assert default.timeout == timedelta(seconds=5)
    assert (default.tls.insecure, default.tls.ca_file) == (False, "")
    assert default.sending_queue.enabled and default.retry_on_failure.enabled


def test_the_endpoint_is_required() -> None:
    assert problems() == ['requires a non-empty "endpoint"']
    assert problems(endpoint="https://") == ['requires a non-empty "endpoint"']


def test_compressions_python_grpc_lacks_are_reported() -> None:
    assert problems(endpoint="h:4317", compression="zstd") == [
        "compression: 'zstd' is not supported over gRPC by airis (Python's grpc compresses with gzip only); "
        "use gzip or none"
    ]
    assert problems(endpoint="h:4317", compression="lz4") == [
        "compression: 'lz4' is not one of gzip, zstd, snappy, none, "
    ]


def test_tls_mistakes_are_reported_with_their_keys() -> None:
    assert problems(endpoint="h:4317", tls={"cert_file": "c.pem"}) == [
        "tls::key_file: for auth via TLS, provide both certificate and key, or neither"
    ]
    assert problems(endpoint="h:4317", tls={"insecure_skip_verify": True})[0].startswith(
        "tls::insecure_skip_verify: is not supported over gRPC"
    )


def test_a_header_that_is_no_metadata_key_is_reported() -> None:
    assert problems(endpoint="h:4317", headers={"bad key": "v", "grpc-timeout": "1"}) == [
        "headers::bad key: is not a gRPC metadata key (letters, digits, '-', '_' and '.'; not 'grpc-...')",
        "headers::grpc-timeout: is not a gRPC metadata key (letters, digits, '-', '_' and '.'; not 'grpc-...')",
    ]


def test_the_factory_module_does_not_import_grpc() -> None:
    code = "import sys, exporters.otlp.factory; print('grpc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_the_factory_builds_a_working_exporter() -> None:
    batch = sample_batch(Signal.METRICS)
    async with GrpcSink() as sink:
        exporter = FACTORY.create(
            settings(), config(endpoint=sink.endpoint, sending_queue={"enabled": False}), Signal.METRICS
        )
        await exporter.start(NO_HOST)
        try:
            await exporter.consume(batch)
        finally:
            await exporter.shutdown()
    assert sink.received[0].body == batch.otlp_bytes()


async def test_the_factory_exporter_raises_permanent_errors_to_its_caller() -> None:
    async with GrpcSink() as sink:
        sink.answer = Answer(grpc_code=grpc.StatusCode.INVALID_ARGUMENT, message="bad data")
        exporter = FACTORY.create(
            settings(), config(endpoint=sink.endpoint, sending_queue={"enabled": False}), Signal.TRACES
        )
        await exporter.start(NO_HOST)
        try:
            with pytest.raises(PermanentError, match="bad data"):
                await exporter.consume(sample_batch(Signal.TRACES))
        finally:
            await exporter.shutdown()
    assert len(sink.received) == 1
