"""Results in the JSON of Prometheus's HTTP API: `vector`, `matrix` and `scalar` data."""

from __future__ import annotations

from typing import Any

from backend.metrics.promql.engine import Result

__all__ = ["instant_data", "range_data"]


def instant_data(result: Result) -> dict[str, Any]:
    """The `data` of /api/v1/query: a scalar or a vector."""
    if result.scalar:
        (series,) = result.series
        return {"resultType": "scalar", "result": [series.times[-1], series.values[-1]]}
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(s.labels), "value": [s.times[-1], s.values[-1]]} for s in result.series if s.times
        ],
    }


def range_data(result: Result) -> dict[str, Any]:
    """The `data` of /api/v1/query_range: a matrix (a scalar becomes one series without labels)."""
    return {
        "resultType": "matrix",
        "result": [
            {"metric": dict(s.labels), "values": list(zip(s.times, s.values, strict=True))}
            for s in result.series
        ],
    }
