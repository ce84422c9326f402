"""The `metrics_service` extension: the native API and Prometheus's HTTP API on one starlette app."""

from __future__ import annotations

from starlette.applications import Starlette

from backend.metrics.config import MetricsServiceConfig
from backend.metrics.native_api import native_routes
from backend.metrics.prometheus_api import prometheus_routes
from backend.service import QueryService, Store, service_app

__all__ = ["MetricsService"]


class MetricsService(QueryService):
    """Serves `/v1/...` (native, OTel names) and `/api/v1/...` (Prometheus) over the metric tables."""

    title = "airis metrics service"
    config: MetricsServiceConfig

    def build(self, store: Store) -> Starlette:
        return service_app(
            self.title, [*native_routes(store, self.config), *prometheus_routes(store, self.config)]
        )
