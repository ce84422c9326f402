"""The trace service's native analytics routes (dependencies, RED metrics, latency, critical path)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend.service import ServiceConfig, Store


def analytics_routes(store: Store, config: ServiceConfig) -> list[BaseRoute]:
    """The routes, bound to `store`."""
    return []
