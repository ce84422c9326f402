"""The `prometheusremotewrite` receiver's config: collector-contrib's keys (confighttp's server) and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from collector.config import split_host_port
from collector.errors import ConfigError, Problem
from collector.tlsconfig import TlsServerConfig

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "WRITE_PATH",
    "PrometheusRemoteWriteReceiverConfig",
]

DEFAULT_ENDPOINT = "localhost:9090"
DEFAULT_MAX_REQUEST_BODY_SIZE = 10 * 1024 * 1024
WRITE_PATH = "/api/v1/write"
"""Where remote write is served, as the contrib receiver (and Prometheus) serve it."""


@dataclass
class PrometheusRemoteWriteReceiverConfig:
    """Config of the `prometheusremotewrite` receiver."""

    endpoint: str = DEFAULT_ENDPOINT
    """host:port to listen on; requests are POSTed to `/api/v1/write`."""
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    """The largest body accepted, both as received and once decompressed."""
    tls: TlsServerConfig | None = None
    trim_metric_suffixes: bool = False
    """Drop `_total` and unit suffixes from metric names (the prometheus receiver's key); off as in contrib."""
    max_cached_series: int = 50_000
    """Label sets remembered with their encoded attributes (each new series costs a decode once)."""

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = []
        try:
            split_host_port(self.endpoint)
        except ValueError as err:
            problems.append(Problem("endpoint", str(err)))
        if self.max_request_body_size < 1:
            problems.append(
                Problem("max_request_body_size", f"must be at least 1, got {self.max_request_body_size}")
            )
        if self.max_cached_series < 1:
            problems.append(Problem("max_cached_series", f"must be at least 1, got {self.max_cached_series}"))
        if problems:
            raise ConfigError(problems)
