"""airis's own telemetry: metrics with the collector's names in Prometheus text, and its own logs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collector.signal import Signal

if TYPE_CHECKING:
    from collector.config import TelemetryConfig
    from collector.httpserver import HttpServer

# What the collector's metric names call one item of each signal.
ITEM_NAMES: dict[Signal, str] = {
    Signal.TRACES: "spans",
    Signal.METRICS: "metric_points",
    Signal.LOGS: "log_records",
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


class Metric:
    """One named counter or gauge with labelled series."""

    def __init__(self, name: str, kind: str, help_: str, unit: str = "") -> None:
        self.name, self.kind, self.help, self.unit = name, kind, help_, unit
        self.series: dict[Labels, float] = {}
        self.callbacks: dict[Labels, Callable[[], float]] = {}

    def add(self, amount: float, **labels: str) -> None:
        """Add to the series with `labels` (counters only ever go up)."""
        key = tuple(sorted(labels.items()))
        self.series[key] = self.series.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        """Set a gauge series."""
        self.series[tuple(sorted(labels.items()))] = value

    def observe(self, callback: Callable[[], float], **labels: str) -> None:
        """Read the series from `callback` at every scrape."""
        self.callbacks[tuple(sorted(labels.items()))] = callback

    def forget(self, **labels: str) -> None:
        """Drop a callback series (its component is gone)."""
        self.callbacks.pop(tuple(sorted(labels.items())), None)

    def value(self, **labels: str) -> float:
        """The current value of one series (0 if never set)."""
        key = tuple(sorted(labels.items()))
        return self.callbacks[key]() if key in self.callbacks else self.series.get(key, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name.removesuffix('_total')} {self.kind}"]
        values = dict(self.series)
        for key, callback in self.callbacks.items():
            values[key] = callback()
        lines += [f"{self.name}{_format_labels(k)} {v:.17g}" for k, v in sorted(values.items())]
        return lines


class MetricsRegistry:
    """airis's own metrics; `render()` is the Prometheus text exposition (0.0.4)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self.started = time.monotonic()
        self.counter("otelcol_process_uptime_total", "Uptime of the process", "s").observe(
            lambda: time.monotonic() - self.started
        )
        self.gauge("otelcol_process_memory_rss", "Total physical memory (resident set size)", "By").observe(
            resident_memory_bytes
        )

    def counter(self, name: str, help_: str, unit: str = "") -> Metric:
        """The counter `name` (created on first use); its name ends in `_total`."""
        return self._get(name if name.endswith("_total") else f"{name}_total", "counter", help_, unit)

    def gauge(self, name: str, help_: str, unit: str = "") -> Metric:
        """The gauge `name` (created on first use)."""
        return self._get(name, "gauge", help_, unit)

    def _get(self, name: str, kind: str, help_: str, unit: str) -> Metric:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = Metric(name, kind, help_, unit)
        return metric

    def get(self, name: str) -> Metric:
        """An existing metric by its full name; KeyError if none."""
        return self._metrics[name]

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._metrics):
            lines += self._metrics[name].render()
        return "\n".join(lines) + "\n"


def resident_memory_bytes() -> float:
    """This process's resident set size, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:
        return 0.0


class ReceiverTelemetry:
    """The `otelcol_receiver_*` series of one receiver and transport."""

    def __init__(self, registry: MetricsRegistry, receiver: str, transport: str) -> None:
        self.registry, self.labels = registry, {"receiver": receiver, "transport": transport}

    def accepted(self, signal: Signal, items: int) -> None:
        name = f"otelcol_receiver_accepted_{ITEM_NAMES[signal]}"
        self.registry.counter(
            name, f"Number of {ITEM_NAMES[signal]} successfully pushed into the pipeline."
        ).add(items, **self.labels)

    def refused(self, signal: Signal, items: int) -> None:
        name = f"otelcol_receiver_refused_{ITEM_NAMES[signal]}"
        self.registry.counter(
            name, f"Number of {ITEM_NAMES[signal]} that could not be pushed into the pipeline."
        ).add(items, **self.labels)


class ExporterTelemetry:
    """The `otelcol_exporter_*` series of one exporter."""

    def __init__(self, registry: MetricsRegistry, exporter: str) -> None:
        self.registry, self.labels = registry, {"exporter": exporter}

    def sent(self, signal: Signal, items: int) -> None:
        self.registry.counter(
            f"otelcol_exporter_sent_{ITEM_NAMES[signal]}",
            f"Number of {ITEM_NAMES[signal]} successfully sent to destination.",
        ).add(items, **self.labels)

    def send_failed(self, signal: Signal, items: int) -> None:
        self.registry.counter(
            f"otelcol_exporter_send_failed_{ITEM_NAMES[signal]}",
            f"Number of {ITEM_NAMES[signal]} in failed attempts to send to destination.",
        ).add(items, **self.labels)

    def enqueue_failed(self, signal: Signal, items: int) -> None:
        self.registry.counter(
            f"otelcol_exporter_enqueue_failed_{ITEM_NAMES[signal]}",
            f"Number of {ITEM_NAMES[signal]} failed to be added to the sending queue.",
        ).add(items, **self.labels)

    def queue(self, signal: Signal, size: Callable[[], float], capacity: float) -> None:
        labels = {**self.labels, "data_type": str(signal)}
        self.registry.gauge(
            "otelcol_exporter_queue_size", "Current size of the retry queue (in batches)"
        ).observe(size, **labels)
        self.registry.gauge(
            "otelcol_exporter_queue_capacity", "Fixed capacity of the retry queue (in batches)"
        ).set(capacity, **labels)


def processor_item_counters(registry: MetricsRegistry) -> tuple[Metric, Metric]:
    """`otelcol_processor_incoming_items` and `..._outgoing_items` (labels: processor, otel_signal, pipeline)."""
    return (
        registry.counter("otelcol_processor_incoming_items", "Number of items passed to the processor."),
        registry.counter("otelcol_processor_outgoing_items", "Number of items emitted from the processor."),
    )


def metrics_app(registry: MetricsRegistry) -> Any:
    """A tiny ASGI app serving `registry` at /metrics."""
    from starlette.responses import PlainTextResponse

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics":
            response = PlainTextResponse(registry.render(), media_type="text/plain; version=0.0.4")
        else:
            response = PlainTextResponse("not found: try /metrics\n", status_code=404)
        await response(scope, receive, send)

    return app


def metrics_server(registry: MetricsRegistry, config: TelemetryConfig) -> HttpServer | None:
    """The internal telemetry endpoint, or None when `service.telemetry.metrics.level` is none."""
    if config.metrics.level == "none":
        return None
    from collector.httpserver import HttpServer

    return HttpServer(
        metrics_app(registry), config.metrics.address, "internal telemetry (service::telemetry::metrics)"
    )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", encoding: str = "console") -> None:
    """Send airis's logs to stderr at `level`, as console text or one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    if encoding == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s\t%(levelname)s\t%(name)s\t%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_airis", False):
            root.removeHandler(old)
    handler._airis = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    logging.getLogger("uvicorn").setLevel(max(LEVELS[level], logging.WARNING))
