"""Stored spans map to Jaeger's JSON model as Jaeger's OTLP translator maps OTLP spans."""

from __future__ import annotations

from backend.traces.jaeger_json import references, span_json, span_tags, trace_json
from backend.traces.model import Span, SpanEvent, SpanLink


def span(**fields: object) -> Span:
    base: dict[str, object] = dict(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="00000000000000a1",
        parent_span_id="",
        name="op",
        service="svc",
        kind="Unspecified",
        start_ns=1_700_000_000_123_456_789,
        duration_ns=2_500_999,
        status_code="Unset",
    )
    return Span(**{**base, **fields})  # type: ignore[arg-type]


def test_times_are_truncated_microseconds() -> None:
    out = span_json(span(), "p1")
    assert (out["startTime"], out["duration"]) == (1_700_000_000_123_456, 2_500)


def test_derived_tags_follow_the_attributes_in_translator_order() -> None:
    tags = span_tags(
        span(
            attributes={"b": "2", "a": "1"},
            scope_name="lib",
            scope_version="1.0",
            kind="Producer",
            status_code="Error",
            status_message="boom",
            trace_state="k=v",
        )
    )
    assert tags == [
        {"key": "a", "type": "string", "value": "1"},
        {"key": "b", "type": "string", "value": "2"},
        {"key": "otel.scope.name", "type": "string", "value": "lib"},
        {"key": "otel.scope.version", "type": "string", "value": "1.0"},
        {"key": "span.kind", "type": "string", "value": "producer"},
        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
        {"key": "error", "type": "bool", "value": True},
        {"key": "otel.status_description", "type": "string", "value": "boom"},
        {"key": "w3c.tracestate", "type": "string", "value": "k=v"},
    ]
    assert span_tags(span(status_code="Ok")) == [{"key": "otel.status_code", "type": "string", "value": "OK"}]
    assert span_tags(span()) == []  # unspecified kind and unset status add nothing


def test_parent_is_the_first_reference_and_links_follow_from() -> None:
    refs = references(span(parent_span_id="00000000000000a0", links=[SpanLink("f" * 32, "00000000000000b1")]))
    assert refs == [
        {"refType": "CHILD_OF", "traceID": "0af7651916cd43dd8448eb211c80319c", "spanID": "00000000000000a0"},
        {"refType": "FOLLOWS_FROM", "traceID": "f" * 32, "spanID": "00000000000000b1"},
    ]
    assert references(span()) == []


def test_events_become_logs_named_by_an_event_field() -> None:
    out = span_json(
        span(
            events=[
                SpanEvent(1_700_000_000_200_000_999, "exception", {"exception.type": "E"}),
                SpanEvent(1_700_000_000_300_000_000, "", {"k": "v"}),
            ]
        ),
        "p1",
    )
    assert out["logs"] == [
        {
            "timestamp": 1_700_000_000_200_000,
            "fields": [
                {"key": "event", "type": "string", "value": "exception"},
                {"key": "exception.type", "type": "string", "value": "E"},
            ],
        },
        {"timestamp": 1_700_000_000_300_000, "fields": [{"key": "k", "type": "string", "value": "v"}]},
    ]


def test_processes_are_one_per_service_and_resource_without_service_name_tag() -> None:
    a = {"service.name": "a", "host.name": "h1"}
    trace = trace_json(
        [
            span(span_id="01", service="a", resource=a),
            span(span_id="02", service="b", resource={"service.name": "b"}),
            span(span_id="03", service="a", resource=a),
            span(span_id="04", service="a", resource={"service.name": "a", "host.name": "h2"}),
        ]
    )
    assert [s["processID"] for s in trace["spans"]] == ["p1", "p2", "p1", "p3"]
    assert trace["processes"] == {
        "p1": {"serviceName": "a", "tags": [{"key": "host.name", "type": "string", "value": "h1"}]},
        "p2": {"serviceName": "b", "tags": []},
        "p3": {"serviceName": "a", "tags": [{"key": "host.name", "type": "string", "value": "h2"}]},
    }
    assert trace["traceID"] == "0af7651916cd43dd8448eb211c80319c" and trace["warnings"] is None
