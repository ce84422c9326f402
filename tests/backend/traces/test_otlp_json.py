"""Stored spans rebuilt as OTLP/JSON: camelCase, hex ids, nanosecond strings, enum integers."""

from __future__ import annotations

from backend.traces.model import Span
from backend.traces.otlp_json import resource_spans, span_json


def span(span_id: str, scope: str = "lib", host: str = "h1", **fields: object) -> Span:
    base: dict[str, object] = dict(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id=span_id,
        parent_span_id="",
        name="op",
        service="svc",
        kind="Internal",
        start_ns=1_700_000_000_000_000_001,
        duration_ns=999,
        status_code="Unset",
        scope_name=scope,
        resource={"service.name": "svc", "host.name": host},
    )
    return Span(**{**base, **fields})  # type: ignore[arg-type]


def test_span_times_are_nanosecond_strings_and_enums_integers() -> None:
    out = span_json(span("01", kind="Producer", status_code="Error", status_message="x"))
    assert out["startTimeUnixNano"] == "1700000000000000001"
    assert out["endTimeUnixNano"] == "1700000000000001000"
    assert (out["kind"], out["status"]) == (4, {"code": 2, "message": "x"})
    assert "traceState" not in out


def test_spans_group_by_trace_then_resource_then_scope() -> None:
    other = "f" * 32
    groups = resource_spans(
        [
            [span("01"), span("02", scope="other"), span("03", host="h2"), span("04")],
            [span("05", trace_id=other)],
        ]
    )
    assert [
        (
            g["resource"]["attributes"][0]["value"]["stringValue"],
            [(s["scope"]["name"], [x["spanId"] for x in s["spans"]]) for s in g["scopeSpans"]],
        )
        for g in groups
    ] == [
        ("h1", [("lib", ["01", "04"]), ("other", ["02"])]),
        ("h2", [("lib", ["03"])]),
        ("h1", [("lib", ["05"])]),
    ]
    assert groups[2]["scopeSpans"][0]["spans"][0]["traceId"] == other
