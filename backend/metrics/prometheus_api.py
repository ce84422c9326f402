"""Prometheus's HTTP query API (/api/v1/...) over the metric tables, for a PromQL subset."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend.service import ServiceConfig, Store


def prometheus_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """The routes, bound to `store`."""
    return []
