"""Trace analytics over otel_traces: service dependency graph, RED metrics, latency distribution."""

from __future__ import annotations

from dataclasses import dataclass

from backend.service import Store


@dataclass(frozen=True)
class DependencyLink:
    """Calls from spans of service `parent` to child spans of service `child` in a time range."""

    parent: str
    child: str
    call_count: int
    error_count: int


async def dependency_links(store: Store, start_ns: int, end_ns: int) -> list[DependencyLink]:
    """Edges between services from parent/child spans that started in [start_ns, end_ns]."""
    raise NotImplementedError("being written")
