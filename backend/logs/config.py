"""Config of the `logs_service` extension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from backend.service import ServiceConfig
from collector.configstruct import format_duration
from collector.errors import Problem


@dataclass
class LogsServiceConfig(ServiceConfig):
    """The log service's HTTP API (search, facets, histogram, live tail) over a clickhouse_storage backend."""

    endpoint: str = "127.0.0.1:8002"
    """host:port of the HTTP API."""
    tail_poll_interval: timedelta = timedelta(seconds=1)
    """How often a live tail asks ClickHouse for new records."""
    tail_lateness: timedelta = timedelta(seconds=10)
    """How much older than the newest record a record may land and still reach a live tail."""
    tail_max_streams: int = 16
    """The most live tails open at once; more are refused with 429."""
    tail_max_rate: int = 1_000
    """The most records per second one live tail sends."""
    tail_max_lag: timedelta = timedelta(seconds=60)
    """How far a tail may fall behind (too many records for `tail_max_rate`) before it skips ahead."""
    tail_keepalive: timedelta = timedelta(seconds=15)
    """A comment is sent on an idle tail this often, so proxies keep the connection open."""

    def problems(self) -> list[Problem]:
        problems = super().problems()
        for name in ("tail_poll_interval", "tail_max_lag", "tail_keepalive"):
            if getattr(self, name) <= timedelta(0):
                problems.append(Problem(name, f"{format_duration(getattr(self, name))} must be positive"))
        if self.tail_lateness < timedelta(0):
            problems.append(
                Problem("tail_lateness", f"{format_duration(self.tail_lateness)} must not be negative")
            )
        for name in ("tail_max_streams", "tail_max_rate"):
            if getattr(self, name) < 1:
                problems.append(Problem(name, f"{getattr(self, name)} must be at least 1"))
        return problems


__all__ = ["LogsServiceConfig"]
