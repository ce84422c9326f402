"""Telemetry of two tenants for the gateway's tests: the same service names in both, so a leak shows.

Each tenant has TRACES traces (frontend → backend, the backend span an error in the first), a log
record per span carrying its trace and span ids, and a gauge `queue.depth` with its own value.
`new_log` and `new_trace` make telemetry stamped now, for the live subscriptions.
"""

from __future__ import annotations

import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TENANTS = ("acme", "globex")
TRACES = 3
GAUGE = {"acme": 7.0, "globex": 1000.0}
"""Each tenant's `queue.depth` value."""
NOW_NS = time.time_ns() - 60 * 1_000_000_000
"""When the data happened: a minute before the tests start (inside every default range)."""


def trace_id(tenant: str, n: int) -> str:
    """The 32-hex id of trace `n` of `tenant`."""
    return f"{TENANTS.index(tenant) + 1:02x}{n:030x}"


def span_id(tenant: str, n: int, child: bool) -> str:
    return f"{TENANTS.index(tenant) + 1:02x}{n:012x}{int(child):02x}"


def _resource(attributes: object, service: str, tenant: str) -> None:
    for key, value in (("service.name", service), ("tenant.id", tenant)):
        attributes.add(key=key).value.string_value = value  # type: ignore[attr-defined]


def traces(tenant: str) -> ExportTraceServiceRequest:
    """TRACES two-span traces of `tenant`."""
    request = ExportTraceServiceRequest()
    for service, child in (("frontend", False), ("backend", True)):
        rs = request.resource_spans.add()
        _resource(rs.resource.attributes, service, tenant)
        scope = rs.scope_spans.add()
        for n in range(TRACES):
            start = NOW_NS + n * 1_000_000_000 + (5_000_000 if child else 0)
            span = scope.spans.add(
                trace_id=bytes.fromhex(trace_id(tenant, n)),
                span_id=bytes.fromhex(span_id(tenant, n, child)),
                parent_span_id=bytes.fromhex(span_id(tenant, n, False)) if child else b"",
                name="GET /orders" if not child else "SELECT orders",
                kind=Span.SPAN_KIND_SERVER if not child else Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + (50_000_000 if not child else 20_000_000),
            )
            span.attributes.append(
                KeyValue(key="tenant.secret", value=AnyValue(string_value=f"{tenant}-{n}"))
            )
            if child and n == 0:
                span.status.code = Status.STATUS_CODE_ERROR
    return request


def logs(tenant: str) -> ExportLogsServiceRequest:
    """One record per span of `traces(tenant)`, body naming the tenant."""
    request = ExportLogsServiceRequest()
    for service, child in (("frontend", False), ("backend", True)):
        rl = request.resource_logs.add()
        _resource(rl.resource.attributes, service, tenant)
        scope = rl.scope_logs.add()
        for n in range(TRACES):
            record = scope.log_records.add(
                time_unix_nano=NOW_NS + n * 1_000_000_000 + (6_000_000 if child else 1_000_000),
                severity_number=17 if child and n == 0 else 9,
                severity_text="ERROR" if child and n == 0 else "INFO",
                trace_id=bytes.fromhex(trace_id(tenant, n)),
                span_id=bytes.fromhex(span_id(tenant, n, child)),
            )
            record.body.string_value = f"{tenant} order {n} handled by {service}"
    return request


def metrics(tenant: str) -> ExportMetricsServiceRequest:
    """A gauge `queue.depth` of the frontend, GAUGE[tenant] every 10 s from 5 minutes before NOW_NS
    to an hour after it, so an instant query at "now" finds a fresh point however late a test runs."""
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    _resource(rm.resource.attributes, "frontend", tenant)
    metric = rm.scope_metrics.add().metrics.add(name="queue.depth", unit="1")
    for step in range(-360, 30):
        point = metric.gauge.data_points.add(
            time_unix_nano=NOW_NS - step * 10_000_000_000, as_double=GAUGE[tenant]
        )
        point.attributes.append(KeyValue(key="queue", value=AnyValue(string_value="orders")))
    return request


def new_log(tenant: str, body: str, service: str = "frontend") -> ExportLogsServiceRequest:
    """One INFO record of `tenant` stamped now, for live tails."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    _resource(rl.resource.attributes, service, tenant)
    record = rl.scope_logs.add().log_records.add(
        time_unix_nano=time.time_ns(), severity_number=9, severity_text="INFO"
    )
    record.body.string_value = body
    return request


def new_trace(tenant: str, trace: str, service: str = "checkout") -> ExportTraceServiceRequest:
    """A one-span trace `trace` (32 hex digits) of `tenant`'s `service`, started now, for live streams."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    _resource(rs.resource.attributes, service, tenant)
    start = time.time_ns()
    rs.scope_spans.add().spans.add(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(trace[:16]),
        name="POST /checkout",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 10_000_000,
    )
    return request


__all__ = [
    "GAUGE",
    "NOW_NS",
    "TENANTS",
    "TRACES",
    "logs",
    "metrics",
    "new_log",
    "new_trace",
    "span_id",
    "trace_id",
    "traces",
]
