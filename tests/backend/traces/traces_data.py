"""Realistic multi-service traces as one OTLP request, with the facts tests assert on.

A checkout request crosses frontend → checkout → payment and fails in payment (error status, an
`exception` event); a worker trace consumes the order, linking back to the checkout span; three
fast health checks have short (zero-padded) ids. Times are relative to `BASE_NS`, a recent whole
minute, so services' default time ranges include them.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

MS = 1_000_000
BASE_NS = (time.time_ns() // (60 * 10**9) - 10) * 60 * 10**9
"""Ten minutes ago, on a whole minute."""

CHECKOUT = "5b8efff798038103d269b633813fc60c"
ORDER = "0af7651916cd43dd8448eb211c80319c"
HEALTH = [f"{n:032x}" for n in (0xABCDE1, 0xABCDE2, 0xABCDE3)]

# span ids
ROOT, CALL, CHECKOUT_SERVER, DB, CHARGE_CALL, CHARGE = (f"{n:016x}" for n in range(0xA1, 0xA7))
CONSUME, STOCK = "00000000000000c1", "00000000000000c2"

RESOURCES = {
    "frontend": {"service.name": "frontend", "service.version": "2.1.0", "host.name": "web-1"},
    "checkout": {"service.name": "checkout", "service.version": "1.4.2", "host.name": "app-1"},
    "payment": {"service.name": "payment", "service.version": "0.9.0", "host.name": "app-2"},
    "worker": {"service.name": "worker", "service.version": "3.0.0", "host.name": "batch-1"},
}
SCOPE = ("io.opentelemetry.http", "1.2.0")


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in values.items()]


def _span(
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: int,
    start_ms: float,
    duration_ms: float,
    attributes: dict[str, Any],
    status: tuple[int, str] = (0, ""),
    **extra: Any,
) -> Span:
    start = BASE_NS + int(start_ms * MS)
    return Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * MS),
        attributes=_attributes(attributes),
        status=Status(code=status[0], message=status[1]),  # type: ignore[arg-type]
        **extra,
    )


SERVER, CLIENT, CONSUMER, INTERNAL = 2, 3, 5, 1

SPANS: dict[str, list[Span]] = {
    "frontend": [
        _span(
            CHECKOUT,
            ROOT,
            "",
            "GET /checkout",
            SERVER,
            0,
            120,
            {"http.request.method": "GET", "http.route": "/checkout", "http.response.status_code": 500},
            (2, "payment failed"),
        ),
        _span(CHECKOUT, CALL, ROOT, "POST /api/checkout", CLIENT, 5, 100, {"server.address": "checkout"}),
        *(
            _span(
                trace_id,
                "00000000000000f1",
                "",
                "GET /health",
                SERVER,
                2000 + 100 * i,
                1,
                {"http.request.method": "GET", "http.route": "/health"},
            )
            for i, trace_id in enumerate(HEALTH)
        ),
    ],
    "checkout": [
        _span(
            CHECKOUT,
            CHECKOUT_SERVER,
            CALL,
            "POST /api/checkout",
            SERVER,
            8,
            95,
            {"http.route": "/api/checkout"},
            (2, ""),
        ),
        _span(
            CHECKOUT,
            DB,
            CHECKOUT_SERVER,
            "SELECT orders",
            CLIENT,
            10,
            20,
            {"db.system": "postgresql", "db.statement": "SELECT * FROM orders WHERE id = $1"},
        ),
        _span(
            CHECKOUT,
            CHARGE_CALL,
            CHECKOUT_SERVER,
            "POST /charge",
            CLIENT,
            35,
            60,
            {"server.address": "payment"},
        ),
    ],
    "payment": [
        _span(
            CHECKOUT,
            CHARGE,
            CHARGE_CALL,
            "POST /charge",
            SERVER,
            37,
            55,
            {"payment.amount": 42.5, "payment.retry": True, "user.id": "user-7"},
            (2, "card declined"),
            events=[
                Span.Event(
                    time_unix_nano=BASE_NS + 90 * MS,
                    name="exception",
                    attributes=_attributes(
                        {"exception.type": "CardDeclined", "exception.message": "card declined"}
                    ),
                )
            ],
        ),
    ],
    "worker": [
        _span(
            ORDER,
            CONSUME,
            "",
            "process order",
            CONSUMER,
            1000,
            300,
            {"messaging.system": "kafka", "user.id": "user-7"},
            (1, ""),
            trace_state="vendor=1",
            links=[
                Span.Link(
                    trace_id=bytes.fromhex(CHECKOUT),
                    span_id=bytes.fromhex(CHECKOUT_SERVER),
                    attributes=_attributes({"link.reason": "order placed"}),
                )
            ],
            events=[Span.Event(time_unix_nano=BASE_NS + 1100 * MS, name="retry")],
        ),
        _span(ORDER, STOCK, CONSUME, "UPDATE stock", CLIENT, 1010, 40, {"db.system": "postgresql"}),
    ],
}

SPAN_COUNT = sum(len(spans) for spans in SPANS.values())


def request() -> ExportTraceServiceRequest:
    """Every span, one ResourceSpans per service, one scope."""
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": _attributes(RESOURCES[service])},  # type: ignore[arg-type]
                scope_spans=[ScopeSpans(scope={"name": SCOPE[0], "version": SCOPE[1]}, spans=spans)],  # type: ignore[arg-type]
            )
            for service, spans in SPANS.items()
        ]
    )


def us(offset_ms: float) -> int:
    """Unix microseconds of BASE + `offset_ms`."""
    return (BASE_NS + int(offset_ms * MS)) // 1000
