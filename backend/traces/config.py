"""Config of the `traces_service` extension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from backend.service import ServiceConfig
from collector.configstruct import format_duration
from collector.errors import Problem


@dataclass
class TracesServiceConfig(ServiceConfig):
    """The trace service's HTTP API (native, Jaeger `/api` and `/api/v3`) over a clickhouse_storage backend."""

    endpoint: str = "127.0.0.1:8003"
    """host:port of the HTTP API."""
    max_concurrent_queries: int = 3
    """The most queries the service runs at once; the others wait, so the storage's worker threads
    (shared with the exporters' inserts) are never all taken by reads."""
    live_poll_interval: timedelta = timedelta(seconds=1)
    """How often a live traces stream asks ClickHouse for new matching traces."""
    live_lateness: timedelta = timedelta(seconds=30)
    """How long after its start a span may land and still make its trace reach a live stream."""
    live_max_streams: int = 16
    """The most live traces streams open at once; more are refused with 429."""
    live_max_rate: int = 100
    """The most traces per second one live stream sends; the rest are counted in `dropped` events."""
    live_keepalive: timedelta = timedelta(seconds=15)
    """A comment is sent on an idle live stream this often, so proxies keep the connection open."""

    def problems(self) -> list[Problem]:
        problems = super().problems()
        for name in ("live_poll_interval", "live_lateness", "live_keepalive"):
            if getattr(self, name) <= timedelta(0):
                problems.append(Problem(name, f"{format_duration(getattr(self, name))} must be positive"))
        for name in ("max_concurrent_queries", "live_max_streams", "live_max_rate"):
            if getattr(self, name) < 1:
                problems.append(Problem(name, f"{getattr(self, name)} must be at least 1"))
        return problems


__all__ = ["TracesServiceConfig"]
