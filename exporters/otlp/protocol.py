"""What the `otlp` and `otlphttp` exporters share: export responses, partial success, the user agent.

Imports neither grpc nor httpx, so each exporter loads only its own transport.
"""

from __future__ import annotations

import logging
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.signal import Signal

__all__ = ["EXPORT_RESPONSES", "log_partial_success", "user_agent"]

# Each signal's Export*ServiceResponse, the field counting rejected items, and what they are called.
EXPORT_RESPONSES: dict[Signal, tuple[type[Any], str, str]] = {
    Signal.TRACES: (ExportTraceServiceResponse, "rejected_spans", "spans"),
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points", "data points"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records", "log records"),
}


def user_agent() -> str:
    """`airis/<version> (<os>/<arch>)`, as the collector's exporters identify themselves."""
    try:
        release = version("airis")
    except PackageNotFoundError:
        release = "dev"
    return f"airis/{release} ({sys.platform}/{platform.machine()})"


def log_partial_success(logger: logging.Logger, signal: Signal, response: Any, what: str) -> None:
    """Warn about items the server rejected while accepting the request (as the collector: no retry)."""
    _, rejected_field, items = EXPORT_RESPONSES[signal]
    partial = response.partial_success
    rejected = getattr(partial, rejected_field)
    if rejected or partial.error_message:
        logger.warning(
            "%s: partial success: the server rejected %d %s: %s",
            what,
            rejected,
            items,
            partial.error_message or "(no message)",
        )
