"""Config of the `traces_service` extension."""

from __future__ import annotations

from dataclasses import dataclass

from backend.service import ServiceConfig
from collector.errors import Problem


@dataclass
class TracesServiceConfig(ServiceConfig):
    """The trace service's HTTP API (native, Jaeger `/api` and `/api/v3`) over a clickhouse_storage backend."""

    endpoint: str = "127.0.0.1:8003"
    """host:port of the HTTP API."""
    max_concurrent_queries: int = 3
    """The most queries the service runs at once; the others wait, so the storage's worker threads
    (shared with the exporters' inserts) are never all taken by reads."""

    def problems(self) -> list[Problem]:
        problems = super().problems()
        if self.max_concurrent_queries < 1:
            problems.append(
                Problem("max_concurrent_queries", f"{self.max_concurrent_queries} must be at least 1")
            )
        return problems


__all__ = ["TracesServiceConfig"]
