"""Stored spans as Jaeger's query JSON (jaeger-query's `/api` model), mapped as Jaeger's OTLP translator does.

Span attributes become `tags`, then the fields the translator derives: `otel.scope.name`/`version`,
`span.kind` (lower case, none when unspecified), `otel.status_code` (OK/ERROR), `error` = true on an
error status, `otel.status_description`, `w3c.tracestate`. The resource becomes the span's process
(`service.name` is its serviceName, the other attributes its tags); the parent becomes a CHILD_OF
reference and each link a FOLLOWS_FROM one; each event a log whose first field is `event` = its
name. Times and durations are microseconds. Attribute values are stored as strings, so every tag
is typed "string" (an int attribute 500 comes back as "500").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.traces.model import Span
from backend.traces.search import api_kind

JsonObject = dict[str, Any]


def tag(key: str, value: str | bool) -> JsonObject:
    """A Jaeger key-value: typed "bool" for Python bools, else "string"."""
    return {"key": key, "type": "bool" if isinstance(value, bool) else "string", "value": value}


def tags(attributes: Mapping[str, str], skip: str = "") -> list[JsonObject]:
    """String tags of `attributes` in key order (except key `skip`)."""
    return [tag(key, attributes[key]) for key in sorted(attributes) if key != skip]


def span_tags(span: Span) -> list[JsonObject]:
    """The span's tags: its attributes, then the fields Jaeger's translator derives."""
    result = tags(span.attributes)
    if span.scope_name:
        result.append(tag("otel.scope.name", span.scope_name))
    if span.scope_version:
        result.append(tag("otel.scope.version", span.scope_version))
    if kind := api_kind(span.kind):
        result.append(tag("span.kind", kind))
    if span.status_code == "Ok":
        result.append(tag("otel.status_code", "OK"))
    elif span.status_code == "Error":
        result.append(tag("otel.status_code", "ERROR"))
        result.append(tag("error", True))
    if span.status_message:
        result.append(tag("otel.status_description", span.status_message))
    if span.trace_state:
        result.append(tag("w3c.tracestate", span.trace_state))
    return result


def references(span: Span) -> list[JsonObject]:
    """CHILD_OF the parent (first), FOLLOWS_FROM each link."""
    refs = []
    if span.parent_span_id:
        refs.append({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id})
    refs.extend(
        {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id} for link in span.links
    )
    return refs


def span_json(span: Span, process_id: str) -> JsonObject:
    """One span of a Jaeger trace."""
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": references(span),
        "startTime": span.start_ns // 1000,
        "duration": span.duration_ns // 1000,
        "tags": span_tags(span),
        "logs": [
            {
                "timestamp": event.time_ns // 1000,
                "fields": ([tag("event", event.name)] if event.name else []) + tags(event.attributes),
            }
            for event in span.events
        ],
        "processID": process_id,
        "warnings": None,
    }


def trace_json(spans: Sequence[Span]) -> JsonObject:
    """One trace (spans of one trace id): spans and their processes p1, p2, ... by first appearance."""
    processes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    process_json: dict[str, JsonObject] = {}
    out = []
    for span in spans:
        key = (span.service, tuple(sorted(span.resource.items())))
        process_id = processes.get(key)
        if process_id is None:
            process_id = processes[key] = f"p{len(processes) + 1}"
            process_json[process_id] = {
                "serviceName": span.service,
                "tags": tags(span.resource, skip="service.name"),
            }
        out.append(span_json(span, process_id))
    return {
        "traceID": spans[0].trace_id if spans else "",
        "spans": out,
        "processes": process_json,
        "warnings": None,
    }


__all__ = ["references", "span_json", "span_tags", "tag", "tags", "trace_json"]
