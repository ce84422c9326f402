"""Factory and config of the `health_check` extension."""

from __future__ import annotations

from dataclasses import dataclass

from collector.component import Component, ExtensionFactory, Settings, Stability
from collector.config import split_host_port


@dataclass
class HealthCheckConfig:
    """Where to answer: `http://<endpoint><path>` is 200 while pipelines run, 503 otherwise."""

    endpoint: str = "localhost:13133"
    path: str = "/"

    def validate(self) -> None:
        split_host_port(self.endpoint)
        if not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with '/'")


def create_extension(settings: Settings, config: HealthCheckConfig) -> Component:
    from extensions.health_check.extension import HealthCheck

    return HealthCheck(settings, config)


FACTORY = ExtensionFactory(
    type="health_check",
    config_type=HealthCheckConfig,
    create=create_extension,
    stability=Stability.BETA,
)
