"""The `logs_service` extension: search, facets, histogram and live tail over one backend's otel_logs."""

from __future__ import annotations

from starlette.applications import Starlette

from backend.logs.api import log_routes
from backend.logs.config import LogsServiceConfig
from backend.logs.tail import TailHub
from backend.service import QueryService, Store, service_app
from collector.component import Settings


class LogsService(QueryService):
    """The log service's HTTP API; its live tails end before the server stops."""

    title = "airis log service"
    graph_domain = "logs"

    def __init__(self, settings: Settings, config: LogsServiceConfig) -> None:
        super().__init__(settings, config)
        self.logs_config = config
        self.hub: TailHub | None = None

    def build(self, store: Store) -> Starlette:
        self.hub = TailHub(store, self.logs_config)
        return service_app(self.title, log_routes(store, self.logs_config, self.hub))

    async def shutdown(self) -> None:
        hub, self.hub = self.hub, None
        if hub is not None:
            await hub.close()
        await super().shutdown()


__all__ = ["LogsService"]
