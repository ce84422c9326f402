"""The `otlphttp` exporter's config: the base URL or per-signal URLs, encoding, compression, TLS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from collector.errors import ConfigError, Problem
from collector.signal import Signal
from collector.tlsconfig import TlsClientConfig
from exporters.exporterhelper.config import ExporterHelperConfig

__all__ = ["HttpCompression", "OtlpHttpExporterConfig"]

# The collector's confighttp encodings (`snappy` is the block format, `x-snappy-framed` the framed one).
HttpCompression = Literal["gzip", "zstd", "zlib", "deflate", "snappy", "x-snappy-framed", "lz4", "none", ""]


def _url_problem(key: str, url: str) -> Problem | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as err:
        return Problem(key, f"{url!r} is not a valid URL: {err}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Problem(key, f"{url!r} is not an http:// or https:// URL with a host")
    return None


@dataclass
class OtlpHttpExporterConfig(ExporterHelperConfig):
    """Config of the `otlphttp` exporter (OTLP over HTTP)."""

    timeout: timedelta = timedelta(seconds=30)
    endpoint: str = ""
    """Base URL; each signal goes to `<endpoint>/v1/<signal>` unless its own URL is set."""
    traces_endpoint: str = ""
    metrics_endpoint: str = ""
    logs_endpoint: str = ""
    compression: HttpCompression = "gzip"
    encoding: Literal["proto", "json"] = "proto"
    headers: dict[str, str] = field(default_factory=dict)
    tls: TlsClientConfig = field(default_factory=TlsClientConfig)
    """Used for https:// URLs (`tls::insecure` has no effect over HTTP: the scheme decides)."""

    def signal_url(self, signal: Signal) -> str:
        """The URL `signal` is posted to; ValueError when neither it nor `endpoint` is set."""
        override = {
            Signal.TRACES: self.traces_endpoint,
            Signal.METRICS: self.metrics_endpoint,
            Signal.LOGS: self.logs_endpoint,
        }[signal]
        if override:
            return override
        if not self.endpoint:
            raise ValueError(f"either endpoint or {signal.value}_endpoint must be specified")
        return f"{self.endpoint.rstrip('/')}/v1/{signal.value}"

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        urls = {
            "endpoint": self.endpoint,
            "traces_endpoint": self.traces_endpoint,
            "metrics_endpoint": self.metrics_endpoint,
            "logs_endpoint": self.logs_endpoint,
        }
        if not any(urls.values()):
            raise ConfigError([Problem("", "at least one endpoint must be specified")])
        problems = [p for key, url in urls.items() if url and (p := _url_problem(key, url)) is not None]
        if problems:
            raise ConfigError(problems)
