"""airis's own telemetry: Prometheus text with the collector's names, and its logs."""

from __future__ import annotations

import json
import logging

import pytest

from collector.signal import Signal
from collector.telemetry import ExporterTelemetry, MetricsRegistry, ReceiverTelemetry, configure_logging


def test_receiver_and_exporter_series_use_the_collectors_names() -> None:
    registry = MetricsRegistry()
    receiver = ReceiverTelemetry(registry, "otlp", "grpc")
    receiver.accepted(Signal.TRACES, 5)
    receiver.accepted(Signal.TRACES, 2)
    receiver.refused(Signal.LOGS, 1)
    exporter = ExporterTelemetry(registry, "otlp/backend")
    exporter.sent(Signal.METRICS, 3)
    exporter.send_failed(Signal.METRICS, 4)
    exporter.enqueue_failed(Signal.METRICS, 6)
    exporter.queue(Signal.METRICS, lambda: 12, 1000)
    lines = registry.render().splitlines()
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 7' in lines
    assert 'otelcol_receiver_refused_log_records_total{receiver="otlp",transport="grpc"} 1' in lines
    assert 'otelcol_exporter_sent_metric_points_total{exporter="otlp/backend"} 3' in lines
    assert 'otelcol_exporter_send_failed_metric_points_total{exporter="otlp/backend"} 4' in lines
    assert 'otelcol_exporter_enqueue_failed_metric_points_total{exporter="otlp/backend"} 6' in lines
    assert 'otelcol_exporter_queue_size{data_type="metrics",exporter="otlp/backend"} 12' in lines
    assert 'otelcol_exporter_queue_capacity{data_type="metrics",exporter="otlp/backend"} 1000' in lines
    assert "# TYPE otelcol_receiver_accepted_spans counter" in lines
    assert "# TYPE otelcol_exporter_queue_size gauge" in lines


def test_label_values_are_escaped() -> None:
    registry = MetricsRegistry()
    registry.counter("x", "help").add(1, name='a"b\\c\nd')
    assert 'x_total{name="a\\"b\\\\c\\nd"} 1' in registry.render().splitlines()


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warn", "json")
    try:
        logging.getLogger("airis.test").info("hidden below warn")
        logging.getLogger("airis.test").warning("disk %s", "full")
    finally:
        configure_logging("info", "console")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["level"], entry["logger"], entry["msg"]) == ("warning", "airis.test", "disk full")


def test_console_logs_are_tab_separated(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "console")
    try:
        logging.getLogger("airis.test").debug("hello")
    finally:
        configure_logging("info", "console")
    assert capsys.readouterr().err.strip().endswith("\tDEBUG\tairis.test\thello")
