"""The `otlp` receiver's `auth`: real clients and the real `auth` extension in, stamped batches out."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import jwt
import pytest
from google.protobuf import json_format
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from grpc import aio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.auth.config import AuthConfig
from collector.auth.factory import FACTORY as AUTH_FACTORY
from collector.auth.principal import AuthError
from collector.component import Component, ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.confmap import load_yaml
from collector.errors import ConfigError
from collector.pdata import Batch, MalformedData
from collector.service import Service
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from receivers.otlp import FACTORY, OtlpReceiver
from receivers.otlp.config import OtlpReceiverConfig
from receivers.otlp.stamp import stamp_otlp_bytes, stamp_otlp_message
from tests.components import JOURNAL, registry_with_test_components
from tests.conftest import free_port

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"  # HS256 keys must be at least 32 bytes
AUTH_CONFIG: dict[str, Any] = {
    "tenant_attribute": "tenant.id",
    "tokens": [
        {"token": "acme-secret", "subject": "app-a", "tenants": ["acme"], "role": "editor"},
        {"token": "reader", "subject": "r", "tenants": ["acme"], "role": "viewer"},
        {"token": "multi", "subject": "ops", "tenants": ["acme", "initech"], "role": "editor"},
        {"token": "root", "subject": "root", "role": "admin"},
    ],
    "jwt": {"secret": SECRET},
}
EXPORT_METHODS = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
RESOURCE_GROUPS = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}
SCOPE_GROUPS = {Signal.TRACES: "scope_spans", Signal.METRICS: "scope_metrics", Signal.LOGS: "scope_logs"}
REQUEST_TYPES: dict[Signal, Any] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
SIGNALS = [Signal.TRACES, Signal.METRICS, Signal.LOGS]
TRANSPORTS = ["grpc", "http"]


# --- a running receiver with the real `auth` extension ------------------------------------------


@dataclass
class RecordingConsumer:
    batches: list[Batch] = field(default_factory=list)

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


class ExtensionHost:
    """A Host holding started extensions."""

    def __init__(self, extensions: Mapping[ComponentId, Component]) -> None:
        self._extensions = dict(extensions)

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return dict(self._extensions)

    @property
    def status(self) -> Any:
        return "running"


@dataclass
class Running:
    receiver: OtlpReceiver
    registry: MetricsRegistry
    consumers: dict[Signal, RecordingConsumer]
    extension: Any

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.receiver.servers[0].port}"  # type: ignore[attr-defined]

    def url(self, signal: Signal) -> str:
        port = self.receiver.servers[1].port  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{port}/v1/{signal.value}"

    def stored(self, signal: Signal) -> list[Batch]:
        return self.consumers[signal].batches

    def nothing_stored(self) -> bool:
        return all(not c.batches for c in self.consumers.values())

    def refused(self, transport: str, reason: str) -> float:
        try:
            metric = self.registry.get("airis_receiver_auth_refused_requests_total")
        except KeyError:
            return 0.0
        return metric.value(receiver="otlp", transport=transport, reason=reason)


def settings(kind: Kind, id_: str, registry: MetricsRegistry) -> Settings:
    return Settings(ComponentId.parse(id_), kind, registry, logging.getLogger("test"))


async def start_auth(config: Mapping[str, Any] | None = None) -> Any:
    auth_config, problems = decode(AuthConfig, dict(config or AUTH_CONFIG), "extensions::auth")
    assert problems == [] and auth_config is not None
    extension = AUTH_FACTORY.create(settings(Kind.EXTENSION, "auth", MetricsRegistry()), auth_config)
    await extension.start(ExtensionHost({}))
    return extension


def receiver_config(auth: Any = "auth", include_metadata: bool = False) -> dict[str, Any]:
    protocol: dict[str, Any] = {"endpoint": "127.0.0.1:0", "include_metadata": include_metadata}
    if auth is not None:
        protocol["auth"] = {"authenticator": auth}
    return {"protocols": {"grpc": dict(protocol), "http": dict(protocol)}}


async def start_receiver(raw: Mapping[str, Any], extension: Any = None) -> Running:
    config, problems = decode(OtlpReceiverConfig, raw, "receivers::otlp")
    assert problems == [] and config is not None
    registry = MetricsRegistry()
    consumers = {signal: RecordingConsumer() for signal in SIGNALS}
    receiver = FACTORY.create(settings(Kind.RECEIVER, "otlp", registry), config, consumers)
    assert isinstance(receiver, OtlpReceiver)
    host = ExtensionHost({ComponentId("auth"): extension} if extension is not None else {})
    await receiver.start(host)
    return Running(receiver, registry, consumers, extension)


@pytest.fixture
async def auth_extension() -> AsyncIterator[Any]:
    extension = await start_auth()
    yield extension
    await extension.shutdown()


@pytest.fixture
async def running(auth_extension: Any) -> AsyncIterator[Running]:
    run = await start_receiver(receiver_config(), auth_extension)
    yield run
    await run.receiver.shutdown()


# --- requests and what was stored ---------------------------------------------------------------


def otlp_request(signal: Signal) -> Any:
    """Two resources: one claiming tenant globex (twice, once as an int), one with no attributes."""
    request: Any = REQUEST_TYPES[signal]()
    for index in range(2):
        group = getattr(request, RESOURCE_GROUPS[signal]).add(schema_url=f"https://schema/{index}")
        if index == 0:
            attributes = group.resource.attributes
            attributes.add(key="service.name").value.string_value = "shop"
            attributes.add(key="tenant.id").value.string_value = "globex"
            attributes.add(key="host.name").value.string_value = "web-1"
            attributes.add(key="tenant.id").value.int_value = 7
        scope = getattr(group, SCOPE_GROUPS[signal]).add()
        scope.scope.name = f"lib-{index}"
        if signal is Signal.TRACES:
            scope.spans.add(name=f"span-{index}", trace_id=bytes([index + 1]) * 16, span_id=b"\x01" * 8)
        elif signal is Signal.LOGS:
            scope.log_records.add(time_unix_nano=index + 1).body.string_value = f"log-{index}"
        else:
            metric = scope.metrics.add(name=f"metric-{index}")
            metric.gauge.data_points.add(as_int=index + 40, time_unix_nano=index + 1)
    return request


def resources(batch: Batch) -> list[list[tuple[str, str]]]:
    """The (key, string value) attributes of each resource of a stored batch, in order."""
    request: Any = batch.otlp()
    return [
        [(kv.key, kv.value.string_value) for kv in group.resource.attributes]
        for group in getattr(request, RESOURCE_GROUPS[batch.signal])
    ]


def assert_stamped_as(batch: Batch, sent: Any, tenant: str) -> None:
    """Every resource holds tenant.id = `tenant` (once), the rest is exactly what was sent."""
    assert resources(batch) == [
        [("service.name", "shop"), ("host.name", "web-1"), ("tenant.id", tenant)],
        [("tenant.id", tenant)],
    ]
    stored: Any = batch.otlp()
    groups = RESOURCE_GROUPS[batch.signal]
    for got, want in zip(getattr(stored, groups), getattr(sent, groups), strict=True):
        assert got.schema_url == want.schema_url
        assert list(getattr(got, SCOPE_GROUPS[batch.signal])) == list(
            getattr(want, SCOPE_GROUPS[batch.signal])
        )


@dataclass
class Answer:
    """What a client got: the gRPC code or HTTP status, the message, and the HTTP headers."""

    ok: bool
    code: str
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None


async def send(
    run: Running,
    transport: str,
    signal: Signal,
    body: bytes,
    headers: Mapping[str, str],
    as_json: bool = False,
) -> Answer:
    """Send one raw Export request; the answer as the client saw it."""
    if transport == "grpc":
        async with aio.insecure_channel(run.grpc_target) as channel:
            call = channel.unary_unary(
                EXPORT_METHODS[signal], request_serializer=None, response_deserializer=None
            )
            try:
                await call(body, timeout=10, metadata=tuple(headers.items()))
            except aio.AioRpcError as err:
                retry_after = None
                for key, value in err.trailing_metadata() or ():
                    if key == "google.rpc.retryinfo-bin":
                        delay = RetryInfo.FromString(value).retry_delay
                        retry_after = delay.seconds + delay.nanos / 1e9
                return Answer(False, err.code().name, err.details() or "", retry_after=retry_after)
            return Answer(True, "OK")
    content_type = JSON if as_json else PROTOBUF
    async with httpx.AsyncClient() as client:
        response = await client.post(
            run.url(signal), content=body, headers={"content-type": content_type, **headers}
        )
    assert response.headers["content-type"] == content_type
    if response.status_code == 200:
        return Answer(True, "200")
    status = Status()
    if as_json:
        json_format.ParseDict(response.json(), status)
    else:
        status.ParseFromString(response.content)
    assert status.code == {400: 3, 401: 16, 403: 7, 429: 8}[response.status_code]  # the matching gRPC code
    return Answer(False, str(response.status_code), status.message, dict(response.headers))


async def extension_refusal(run: Running, headers: Mapping[str, str]) -> str:
    """Why the `auth` extension itself refuses these credentials (the message clients must see)."""
    with pytest.raises(AuthError) as refused:
        await run.extension.authenticate(headers)
    return str(refused.value)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def hs256(claims: Mapping[str, Any]) -> str:
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")


# --- real OpenTelemetry SDK exporters -----------------------------------------------------------


def sdk_export(run: Running, signal: Signal, transport: str, headers: dict[str, str]) -> str:
    """Record one item of `signal` with the SDK (resource: shop, claiming tenant globex) and export it
    with the SDK's OTLP exporter; the export result's name."""
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": "shop", "tenant.id": "globex"})
    grpc_kwargs: dict[str, Any] = {"endpoint": run.grpc_target, "insecure": True, "headers": headers}
    http_kwargs: dict[str, Any] = {"endpoint": run.url(signal), "headers": headers}
    exporter: Any
    data: Any
    if signal is Signal.TRACES:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory = InMemorySpanExporter()
        traces = TracerProvider(resource=resource)
        traces.add_span_processor(SimpleSpanProcessor(memory))
        with traces.get_tracer("checkout").start_as_current_span("pay"):
            pass
        data = list(memory.get_finished_spans())
        traces.shutdown()
        exporter = GrpcSpans(**grpc_kwargs) if transport == "grpc" else HttpSpans(**http_kwargs)
    elif signal is Signal.METRICS:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        meters = MeterProvider(resource=resource, metric_readers=[reader])
        meters.get_meter("checkout").create_counter("payments").add(3)
        data = reader.get_metrics_data()
        meters.shutdown()
        exporter = GrpcMetrics(**grpc_kwargs) if transport == "grpc" else HttpMetrics(**http_kwargs)
    else:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

        memory_logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        logs = LoggerProvider(resource=resource)
        logs.add_log_record_processor(SimpleLogRecordProcessor(memory_logs))
        logs.get_logger("checkout").emit(body="paid")
        data = list(memory_logs.get_finished_logs())
        logs.shutdown()
        exporter = GrpcLogs(**grpc_kwargs) if transport == "grpc" else HttpLogs(**http_kwargs)
    try:
        return str(exporter.export(data).name)
    finally:
        exporter.shutdown()


def sdk_item(batch: Batch) -> str:
    """The name (span, metric) or body (log) of the one item an SDK exporter sent."""
    request: Any = batch.otlp()
    (group,) = getattr(request, RESOURCE_GROUPS[batch.signal])
    (scope,) = getattr(group, SCOPE_GROUPS[batch.signal])
    if batch.signal is Signal.TRACES:
        return str(scope.spans[0].name)
    if batch.signal is Signal.METRICS:
        return str(scope.metrics[0].name)
    return str(scope.log_records[0].body.string_value)


SDK_ITEMS = {Signal.TRACES: "pay", Signal.METRICS: "payments", Signal.LOGS: "paid"}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_sdk_exporter_with_an_editor_token_stores_its_data_as_its_tenant(
    running: Running, signal: Signal, transport: str
) -> None:
    result = await asyncio.to_thread(sdk_export, running, signal, transport, bearer("acme-secret"))
    assert result == "SUCCESS"
    (batch,) = running.stored(signal)
    (attributes,) = resources(batch)
    # The SDK's resource claimed tenant globex: it is stored as acme, the token's one tenant.
    assert ("tenant.id", "acme") in attributes
    assert ("service.name", "shop") in attributes
    assert [key for key, _ in attributes].count("tenant.id") == 1
    assert sdk_item(batch) == SDK_ITEMS[signal]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_sdk_exporter_without_a_token_or_with_a_reader_token_stores_nothing(
    running: Running, signal: Signal, transport: str
) -> None:
    for headers in ({}, bearer("wrong"), bearer("reader")):
        result = await asyncio.to_thread(sdk_export, running, signal, transport, headers)
        assert result == "FAILURE"
    assert running.nothing_stored()
    assert running.refused(transport, "UNAUTHENTICATED") == 2
    assert running.refused(transport, "FORBIDDEN") == 1


# --- raw clients: every signal over both protocols ----------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_a_client_claiming_another_tenant_is_stored_as_its_own_on_every_resource(
    running: Running, signal: Signal, transport: str
) -> None:
    sent = otlp_request(signal)
    answer = await send(running, transport, signal, sent.SerializeToString(), bearer("acme-secret"))
    assert answer.ok
    (batch,) = running.stored(signal)
    assert_stamped_as(batch, sent, "acme")
    assert len(batch) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_no_token_or_a_bad_one_is_unauthenticated_and_nothing_is_consumed(
    running: Running, signal: Signal, transport: str
) -> None:
    body = otlp_request(signal).SerializeToString()
    credentials = [
        {},
        bearer("guess"),
        {"authorization": "Basic YTpi"},
        bearer(hs256({"exp": 1, "roles": "editor"})),
    ]
    code = "UNAUTHENTICATED" if transport == "grpc" else "401"
    for headers in credentials:
        answer = await send(running, transport, signal, body, headers)
        assert (answer.ok, answer.code) == (False, code)
        assert answer.message == await extension_refusal(running, headers)
        if transport == "http":
            assert answer.headers["www-authenticate"] == "Bearer"
    assert running.nothing_stored()
    assert running.refused(transport, "UNAUTHENTICATED") == 4


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_a_viewer_is_permission_denied(running: Running, signal: Signal, transport: str) -> None:
    body = otlp_request(signal).SerializeToString()
    answer = await send(running, transport, signal, body, bearer("reader"))
    assert (answer.ok, answer.code) == (False, "PERMISSION_DENIED" if transport == "grpc" else "403")
    assert answer.message == "'r' may not write telemetry: it has the viewer role, writing needs editor"
    assert "www-authenticate" not in answer.headers
    assert running.nothing_stored()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_a_jwt_with_a_tenant_claim_writes_as_that_tenant(
    running: Running, signal: Signal, transport: str
) -> None:
    sent = otlp_request(signal)
    token = hs256({"sub": "ci", "tenant": "initech", "roles": ["editor"]})
    answer = await send(running, transport, signal, sent.SerializeToString(), bearer(token))
    assert answer.ok
    (batch,) = running.stored(signal)
    assert_stamped_as(batch, sent, "initech")
    viewer = hs256({"sub": "dash", "tenant": "initech", "roles": "viewer"})
    refused = await send(running, transport, signal, sent.SerializeToString(), bearer(viewer))
    assert refused.code == ("PERMISSION_DENIED" if transport == "grpc" else "403")
    assert len(running.stored(signal)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_a_multi_tenant_token_picks_its_tenant_with_the_tenant_header(
    running: Running, signal: Signal, transport: str
) -> None:
    sent = otlp_request(signal)
    body = sent.SerializeToString()
    forbidden = "PERMISSION_DENIED" if transport == "grpc" else "403"

    without = await send(running, transport, signal, body, bearer("multi"))
    assert (without.ok, without.code) == (False, forbidden)
    assert without.message == (
        "'ops' may write as several tenants (acme, initech): "
        "name the one this data belongs to with the X-Scope-OrgID header"
    )
    foreign = await send(running, transport, signal, body, {**bearer("multi"), "x-scope-orgid": "globex"})
    assert (foreign.ok, foreign.code) == (False, forbidden)
    assert "'globex'" in foreign.message
    assert running.nothing_stored()

    picked = await send(running, transport, signal, body, {**bearer("multi"), "x-scope-orgid": "initech"})
    assert picked.ok
    (batch,) = running.stored(signal)
    assert_stamped_as(batch, sent, "initech")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_unrestricted_token_leaves_the_data_as_sent_unless_it_names_a_tenant(
    running: Running, transport: str
) -> None:
    sent = otlp_request(Signal.TRACES)
    body = sent.SerializeToString()
    assert (await send(running, transport, Signal.TRACES, body, bearer("root"))).ok
    headers = {**bearer("root"), "x-scope-orgid": "umbrella"}
    assert (await send(running, transport, Signal.TRACES, body, headers)).ok
    as_sent, named = running.stored(Signal.TRACES)
    assert as_sent.otlp_bytes() == body
    assert_stamped_as(named, sent, "umbrella")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("signal", SIGNALS)
async def test_without_auth_the_receiver_is_open_and_keeps_the_bytes(signal: Signal, transport: str) -> None:
    for auth in (None, "none"):
        run = await start_receiver(receiver_config(auth=auth))
        try:
            body = otlp_request(signal).SerializeToString()
            assert (await send(run, transport, signal, body, {})).ok
            (batch,) = run.stored(signal)
            assert batch.otlp_bytes() == body
            assert resources(batch)[0][1] == ("tenant.id", "globex")
        finally:
            await run.receiver.shutdown()


async def test_http_json_is_stamped_and_refusals_answer_in_json(running: Running) -> None:
    sent = otlp_request(Signal.LOGS)
    body = json_format.MessageToJson(sent).encode()
    refused = await send(running, "http", Signal.LOGS, body, bearer("nope"), as_json=True)
    assert refused.code == "401"
    assert refused.message == await extension_refusal(running, bearer("nope"))
    answer = await send(running, "http", Signal.LOGS, body, bearer("acme-secret"), as_json=True)
    assert answer.ok
    (batch,) = running.stored(Signal.LOGS)
    assert_stamped_as(batch, sent, "acme")


async def test_the_http_check_comes_before_reading_or_judging_the_body(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        wrong_type = await client.post(
            running.url(Signal.TRACES), content=b"<xml/>", headers={"content-type": "text/xml"}
        )
        wrong_method = await client.get(running.url(Signal.TRACES))
    assert (wrong_type.status_code, wrong_method.status_code) == (401, 401)
    assert wrong_type.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_malformed_data_from_a_valid_writer_is_still_invalid(running: Running, transport: str) -> None:
    answer = await send(running, transport, Signal.TRACES, b"\x0a\x05\x0a\x09garbage", bearer("acme-secret"))
    assert answer.code == ("INVALID_ARGUMENT" if transport == "grpc" else "400")
    assert running.nothing_stored()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_include_metadata_carries_the_writer_and_its_tenant(
    auth_extension: Any, transport: str
) -> None:
    run = await start_receiver(receiver_config(include_metadata=True), auth_extension)
    try:
        body = otlp_request(Signal.TRACES).SerializeToString()
        headers = {**bearer("acme-secret"), "auth.tenant": "globex", "auth.subject": "someone"}
        assert (await send(run, transport, Signal.TRACES, body, headers)).ok
        assert (await send(run, transport, Signal.TRACES, body, {**bearer("root"), "auth.tenant": "x"})).ok
        acme, root = run.stored(Signal.TRACES)
        assert acme.metadata["auth.subject"] == ("app-a",)
        assert acme.metadata["auth.tenant"] == ("acme",)
        assert root.metadata["auth.subject"] == ("root",)
        assert "auth.tenant" not in root.metadata
    finally:
        await run.receiver.shutdown()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_writer_over_its_rate_limit_is_told_when_to_retry(transport: str) -> None:
    prefix = f"airis:test:{uuid.uuid4().hex}:"
    limited = {**AUTH_CONFIG, "rate_limit": {"requests_per_second": 0.01, "burst": 1, "key_prefix": prefix}}
    extension = await start_auth(limited)
    run = await start_receiver(receiver_config(), extension)
    try:
        body = otlp_request(Signal.METRICS).SerializeToString()
        assert (await send(run, transport, Signal.METRICS, body, bearer("acme-secret"))).ok
        answer = await send(run, transport, Signal.METRICS, body, bearer("acme-secret"))
        assert (answer.ok, answer.code) == (False, "RESOURCE_EXHAUSTED" if transport == "grpc" else "429")
        assert answer.message.startswith("rate limit exceeded on otlp")
        if transport == "grpc":
            assert answer.retry_after is not None and 90 < answer.retry_after <= 100
        else:
            assert 90 < int(answer.headers["retry-after"]) <= 100
        assert len(run.stored(Signal.METRICS)) == 1
        assert run.refused(transport, "RATE_LIMITED") == 1
    finally:
        await run.receiver.shutdown()
        await extension.shutdown()


# --- config ---------------------------------------------------------------------------------------


def test_auth_decodes_in_the_collectors_configauth_shape() -> None:
    config, problems = decode(OtlpReceiverConfig, receiver_config(), "receivers::otlp")
    assert problems == [] and config is not None
    assert config.protocols.grpc is not None and config.protocols.http is not None
    assert config.protocols.grpc.auth is not None and config.protocols.grpc.auth.authenticator == "auth"
    assert config.protocols.http.auth is not None and config.protocols.http.auth.authenticator == "auth"
    default, _ = decode(OtlpReceiverConfig, {"protocols": {"grpc": None}}, "receivers::otlp")
    assert default is not None and default.protocols.grpc is not None
    assert default.protocols.grpc.auth is None


def test_auth_mistakes_are_reported_with_their_key_paths() -> None:
    raw = {"protocols": {"grpc": {"auth": None}, "http": {"auth": {"authenticator": "bad/"}}}}
    _, problems = decode(OtlpReceiverConfig, raw, "receivers::otlp")
    assert [p.path for p in problems] == [
        "receivers::otlp::protocols::grpc::auth::authenticator",
        "receivers::otlp::protocols::http::auth::authenticator",
    ]
    assert "name an `auth` extension" in problems[0].message
    assert "must not be empty" in problems[1].message
    _, unknown = decode(OtlpReceiverConfig, {"protocols": {"http": {"auth": {"authenticatr": "a"}}}})
    assert [p.path for p in unknown] == [
        "protocols::http::auth::authenticatr",
        "protocols::http::auth::authenticator",  # a misspelt key leaves the extension unnamed
    ]


async def test_an_auth_extension_that_is_not_started_fails_start_naming_the_key() -> None:
    raw = receiver_config()
    raw["protocols"]["grpc"].pop("auth")
    raw["protocols"]["http"]["auth"] = {"authenticator": "auth/missing"}
    with pytest.raises(ConfigError) as caught:
        await start_receiver(raw)
    (problem,) = caught.value.problems
    assert problem.path == "receivers::otlp::protocols::http::auth::authenticator"
    assert "'auth/missing' is not a started `auth` extension" in problem.message


async def test_the_service_wires_the_auth_extension_from_yaml(
    sdk_grpc_and_http_ports: tuple[int, int],
) -> None:
    grpc_port, http_port = sdk_grpc_and_http_ports
    text = f"""
extensions:
  auth:
    tenant_attribute: tenant.id
    tokens:
      - {{token: acme-secret, subject: app-a, tenants: [acme], role: editor}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}", auth: {{authenticator: auth}}}}
      http: {{endpoint: "127.0.0.1:{http_port}", auth: {{authenticator: auth}}}}
exporters: {{recorder: }}
service:
  extensions: [auth]
  pipelines:
    traces: {{receivers: [otlp], exporters: [recorder]}}
"""
    registry = registry_with_test_components()
    registry.add(AUTH_FACTORY)
    service = Service(lambda: load_yaml(text, "auth.yaml"), registry)
    await service.start()
    try:
        recorder = next(iter(JOURNAL.exporters.values()))
        body = otlp_request(Signal.TRACES).SerializeToString()
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{http_port}/v1/traces"
            refused = await client.post(url, content=body, headers={"content-type": PROTOBUF})
            accepted = await client.post(
                url, content=body, headers={"content-type": PROTOBUF, **bearer("acme-secret")}
            )
        async with aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            call = channel.unary_unary(EXPORT_METHODS[Signal.TRACES])
            with pytest.raises(aio.AioRpcError) as denied:
                await call(body, timeout=10)
            await call(body, timeout=10, metadata=tuple(bearer("acme-secret").items()))
        assert (refused.status_code, accepted.status_code) == (401, 200)
        assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert [resources(b)[1] for b in recorder.batches] == [[("tenant.id", "acme")]] * 2
    finally:
        await service.shutdown()


@pytest.fixture
def sdk_grpc_and_http_ports() -> tuple[int, int]:
    return free_port(), free_port()


# --- stamping, bytes and messages ---------------------------------------------------------------


@pytest.mark.parametrize("signal", SIGNALS)
def test_stamping_bytes_matches_stamping_the_parsed_message(signal: Signal) -> None:
    request = otlp_request(signal)
    empty_group = getattr(request, RESOURCE_GROUPS[signal]).add()  # no resource, no scopes
    assert empty_group.ByteSize() == 0
    data = request.SerializeToString()
    stamped = stamp_otlp_bytes(signal, data, "tenant.id", "acme")
    expected = copy.deepcopy(request)
    stamp_otlp_message(signal, expected, "tenant.id", "acme")
    parsed = type(request).FromString(stamped)
    assert parsed == expected
    groups = getattr(parsed, RESOURCE_GROUPS[signal])
    assert [[(kv.key, kv.value.string_value) for kv in g.resource.attributes] for g in groups] == [
        [("service.name", "shop"), ("host.name", "web-1"), ("tenant.id", "acme")],
        [("tenant.id", "acme")],
        [("tenant.id", "acme")],
    ]


def test_stamping_bytes_merges_a_resource_sent_in_pieces_and_keeps_unknown_fields() -> None:
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

    first, second = Resource(), Resource()
    first.attributes.add(key="tenant.id").value.string_value = "globex"
    second.attributes.add(key="service.name").value.string_value = "shop"
    second.dropped_attributes_count = 3
    group = ResourceSpans(schema_url="s").SerializeToString()
    group += b"\x0a" + bytes([first.ByteSize()]) + first.SerializeToString()
    group += b"\x0a" + bytes([second.ByteSize()]) + second.SerializeToString()
    group += b"\xa0\x06\x05"  # field 100, varint 5: unknown to this proto version
    data = b"\x0a" + bytes([len(group)]) + group + b"\x10\x01"  # and an unknown top-level field
    stamped_bytes = stamp_otlp_bytes(Signal.TRACES, data, "tenant.id", "a")
    stamped = ExportTraceServiceRequest.FromString(stamped_bytes)
    resource = stamped.resource_spans[0].resource
    assert [(kv.key, kv.value.string_value) for kv in resource.attributes] == [
        ("service.name", "shop"),
        ("tenant.id", "a"),
    ]
    assert resource.dropped_attributes_count == 3
    assert stamped.resource_spans[0].schema_url == "s"
    assert b"\xa0\x06\x05" in stamped_bytes and stamped_bytes.endswith(b"\x10\x01")


def test_stamping_bytes_the_fast_path_cannot_walk_goes_through_the_parser() -> None:
    request = otlp_request(Signal.LOGS)
    group = b"\x93\x03\x08\x01\x94\x03"  # a (deprecated) wire group, field 50: legal, not walked by hand
    data = request.SerializeToString() + b"\x0a" + bytes([len(group)]) + group
    parsed = ExportLogsServiceRequest.FromString(stamp_otlp_bytes(Signal.LOGS, data, "tenant.id", "acme"))
    assert [g.resource.attributes[-1].value.string_value for g in parsed.resource_logs] == ["acme"] * 3
    with pytest.raises(MalformedData, match="invalid OTLP logs request"):
        stamp_otlp_bytes(Signal.LOGS, b"\x0a\x05\x0a\x09abc", "tenant.id", "acme")


def test_stamping_bytes_reads_keys_as_protobuf_does() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    def field(payload: bytes) -> bytes:
        return b"\x0a" + bytes([len(payload)]) + payload

    # The key sent twice (protobuf keeps the last): an attempt to smuggle a tenant past a first-key check.
    smuggled = field(b"x") + field(b"tenant.id") + b"\x12" + bytes([9]) + field(b"globex!")
    named_like_the_key = KeyValue(key="note")
    named_like_the_key.value.string_value = "tenant.id"  # the key's bytes, but as a value
    resource = field(smuggled) + field(named_like_the_key.SerializeToString())
    data = field(field(resource))
    assert [kv.key for kv in Resource.FromString(resource).attributes] == ["tenant.id", "note"]
    stamped = ExportTraceServiceRequest.FromString(stamp_otlp_bytes(Signal.TRACES, data, "tenant.id", "acme"))
    attributes = stamped.resource_spans[0].resource.attributes
    assert [(kv.key, kv.value.string_value) for kv in attributes] == [
        ("note", "tenant.id"),
        ("tenant.id", "acme"),
    ]
