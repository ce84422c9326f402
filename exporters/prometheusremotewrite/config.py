"""The `prometheusremotewrite` exporter's config: collector-contrib's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from collector.errors import ConfigError, Problem
from collector.tlsconfig import TlsClientConfig
from exporters.exporterhelper.config import ExporterHelperConfig, QueueConfig, RetryConfig

__all__ = [
    "PrometheusRemoteWriteExporterConfig",
    "RemoteWriteQueueConfig",
    "ResourceToTelemetryConfig",
    "TargetInfoConfig",
]


@dataclass
class ResourceToTelemetryConfig:
    """`resource_to_telemetry_conversion`: copy every resource attribute onto each data point."""

    enabled: bool = False


@dataclass
class TargetInfoConfig:
    """`target_info`: whether resources' other attributes are sent as a `target_info` series."""

    enabled: bool = True


@dataclass
class RemoteWriteQueueConfig:
    """contrib's `remote_write_queue`: when given, it sets the sending queue (one worker, to keep samples in
    order) and `num_consumers` becomes the number of concurrent requests one batch is sent with."""

    enabled: bool = True
    queue_size: int = 10_000
    num_consumers: int = 5

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = [
            Problem(key, f"must not be negative, got {getattr(self, key)}")
            for key in ("queue_size", "num_consumers")
            if getattr(self, key) < 0
        ]
        if self.enabled and self.queue_size == 0:
            problems.append(Problem("queue_size", "a 0 size queue will drop all the data"))
        if problems:
            raise ConfigError(problems)


def _default_queue() -> QueueConfig:
    # One worker: Prometheus refuses samples older than the newest of their series (out of order).
    return QueueConfig(num_consumers=1)


def _default_retry() -> RetryConfig:
    return RetryConfig(
        initial_interval=timedelta(milliseconds=50),
        max_interval=timedelta(milliseconds=200),
        max_elapsed_time=timedelta(minutes=1),
    )


@dataclass
class PrometheusRemoteWriteExporterConfig(ExporterHelperConfig):
    """Config of the `prometheusremotewrite` exporter (remote write 1.0)."""

    endpoint: str = ""
    """The remote write URL, e.g. `http://prometheus:9090/api/v1/write`."""
    headers: dict[str, str] = field(default_factory=dict)
    tls: TlsClientConfig = field(default_factory=TlsClientConfig)
    """Used for https:// URLs."""
    namespace: str = ""
    """Prefix of every metric name (`<namespace>_<name>`)."""
    external_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to every series (a data point's own attribute of the same name wins)."""
    resource_to_telemetry_conversion: ResourceToTelemetryConfig = field(
        default_factory=ResourceToTelemetryConfig
    )
    add_metric_suffixes: bool = True
    """Unit and type suffixes (`_seconds`, `_total`, `_ratio`) on metric names."""
    target_info: TargetInfoConfig = field(default_factory=TargetInfoConfig)
    send_metadata: bool = False
    """Send each metric's type, help and unit as MetricMetadata."""
    max_batch_size_bytes: int = 3_000_000
    """Largest uncompressed WriteRequest; a bigger batch is sent as several requests."""
    remote_write_queue: RemoteWriteQueueConfig | None = None
    max_cumulative_series: int = 100_000
    """Series whose delta points are summed into the cumulative values Prometheus needs."""
    sending_queue: QueueConfig = field(default_factory=_default_queue)
    retry_on_failure: RetryConfig = field(default_factory=_default_retry)

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = []
        if not self.endpoint:
            problems.append(Problem("endpoint", "must be set (e.g. http://prometheus:9090/api/v1/write)"))
        else:
            try:
                parts = urlsplit(self.endpoint)
                parts.port  # noqa: B018 -- raises ValueError on a bad port
            except ValueError as err:
                problems.append(Problem("endpoint", f"{self.endpoint!r} is not a valid URL: {err}"))
            else:
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    problems.append(
                        Problem(
                            "endpoint", f"{self.endpoint!r} is not an http:// or https:// URL with a host"
                        )
                    )
        for key, value in self.external_labels.items():
            if not key or not value:
                problems.append(
                    Problem("external_labels", f"contains an empty key or value ({key!r}: {value!r})")
                )
        if self.max_batch_size_bytes < 1:
            problems.append(
                Problem("max_batch_size_bytes", f"must be at least 1, got {self.max_batch_size_bytes}")
            )
        if self.max_cumulative_series < 1:
            problems.append(
                Problem("max_cumulative_series", f"must be at least 1, got {self.max_cumulative_series}")
            )
        if problems:
            raise ConfigError(problems)
