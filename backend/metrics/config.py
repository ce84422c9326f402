"""Config of the `metrics_service` extension."""

from __future__ import annotations

from dataclasses import dataclass

from backend.service import ServiceConfig
from collector.errors import Problem


@dataclass
class MetricsServiceConfig(ServiceConfig):
    """The metrics service: native API (`/v1/...`) and Prometheus's HTTP API (`/api/v1/...`)."""

    endpoint: str = "127.0.0.1:8001"
    """host:port of the HTTP API."""
    max_series: int = 400
    """The most series one range query may return."""
    max_points: int = 11_000
    """The most points (steps) per series one range query may return."""

    def problems(self) -> list[Problem]:
        problems = super().problems()
        for name in ("max_series", "max_points"):
            if getattr(self, name) < 1:
                problems.append(Problem(name, f"{getattr(self, name)} must be at least 1"))
        return problems


__all__ = ["MetricsServiceConfig"]
