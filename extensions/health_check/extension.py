"""The `health_check` extension: 200 while the service runs its pipelines, 503 while starting or stopping."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from starlette.responses import JSONResponse

from collector.component import Host, ServiceStatus, Settings
from collector.httpserver import HttpServer
from extensions.health_check.factory import HealthCheckConfig


class HealthCheck:
    """Answers GET on the configured path with the collector's JSON body."""

    def __init__(self, settings: Settings, config: HealthCheckConfig) -> None:
        self.config = config
        self.host: Host | None = None
        self.since = 0.0
        self.server = HttpServer(
            self.app, config.endpoint, f"extension {settings.id} (extensions::{settings.id})"
        )

    @property
    def port(self) -> int:
        """The bound port (useful with endpoint port 0)."""
        return self.server.port

    async def start(self, host: Host) -> None:
        self.host, self.since = host, time.time()
        await self.server.start()

    async def shutdown(self) -> None:
        await self.server.shutdown()

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        running = self.host is not None and self.host.status is ServiceStatus.RUNNING
        if scope["path"] != self.config.path:
            status, body = 404, {"status": "not found", "path": self.config.path}
        elif running:
            up = dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat()
            status, body = (
                200,
                {"status": "Server available", "upSince": up, "uptime": f"{time.time() - self.since:.3f}s"},
            )
        else:
            state = self.host.status if self.host else ServiceStatus.STARTING
            status, body = 503, {"status": "Server not available", "state": str(state)}
        await JSONResponse(body, status_code=status)(scope, receive, send)
