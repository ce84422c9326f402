"""The `otlp` exporter's config: where to send over gRPC and how, with the collector's keys and defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from collector.errors import ConfigError, Problem
from collector.tlsconfig import TlsClientConfig
from exporters.exporterhelper.config import ExporterHelperConfig

__all__ = ["GRPC_COMPRESSIONS", "OtlpExporterConfig"]

GrpcCompression = Literal["gzip", "zstd", "snappy", "none", ""]
# The compressions Python's grpc can apply; the collector's zstd and snappy are not among them.
GRPC_COMPRESSIONS = ("gzip", "none", "")
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")


@dataclass
class OtlpExporterConfig(ExporterHelperConfig):
    """Config of the `otlp` exporter (OTLP over gRPC)."""

    endpoint: str = ""
    """`host:port` (or `dns:///host:port`); an `https://` prefix forces TLS, `http://` is dropped."""
    compression: GrpcCompression = "gzip"
    headers: dict[str, str] = field(default_factory=dict)
    """gRPC metadata sent with every call."""
    tls: TlsClientConfig = field(default_factory=TlsClientConfig)

    def target(self) -> str:
        """The gRPC target: the endpoint without an `http://` or `https://` prefix."""
        for prefix in ("http://", "https://"):
            if self.endpoint.startswith(prefix):
                return self.endpoint.removeprefix(prefix)
        return self.endpoint

    def uses_tls(self) -> bool:
        """TLS unless `tls::insecure` is set, and always for an `https://` endpoint (as the collector)."""
        return not self.tls.insecure or self.endpoint.startswith("https://")

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems: list[Problem] = []
        if not re.sub(r"^dns:///?", "", self.target()).strip():
            problems.append(Problem("", 'requires a non-empty "endpoint"'))
        if self.compression not in GRPC_COMPRESSIONS:
            problems.append(
                Problem(
                    "compression",
                    f"{self.compression!r} is not supported over gRPC by airis (Python's grpc compresses "
                    "with gzip only); use gzip or none",
                )
            )
        for key in self.headers:
            if not _METADATA_KEY.match(key.lower()) or key.lower().startswith("grpc-"):
                problems.append(
                    Problem(
                        f"headers::{key}",
                        "is not a gRPC metadata key (letters, digits, '-', '_' and '.'; not 'grpc-...')",
                    )
                )
        if self.tls.insecure_skip_verify and self.uses_tls():
            problems.append(
                Problem(
                    "tls::insecure_skip_verify",
                    "is not supported over gRPC by airis (Python's grpc always verifies the server); "
                    "set tls::ca_file to the server's certificate or its CA instead",
                )
            )
        if problems:
            raise ConfigError(problems)
