"""Log records for the log service's tests, written the way production writes them: OTLP requests
through the clickhouse exporter's write path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import NANOS
from collector.pdata import Batch
from exporters.clickhouse import logs

T0 = 1_795_000_000 * NANOS
"""A fixed moment (2026-11-18T11:06:40Z) the search tests' records are stamped around."""
SEVERITIES = {1: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL"}


@dataclass
class Record:
    """One log record to write."""

    body: str
    time_ns: int = T0
    service: str = "api"
    severity: int = 9
    severity_text: str | None = None
    """None: the usual name of `severity`."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    resource: Mapping[str, str] = field(default_factory=dict)
    trace_id: bytes = b""
    span_id: bytes = b""


def request(records: Iterable[Record]) -> ExportLogsServiceRequest:
    """One OTLP request: a resource per (service, resource attributes), records in the given order."""
    out = ExportLogsServiceRequest()
    scopes: dict[tuple[str, tuple[tuple[str, str], ...]], object] = {}
    for rec in records:
        group = (rec.service, tuple(sorted(rec.resource.items())))
        if group not in scopes:
            rl = out.resource_logs.add()
            rl.resource.attributes.add(key="service.name").value.string_value = rec.service
            for key, value in group[1]:
                rl.resource.attributes.add(key=key).value.string_value = value
            scope = rl.scope_logs.add()
            scope.scope.name = "tests"
            scopes[group] = scope
        text = SEVERITIES.get(rec.severity, "") if rec.severity_text is None else rec.severity_text
        log = scopes[group].log_records.add(  # type: ignore[attr-defined]
            time_unix_nano=rec.time_ns,
            observed_time_unix_nano=rec.time_ns + 1000,
            severity_number=rec.severity,
            severity_text=text,
            trace_id=rec.trace_id,
            span_id=rec.span_id,
        )
        log.body.string_value = rec.body
        for key, value in rec.attributes.items():
            log.attributes.add(key=key).value.string_value = value
    return out


async def write(backend: ClickHouseBackend, records: Iterable[Record]) -> None:
    """Write `records` into otel_logs through the clickhouse exporter."""
    await logs.write(backend, "otel_logs", Batch.from_otlp(request(records)))
