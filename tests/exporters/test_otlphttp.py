"""The `otlphttp` exporter posts OTLP over HTTP as the collector's does: URLs, encodings, error mapping."""

from __future__ import annotations

import email.utils
import json
import logging
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.rpc.status_pb2 import Status

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import ConfigError, PermanentError, RetryableError
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.otlphttp.config import OtlpHttpExporterConfig
from exporters.otlphttp.factory import FACTORY
from exporters.otlphttp.sender import OtlpHttpSender, parse_retry_after
from tests.conftest import free_port
from tests.exporters.otlp_sink import (
    Answer,
    Certificate,
    HttpSink,
    make_certificate,
    sample_batch,
    sample_request,
)

NO_HOST: Any = None


def settings() -> Settings:
    return Settings(
        ComponentId("otlphttp"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("test.otlphttp")
    )


def config(**raw: Any) -> OtlpHttpExporterConfig:
    decoded, problems = decode(OtlpHttpExporterConfig, raw)
    assert problems == []
    assert decoded is not None
    return decoded


def problems(**raw: Any) -> list[str]:
    return [str(p) for p in decode(OtlpHttpExporterConfig, raw)[1]]


async def send(batch: Batch, attempt_timeout: float = 5.0, **raw: Any) -> None:
    """Start a sender for `batch`'s signal, send `batch` once, shut down."""
    sender = OtlpHttpSender(settings(), config(**raw), batch.signal)
    await sender.start(NO_HOST)
    try:
        await sender.send(batch, attempt_timeout)
    finally:
        await sender.shutdown()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


# ---------------------------------------------------------------------------------------------------
# What arrives, and where


@pytest.mark.parametrize("signal", list(Signal))
async def test_every_signal_is_posted_to_its_path_as_the_exact_bytes(signal: Signal) -> None:
    batch = sample_batch(signal)
    async with HttpSink() as sink:
        await send(batch, endpoint=sink.url, compression="none")
    (received,) = sink.received
    assert received.path == f"/v1/{signal.value}"
    assert received.wire_body == batch.otlp_bytes()
    assert received.headers["content-type"] == "application/x-protobuf"
    assert "content-encoding" not in received.headers
    assert received.request() == sample_request(signal)


async def test_a_base_path_and_trailing_slash_are_kept() -> None:
    async with HttpSink() as sink:
        await send(sample_batch(Signal.LOGS), endpoint=f"{sink.url}/otlp/")
    assert sink.received[0].path == "/otlp/v1/logs"


async def test_a_signal_endpoint_overrides_the_base_url() -> None:
    async with HttpSink() as sink:
        base = f"http://127.0.0.1:{free_port()}"
        await send(sample_batch(Signal.METRICS), endpoint=base, metrics_endpoint=f"{sink.url}/custom/metrics")
        await send(sample_batch(Signal.TRACES), traces_endpoint=f"{sink.url}/x/traces")
    assert [r.path for r in sink.received] == ["/custom/metrics", "/x/traces"]
    assert sink.received[0].request() == sample_request(Signal.METRICS)


def test_a_signal_without_any_url_cannot_be_created() -> None:
    with pytest.raises(ValueError, match="either endpoint or logs_endpoint must be specified"):
        OtlpHttpSender(settings(), config(traces_endpoint="http://h/t"), Signal.LOGS)


async def test_headers_arrive_with_the_user_agent() -> None:
    async with HttpSink() as sink:
        await send(sample_batch(Signal.TRACES), endpoint=sink.url, headers={"Authorization": "Bearer s3cr3t"})
    headers = sink.received[0].headers
    assert headers["authorization"] == "Bearer s3cr3t"
    assert headers["user-agent"].startswith("airis/")


@pytest.mark.parametrize(
    "compression", ["gzip", "zstd", "snappy", "x-snappy-framed", "zlib", "deflate", "lz4"]
)
async def test_each_compression_is_declared_and_decodes_to_the_same_bytes(compression: str) -> None:
    batch = sample_batch(Signal.TRACES)
    async with HttpSink() as sink:
        await send(batch, endpoint=sink.url, compression=compression)
    (received,) = sink.received
    assert received.headers["content-encoding"] == compression
    assert received.wire_body != batch.otlp_bytes()
    assert received.body == batch.otlp_bytes()


async def test_gzip_is_the_default_compression() -> None:
    async with HttpSink() as sink:
        await send(sample_batch(Signal.LOGS), endpoint=sink.url)
    assert sink.received[0].headers["content-encoding"] == "gzip"
    assert sink.received[0].wire_body[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("signal", list(Signal))
async def test_json_encoding_is_spec_otlp_json(signal: Signal) -> None:
    async with HttpSink() as sink:
        await send(sample_batch(signal), endpoint=sink.url, encoding="json")
    (received,) = sink.received
    assert received.headers["content-type"] == "application/json"
    assert received.request() == sample_request(signal)
    document = json.loads(received.body)
    if signal is Signal.TRACES:
        span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert span["traceId"] == bytes(range(16)).hex()
        assert span["parentSpanId"] == "09" * 8
        assert span["kind"] == 2
    else:
        assert ("resourceMetrics" if signal is Signal.METRICS else "resourceLogs") in document


async def test_a_partial_success_is_logged_and_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(rejected=3, message="3 points dropped")
        with caplog.at_level(logging.WARNING, "test.otlphttp"):
            await send(sample_batch(Signal.METRICS), endpoint=sink.url)
            await send(sample_batch(Signal.METRICS), endpoint=sink.url, encoding="json")
    assert caplog.text.count("rejected 3 data points: 3 points dropped") == 2


# ---------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_throttling_and_gateway_statuses_are_retryable(status: int) -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=status, message="busy")
        with pytest.raises(RetryableError) as caught:
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)
    assert caught.value.retry_after is None
    assert str(caught.value) == (
        f"error exporting items, request to {sink.url}/v1/traces responded with HTTP Status Code {status}, "
        "Message=busy"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 415, 500, 501])
async def test_other_error_statuses_are_permanent(status: int) -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=status, message="refused")
        with pytest.raises(PermanentError, match=f"HTTP Status Code {status}, Message=refused$"):
            await send(sample_batch(Signal.LOGS), endpoint=sink.url)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_set_retry_after(status: int) -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=status, headers={"Retry-After": "7"})
        with pytest.raises(RetryableError) as caught:
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)
    assert caught.value.retry_after == 7.0


async def test_retry_after_as_an_http_date_sets_retry_after() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=429, headers={"Retry-After": when})
        with pytest.raises(RetryableError) as caught:
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)
    assert caught.value.retry_after is not None
    assert 25 < caught.value.retry_after <= 30


async def test_retry_info_in_the_status_stands_in_for_a_missing_retry_after() -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=503, retry_after=1.5)
        with pytest.raises(RetryableError) as caught:
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)
    assert caught.value.retry_after == 1.5


def test_retry_after_values_are_parsed_as_rfc_9110_says() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 60, usegmt=True), now) == 60.0
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now) is None
    assert parse_retry_after("0", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_a_json_status_body_gives_the_message() -> None:
    body = json.dumps({"code": 3, "message": "bad span"}).encode()
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=400, body=body, content_type="application/json")
        with pytest.raises(PermanentError, match=r"HTTP Status Code 400, Message=bad span$"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)


async def test_a_text_error_body_gives_the_message() -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=502, body=b"upstream down\n", content_type="text/plain")
        with pytest.raises(RetryableError, match=r"HTTP Status Code 502, Message=upstream down$"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)


async def test_a_status_body_without_a_message_gives_just_the_code() -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(http_status=500, body=Status(code=13).SerializeToString())
        with pytest.raises(PermanentError, match=r"HTTP Status Code 500$"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)


async def test_a_refused_connection_is_retryable() -> None:
    with pytest.raises(RetryableError, match="failed to make an HTTP request: ConnectError"):
        await send(sample_batch(Signal.TRACES), endpoint=f"http://127.0.0.1:{free_port()}")


async def test_no_answer_within_the_timeout_is_retryable() -> None:
    async with HttpSink() as sink:
        sink.answer = Answer(delay=0.6)
        with pytest.raises(RetryableError, match=r"no answer within 0\.2s"):
            await send(sample_batch(Signal.TRACES), attempt_timeout=0.2, endpoint=sink.url)


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    sender = OtlpHttpSender(settings(), config(endpoint="http://127.0.0.1:1"), Signal.TRACES)
    await sender.shutdown()
    await sender.start(NO_HOST)
    await sender.shutdown()
    await sender.shutdown()
    with pytest.raises(RetryableError, match="not started"):
        await sender.send(sample_batch(Signal.TRACES), 1.0)


# ---------------------------------------------------------------------------------------------------
# TLS


async def test_https_with_the_servers_ca_file_works(certificate: Certificate) -> None:
    batch = sample_batch(Signal.TRACES)
    async with HttpSink(certificate) as sink:
        await send(batch, endpoint=sink.url, tls={"ca_file": certificate.cert_file})
    assert sink.received[0].body == batch.otlp_bytes()


async def test_an_untrusted_server_certificate_is_a_retryable_connection_error(
    certificate: Certificate,
) -> None:
    async with HttpSink(certificate) as sink:
        with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url)
    assert sink.received == []


async def test_insecure_skip_verify_accepts_any_certificate(certificate: Certificate) -> None:
    async with HttpSink(certificate) as sink:
        await send(sample_batch(Signal.TRACES), endpoint=sink.url, tls={"insecure_skip_verify": True})
    assert len(sink.received) == 1


async def test_server_name_override_is_checked_against_the_certificate(tmp_path: Path) -> None:
    named = make_certificate(tmp_path, "sink.test", ip=False)
    async with HttpSink(named) as sink:
        with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url, tls={"ca_file": named.cert_file})
        await send(
            sample_batch(Signal.TRACES),
            endpoint=sink.url,
            tls={"ca_file": named.cert_file, "server_name_override": "sink.test"},
        )
    assert len(sink.received) == 1


async def test_mutual_tls_presents_the_client_certificate(certificate: Certificate, tmp_path: Path) -> None:
    client = make_certificate(tmp_path, "client")
    async with HttpSink(certificate, client_ca=client.cert_file) as sink:
        with pytest.raises(RetryableError, match="failed to make an HTTP request"):
            await send(sample_batch(Signal.TRACES), endpoint=sink.url, tls={"ca_file": certificate.cert_file})
        tls = {"ca_file": certificate.cert_file, "cert_file": client.cert_file, "key_file": client.key_file}
        await send(sample_batch(Signal.TRACES), endpoint=sink.url, tls=tls)
    assert len(sink.received) == 1


async def test_an_unreadable_ca_file_fails_start_naming_the_key(tmp_path: Path) -> None:
    raw = {"endpoint": "https://127.0.0.1:1", "tls": {"ca_file": str(tmp_path / "missing.pem")}}
    sender = OtlpHttpSender(settings(), config(**raw), Signal.TRACES)
    with pytest.raises(
        ConfigError, match=r"exporters::otlphttp::tls::ca_file: cannot read '.*missing.pem': No such file"
    ):
        await sender.start(NO_HOST)


# ---------------------------------------------------------------------------------------------------
# Config and factory


def test_the_defaults_are_the_collectors() -> None:
    default = FACTORY.default_config()
    assert (default.endpoint, default.compression, default.encoding) == ("", "gzip", "proto")
    assert default.timeout == timedelta(seconds=30)


def test_some_endpoint_is_required() -> None:
    assert problems() == ["at least one endpoint must be specified"]


def test_urls_must_be_http_or_https() -> None:
    assert problems(endpoint="localhost:4318", logs_endpoint="http://h:99999/v1/logs") == [
        "endpoint: 'localhost:4318' is not an http:// or https:// URL with a host",
        "logs_endpoint: 'http://h:99999/v1/logs' is not a valid URL: Port out of range 0-65535",
    ]


def test_unknown_encodings_and_compressions_are_reported() -> None:
    found = problems(endpoint="http://h", encoding="xml", compression="brotli")
    assert sorted(found) == [
        "compression: 'brotli' is not one of gzip, zstd, zlib, deflate, snappy, x-snappy-framed, lz4, none, ",
        "encoding: 'xml' is not one of proto, json",
    ]


def test_the_factory_module_does_not_import_httpx() -> None:
    code = "import sys, exporters.otlphttp.factory; print('httpx' in sys.modules, 'grpc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


async def test_the_factory_builds_a_working_exporter() -> None:
    batch = sample_batch(Signal.LOGS)
    async with HttpSink() as sink:
        exporter = FACTORY.create(
            settings(), config(endpoint=sink.url, sending_queue={"enabled": False}), Signal.LOGS
        )
        await exporter.start(NO_HOST)
        try:
            await exporter.consume(batch)
        finally:
            await exporter.shutdown()
    assert sink.received[0].body == batch.otlp_bytes()


async def test_a_file_that_is_no_certificate_fails_start_naming_the_key(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    sender = OtlpHttpSender(
        settings(), config(endpoint="https://127.0.0.1:1", tls={"ca_file": str(bogus)}), Signal.TRACES
    )
    with pytest.raises(
        ConfigError, match=r"exporters::otlphttp::tls::ca_file: '.*ca.pem' holds no usable PEM"
    ):
        await sender.start(NO_HOST)


async def test_a_batch_that_cannot_be_encoded_as_json_is_a_permanent_error() -> None:
    broken = Batch.from_otlp_bytes(Signal.TRACES, b"\xff\xff\xff")
    async with HttpSink() as sink:
        with pytest.raises(PermanentError, match="cannot encode the batch: invalid OTLP traces request"):
            await send(broken, endpoint=sink.url, encoding="json")
    assert sink.received == []
