"""Config of the `graphql_gateway` extension: where it listens, who may call it, how it reaches each service."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.auth.setting import AuthSetting
from collector.component import ComponentId
from collector.config import split_host_port
from collector.errors import ConfigError, Problem
from collector.tlsconfig import TlsClientConfig
from gateway.resilience import ResilienceConfig


@dataclass
class UpstreamConfig(ResilienceConfig):
    """One service: in-process (`extension`, the all-in-one default) or over HTTP (`endpoint`)."""

    extension: str = ""
    """The id of the service extension in this process; used when `endpoint` is empty."""
    endpoint: str = ""
    """The service's base URL (`http://host:8003`) when it runs in another process."""
    tls: TlsClientConfig | None = None

    def problems(self) -> list[Problem]:
        problems = super().problems()
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            problems.append(Problem("endpoint", f"{self.endpoint!r} must start with http:// or https://"))
        if not self.endpoint and self.extension:
            try:
                ComponentId.parse(self.extension)
            except ValueError as err:
                problems.append(Problem("extension", str(err)))
        return problems


@dataclass
class GatewayConfig:
    """The GraphQL gateway (`/graphql`, GraphiQL in a browser) over the trace, log and metrics services."""

    endpoint: str = "127.0.0.1:4000"
    """host:port to listen on."""
    auth: AuthSetting = field(default_factory=AuthSetting)
    """`authenticator: <auth extension id>`, or `none` (then keep the endpoint on 127.0.0.1)."""
    traces: UpstreamConfig = field(default_factory=lambda: UpstreamConfig(extension="traces_service"))
    logs: UpstreamConfig = field(default_factory=lambda: UpstreamConfig(extension="logs_service"))
    metrics: UpstreamConfig = field(default_factory=lambda: UpstreamConfig(extension="metrics_service"))
    max_depth: int = 12
    """The deepest operation accepted (nested selections)."""
    max_complexity: int = 20_000
    """The highest estimated cost of an operation (each field 1, times `first` of lists it is in)."""
    graphiql: bool = True
    """Serve GraphiQL to browsers at /graphql."""

    def upstreams(self) -> dict[str, UpstreamConfig]:
        return {"traces": self.traces, "logs": self.logs, "metrics": self.metrics}

    def validate(self) -> None:
        problems: list[Problem] = []
        try:
            split_host_port(self.endpoint)
        except ValueError as err:
            problems.append(Problem("endpoint", str(err)))
        problems += [Problem(f"auth::{p.path}", p.message) for p in self.auth.problems()]
        for name, upstream in self.upstreams().items():
            problems += [Problem(f"{name}::{p.path}", p.message) for p in upstream.problems()]
        for name in ("max_depth", "max_complexity"):
            if getattr(self, name) < 1:
                problems.append(Problem(name, f"{getattr(self, name)} must be at least 1"))
        if problems:
            raise ConfigError(problems)

    def dependencies(self) -> list[ComponentId]:
        """The auth extension and the in-process services, which must start first."""
        ids = self.auth.dependency()
        ids += [
            ComponentId.parse(u.extension)
            for u in self.upstreams().values()
            if u.extension and not u.endpoint
        ]
        return ids


__all__ = ["GatewayConfig", "UpstreamConfig"]
