"""Canonical forms for comparing telemetry up to semantic equivalence."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from google.protobuf.message import Message

_GROUP_FIELDS = {
    "ExportTraceServiceRequest": ("resource_spans", "scope_spans", "spans"),
    "ExportLogsServiceRequest": ("resource_logs", "scope_logs", "log_records"),
    "ExportMetricsServiceRequest": ("resource_metrics", "scope_metrics", "metrics"),
}


def canonical(message: Message) -> dict[str, Any]:
    """A message as a dict of its set fields; empty sub-messages outside a real oneof are dropped."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        oneof = field.containing_oneof
        in_real_oneof = oneof is not None and not oneof.name.startswith("_")
        if field.message_type is not None:
            if field.is_repeated:
                out[field.name] = [canonical(v) for v in value]
                continue
            sub = canonical(value)
            if sub or in_real_oneof:
                out[field.name] = sub
        else:
            out[field.name] = list(value) if field.is_repeated else value
    return out


def normalize(request: Message) -> list[tuple[str, list[tuple[str, list[Any]]]]]:
    """Resource and scope groups merged by equal value (first-seen order), empty groups dropped."""
    resources_field, scopes_field, items_field = _GROUP_FIELDS[type(request).__name__]
    groups: dict[str, dict[str, list[Any]]] = {}
    for rg in getattr(request, resources_field):
        r_key = repr(canonical_group(rg, scopes_field))
        for sg in getattr(rg, scopes_field):
            items = [canonical(item) for item in getattr(sg, items_field)]
            if items:
                s_key = repr(canonical_group(sg, items_field))
                groups.setdefault(r_key, {}).setdefault(s_key, []).extend(items)
    return [(r, list(scopes.items())) for r, scopes in groups.items()]


def canonical_group(group: Message, children_field: str) -> dict[str, Any]:
    """A resource or scope group without its children."""
    copy = type(group)()
    copy.CopyFrom(group)
    copy.ClearField(children_field)
    return canonical(copy)


def _dense_rank(column: pa.Array) -> pa.Array:
    seen: dict[Any, int] = {}
    return pa.array([seen.setdefault(v, len(seen)) for v in column.to_pylist()], pa.int64())


def normalize_table(table: pa.Table) -> pa.Table:
    """Index columns renumbered 0, 1, ... by first appearance (numbering is not data)."""
    for name in ("resource_index", "scope_index", "metric_index"):
        if name in table.column_names:
            position = table.column_names.index(name)
            table = table.set_column(position, name, _dense_rank(table.column(name).combine_chunks()))
    return table.combine_chunks()


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of a normalized table, for readable assertion failures."""
    return normalize_table(table).to_pylist()  # type: ignore[no-any-return]


__all__ = ["canonical", "normalize", "normalize_table", "rows"]
