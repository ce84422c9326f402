"""Stored spans rebuilt as OTLP/JSON `resourceSpans` (what Jaeger's `/api/v3` answers).

Field names in lowerCamelCase, ids in hex, times as decimal strings of nanoseconds, span kind and
status code as enum integers. Spans are grouped per trace, then per resource (its stored attributes)
and scope. Attribute values are stored as strings, so every value comes back as `stringValue`
(an int attribute 500 as "500", a bool as "true").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backend.traces.jaeger_json import JsonObject
from backend.traces.model import Span

KIND_NUMBERS = {"Unspecified": 0, "Internal": 1, "Server": 2, "Client": 3, "Producer": 4, "Consumer": 5}
STATUS_NUMBERS = {"Unset": 0, "Ok": 1, "Error": 2}


def attributes(values: Mapping[str, str]) -> list[JsonObject]:
    """OTLP/JSON key-values (string values), in key order."""
    return [{"key": key, "value": {"stringValue": values[key]}} for key in sorted(values)]


def span_json(span: Span) -> JsonObject:
    """One OTLP/JSON span."""
    result: JsonObject = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_span_id,
        "name": span.name,
        "kind": KIND_NUMBERS.get(span.kind, 0),
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": attributes(span.attributes),
        "events": [
            {"timeUnixNano": str(e.time_ns), "name": e.name, "attributes": attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {"traceId": link.trace_id, "spanId": link.span_id, "attributes": attributes(link.attributes)}
            | ({"traceState": link.trace_state} if link.trace_state else {})
            for link in span.links
        ],
        "status": {"code": STATUS_NUMBERS.get(span.status_code, 0)}
        | ({"message": span.status_message} if span.status_message else {}),
    }
    if span.trace_state:
        result["traceState"] = span.trace_state
    return result


def resource_spans(traces: Sequence[Sequence[Span]]) -> list[JsonObject]:
    """`resourceSpans` of the traces, one per trace and resource, its spans grouped by scope."""
    result: list[JsonObject] = []
    for spans in traces:
        resources: dict[tuple[tuple[str, str], ...], dict[tuple[str, str], list[JsonObject]]] = {}
        for span in spans:
            scopes = resources.setdefault(tuple(sorted(span.resource.items())), {})
            scopes.setdefault((span.scope_name, span.scope_version), []).append(span_json(span))
        for resource, scopes in resources.items():
            result.append(
                {
                    "resource": {"attributes": attributes(dict(resource))},
                    "scopeSpans": [
                        {"scope": {"name": name, "version": version}, "spans": scope_spans}
                        for (name, version), scope_spans in scopes.items()
                    ],
                }
            )
    return result


__all__ = ["KIND_NUMBERS", "STATUS_NUMBERS", "attributes", "resource_spans", "span_json"]
