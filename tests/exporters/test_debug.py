"""The debug exporter writes batches at three levels of detail and counts what it sent."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector.component import ComponentId, Kind, Settings
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.debug.exporter import DebugExporter
from exporters.debug.factory import FACTORY, DebugExporterConfig
from tests.collector.test_graph import spans


def exporter(signal: Signal = Signal.TRACES, **config: object) -> DebugExporter:
    settings = Settings(ComponentId("debug"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("t"))
    return DebugExporter(settings, DebugExporterConfig(**config), signal)  # type: ignore[arg-type]


def test_basic_verbosity_is_one_summary_line() -> None:
    assert exporter().render(spans("a", "b")) == "Traces: 1 resource groups, 2 spans"


def test_normal_verbosity_is_a_line_per_item() -> None:
    batch = spans("checkout")
    span = batch.otlp().resource_spans[0].scope_spans[0].spans[0]  # type: ignore[attr-defined]
    assert exporter(verbosity="normal").render(batch).splitlines()[1] == (
        f"checkout {span.trace_id.hex()} {span.span_id.hex()}"
    )


def test_normal_verbosity_prints_log_bodies_and_metric_values() -> None:
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(severity_text="WARN")
    record.body.string_value = "disk full"
    record.attributes.add(key="disk").value.int_value = 3
    assert exporter(Signal.LOGS, verbosity="normal").render(Batch.from_otlp(logs)).splitlines() == [
        "Logs: 1 resource groups, 1 log records",
        "WARN disk full disk=3",
    ]
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="queue")
    metric.gauge.data_points.add(as_int=7)
    assert exporter(Signal.METRICS, verbosity="normal").render(Batch.from_otlp(metrics)).splitlines()[1] == (
        "queue gauge 7"
    )


def test_detailed_verbosity_prints_every_field() -> None:
    text = exporter(verbosity="detailed").render(spans("a"))
    assert 'name: "a"' in text and "trace_id:" in text


async def test_it_counts_sent_items_and_never_fails(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(ComponentId("debug"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("t"))
    debug = FACTORY.create(settings, DebugExporterConfig(), Signal.TRACES)
    await debug.start(None)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        await debug.consume(spans("a", "b", "c"))
    await debug.shutdown()
    assert "Traces: 1 resource groups, 3 spans" in caplog.text
    assert settings.telemetry.get("otelcol_exporter_sent_spans_total").value(exporter="debug") == 3


async def test_sampling_writes_the_first_then_every_nth_per_second(caplog: pytest.LogCaptureFixture) -> None:
    debug = exporter(sampling_initial=2, sampling_thereafter=3)
    now = [100.0]
    debug.sampler.clock = lambda: now[0]
    with caplog.at_level(logging.INFO):
        for _ in range(8):
            await debug.send(spans("a"), 1)
        assert len(caplog.records) == 4  # the 1st, 2nd, 5th and 8th
        now[0] = 101.0
        await debug.send(spans("a"), 1)
        assert len(caplog.records) == 5  # a new second starts afresh


def test_sampling_must_be_positive() -> None:
    from collector.configstruct import decode

    _, problems = decode(FACTORY.config_type, {"sampling_thereafter": 0}, "exporters::debug")
    assert [str(p) for p in problems] == [
        "exporters::debug: sampling_initial and sampling_thereafter must be at least 1"
    ]
