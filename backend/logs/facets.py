"""Facets: the most frequent values of one field among the matching records, with their counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.logs.filters import Bindings, LogFilter
from backend.service import BadRequestError, Store

MAX_FACET_VALUES = 1_000
"""The most values one facet request may ask for."""
FIELDS = {
    "service": "ServiceName",
    "severity": "SeverityText",
    "severity_number": "toString(SeverityNumber)",
    "scope": "ScopeName",
    "event_name": "EventName",
}
"""Fields by name and their expression; `attr.<key>` and `resource.<key>` name map entries."""
MAPS = {"attr.": "LogAttributes", "resource.": "ResourceAttributes"}


@dataclass(frozen=True)
class Facet:
    """A field to count values of: its expression and the condition that the record has it."""

    name: str
    expression: str
    present: str

    @classmethod
    def parse(cls, name: str, bind: Bindings, parameter: str = "field") -> Facet:
        if name in FIELDS:
            return cls(name, FIELDS[name], "1")
        for prefix, column in MAPS.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                key = bind(name[len(prefix) :], "String")
                return cls(name, f"{column}[{key}]", f"mapContains({column}, {key})")
        known = ", ".join([*FIELDS, "attr.<key>", "resource.<key>"])
        raise BadRequestError(f"{name!r} is not a field to count ({known})", parameter)


async def facet_counts(store: Store, field: str, where: LogFilter, limit: int) -> dict[str, Any]:
    """The `limit` most frequent values of `field` (most first, then by value), how many matching
    records have the field (`total`) and how many distinct values it takes (`distinct`)."""
    bind = Bindings()
    facet = Facet.parse(field, bind)
    sql = f"""
        SELECT value, count() AS n, sum(n) OVER () AS total, count() OVER () AS distinct_values
        FROM (SELECT {facet.expression} AS value FROM {store.table("otel_logs")}
              WHERE {where.where(bind)} AND {facet.present})
        GROUP BY value
        ORDER BY n DESC, value
        LIMIT {bind(limit, "UInt32")}"""
    rows = await store.rows(sql, bind.values)
    return {
        "field": facet.name,
        "values": [{"value": value, "count": int(count)} for value, count, _, _ in rows],
        "total": int(rows[0][2]) if rows else 0,
        "distinct": int(rows[0][3]) if rows else 0,
    }


__all__ = ["FIELDS", "MAX_FACET_VALUES", "Facet", "facet_counts"]
