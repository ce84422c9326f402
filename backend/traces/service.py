"""The `traces_service` extension: native (with live traces), analytics, Jaeger `/api` and `/api/v3` routes
over one backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from backend.service import QueryService, QueryTimeoutError, Store, service_app
from backend.traces.analytics_api import analytics_routes
from backend.traces.apiv3 import apiv3_routes
from backend.traces.config import TracesServiceConfig
from backend.traces.jaeger import jaeger_routes
from backend.traces.live import LiveHub, live_routes
from backend.traces.native_api import native_routes
from collector.component import Settings


class LimitedStore(Store):
    """A store running at most `limit` queries at once; the others wait their turn, up to the query timeout."""

    def __init__(self, store: Store, limit: int) -> None:
        super().__init__(store.backend, store.config)
        self.slots = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.config.query_timeout.total_seconds()):
                await self.slots.acquire()
        except TimeoutError:
            raise QueryTimeoutError("the service is busy with other queries; try again") from None
        try:
            yield
        finally:
            self.slots.release()

    async def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[Any, ...]]:
        async with self._slot():
            return await super().rows(sql, parameters)

    async def arrow(self, sql: str, parameters: dict[str, object] | None = None) -> Any:
        async with self._slot():
            return await super().arrow(sql, parameters)


class TracesService(QueryService):
    """Trace lookup, search and live traces, analytics, and Jaeger's query APIs on the service's endpoint;
    its live streams end before the server stops."""

    title = "airis trace service"
    graph_domain = "traces"

    def __init__(self, settings: Settings, config: TracesServiceConfig) -> None:
        super().__init__(settings, config)
        self.traces_config = config
        self.hub: LiveHub | None = None

    def build(self, store: Store) -> Starlette:
        config = self.traces_config
        store = LimitedStore(store, config.max_concurrent_queries)
        self.hub = LiveHub(store, config)
        return service_app(
            self.title,
            [
                *live_routes(self.hub),  # before native's /v1/traces/{trace_id}
                *native_routes(store, config),
                *analytics_routes(store, config),
                *jaeger_routes(store, config),
                *apiv3_routes(store, config),
            ],
        )

    async def shutdown(self) -> None:
        hub, self.hub = self.hub, None
        if hub is not None:
            await hub.close()
        await super().shutdown()


__all__ = ["LimitedStore", "TracesService"]
