"""The `otlp` receiver's config: the protocols it serves and where, with the collector's keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.auth.setting import AuthSetting
from collector.config import split_host_port
from collector.errors import ConfigError, Problem
from collector.signal import Signal
from collector.tlsconfig import TlsServerConfig

DEFAULT_GRPC_ENDPOINT = "localhost:4317"
DEFAULT_HTTP_ENDPOINT = "localhost:4318"
DEFAULT_MAX_REQUEST_BODY_SIZE = 20 * 1024 * 1024
# otel-arrow's admission defaults: bytes in flight, and bytes allowed to wait for room.
DEFAULT_REQUEST_LIMIT_MIB = 128
DEFAULT_WAITING_LIMIT_MIB = 32


def _endpoint_problems(endpoint: str) -> list[Problem]:
    try:
        split_host_port(endpoint)
    except ValueError as err:
        return [Problem("endpoint", str(err))]
    return []


def _auth_problems(auth: AuthSetting | None) -> list[Problem]:
    # A present `auth` must name its extension; `AuthSetting.validate` reports the other mistakes.
    if auth is None or auth.authenticator.strip():
        return []
    return [Problem(f"auth::{p.path}" if p.path else "auth", p.message) for p in auth.problems()]


def _normalize_path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


@dataclass
class CorsConfig:
    """Cross-origin requests from browsers (the collector's keys); off unless origins are listed."""

    allowed_origins: list[str] = field(default_factory=list)
    """Origins allowed to send, each may hold `*` wildcards (`https://*.example.com`; `*` is any)."""
    allowed_headers: list[str] = field(default_factory=list)
    """Request headers allowed besides the CORS-safelisted ones; `*` allows any."""
    max_age: int = 0
    """Seconds a browser may cache a preflight answer."""

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        if self.max_age < 0:
            raise ConfigError([Problem("max_age", f"must not be negative, got {self.max_age}")])


@dataclass
class AdmissionConfig:
    """Bytes of requests in flight (otel-arrow's `admission`): beyond them requests wait, then are refused."""

    request_limit_mib: int = DEFAULT_REQUEST_LIMIT_MIB
    """Request bytes admitted at once, from receipt until the next consumer returns; 0 turns it off."""
    waiting_limit_mib: int = DEFAULT_WAITING_LIMIT_MIB
    """Request bytes allowed to wait for room; a request past it is refused (retryably) at once."""

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = [
            Problem(key, f"must not be negative, got {getattr(self, key)}")
            for key in ("request_limit_mib", "waiting_limit_mib")
            if getattr(self, key) < 0
        ]
        if problems:
            raise ConfigError(problems)


@dataclass
class GrpcConfig:
    """OTLP over gRPC: the listening address, the largest message accepted, TLS and client metadata."""

    endpoint: str = DEFAULT_GRPC_ENDPOINT
    max_recv_msg_size_mib: int = 4
    tls: TlsServerConfig | None = None
    include_metadata: bool = False
    """Hand the request's gRPC metadata on as `Batch.metadata`."""
    auth: AuthSetting | None = None
    """The `auth` extension checking every call (absent or `authenticator: none`: open to all)."""

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = _endpoint_problems(self.endpoint) + _auth_problems(self.auth)
        if self.max_recv_msg_size_mib < 1:
            problems.append(
                Problem("max_recv_msg_size_mib", f"must be at least 1, got {self.max_recv_msg_size_mib}")
            )
        if problems:
            raise ConfigError(problems)


@dataclass
class HttpConfig:
    """OTLP over HTTP: the listening address, the body size limit, each signal's URL path, TLS, CORS."""

    endpoint: str = DEFAULT_HTTP_ENDPOINT
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    """The largest body accepted, both as received and once decompressed."""
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    tls: TlsServerConfig | None = None
    cors: CorsConfig | None = None
    include_metadata: bool = False
    """Hand the request's headers on as `Batch.metadata`."""
    auth: AuthSetting | None = None
    """The `auth` extension checking every request (absent or `authenticator: none`: open to all)."""

    def __post_init__(self) -> None:
        # As the collector does: a path without a leading slash gets one.
        self.traces_url_path = _normalize_path(self.traces_url_path)
        self.metrics_url_path = _normalize_path(self.metrics_url_path)
        self.logs_url_path = _normalize_path(self.logs_url_path)

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = _endpoint_problems(self.endpoint) + _auth_problems(self.auth)
        if self.max_request_body_size < 1:
            problems.append(
                Problem("max_request_body_size", f"must be at least 1, got {self.max_request_body_size}")
            )
        paths = self.url_paths()
        for signal, path in paths.items():
            if any(ch.isspace() or ch in "?#" for ch in path):
                problems.append(
                    Problem(f"{signal}_url_path", f"{path!r} is not a URL path (no spaces, '?' or '#')")
                )
        if len(set(paths.values())) != len(paths):
            shown = ", ".join(f"{signal}_url_path={path!r}" for signal, path in paths.items())
            problems.append(Problem("", f"the url paths must differ, got {shown}"))
        if problems:
            raise ConfigError(problems)

    def url_paths(self) -> dict[Signal, str]:
        """The URL path of each signal."""
        return {
            Signal.TRACES: self.traces_url_path,
            Signal.METRICS: self.metrics_url_path,
            Signal.LOGS: self.logs_url_path,
        }


@dataclass
class ProtocolsConfig:
    """The protocols served; a protocol whose key is absent is off."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None


@dataclass
class OtlpReceiverConfig:
    """Config of the `otlp` receiver."""

    protocols: ProtocolsConfig = field(default_factory=ProtocolsConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)

    def validate(self) -> None:
        """At least one protocol, as the collector requires."""
        if self.protocols.grpc is None and self.protocols.http is None:
            raise ValueError("must specify at least one protocol when using the OTLP receiver")
