"""Factory of the `metrics_service` extension."""

from __future__ import annotations

from backend.metrics.config import MetricsServiceConfig
from backend.service import storage_dependency
from collector.component import Component, ExtensionFactory, Settings, Stability


def create_extension(settings: Settings, config: MetricsServiceConfig) -> Component:
    from backend.metrics.service import MetricsService

    return MetricsService(settings, config)


FACTORY = ExtensionFactory(
    type="metrics_service",
    config_type=MetricsServiceConfig,
    create=create_extension,
    stability=Stability.ALPHA,
    dependencies=storage_dependency,
)

__all__ = ["FACTORY", "create_extension"]
