"""Search finds traces by one span matching every condition; summaries, services and operations."""

from __future__ import annotations

import pytest

from backend.service import BadRequestError, Store
from backend.traces.search import (
    Attribute,
    TraceQuery,
    TraceSummary,
    api_kind,
    find_trace_ids,
    kind_parameter,
    operations,
    services,
    status_parameter,
    trace_summaries,
)
from tests.backend.traces import traces_data as data
from tests.backend.traces.traces_data import BASE_NS, MS

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALL = dict(start_ns=BASE_NS - 60_000 * MS, end_ns=BASE_NS + 60_000 * MS, limit=100)


async def ids(store: Store, **conditions: object) -> list[str]:
    return await find_trace_ids(store, TraceQuery(**{**ALL, **conditions}))  # type: ignore[arg-type]


async def test_newest_matching_trace_first(store: Store) -> None:
    assert await ids(store) == [*reversed(data.HEALTH), data.ORDER, data.CHECKOUT]
    assert await ids(store, limit=2) == [data.HEALTH[2], data.HEALTH[1]]


async def test_service_operation_kind_and_status(store: Store) -> None:
    assert await ids(store, service="payment") == [data.CHECKOUT]
    assert await ids(store, service="frontend", operation="GET /health") == [*reversed(data.HEALTH)]
    assert await ids(store, kind="Consumer") == [data.ORDER]
    assert await ids(store, status="Error") == [data.CHECKOUT]
    assert await ids(store, status="Ok") == [data.ORDER]
    # one span must match all: worker has no Error span
    assert await ids(store, service="worker", status="Error") == []


async def test_attributes_of_spans_and_resources(store: Store) -> None:
    assert await ids(store, attributes=[Attribute("user.id", "user-7")]) == [data.ORDER, data.CHECKOUT]
    assert await ids(store, attributes=[Attribute("host.name", "batch-1")]) == [data.ORDER]
    both = [Attribute("user.id", "user-7"), Attribute("service.name", "payment")]
    assert await ids(store, attributes=both) == [data.CHECKOUT]
    assert await ids(store, attributes=[Attribute("http.response.status_code", "500")]) == [data.CHECKOUT]
    assert await ids(store, attributes=[Attribute("user.id", "user-8")]) == []
    # an empty value matches a present key with an empty value, not a missing key
    assert await ids(store, attributes=[Attribute("user.id", "")]) == []


async def test_keys_naming_span_fields_as_jaegers_tags_do(store: Store) -> None:
    assert await ids(store, attributes=[Attribute("error", "true")]) == [data.CHECKOUT]
    assert await ids(store, attributes=[Attribute("span.kind", "consumer")]) == [data.ORDER]
    assert await ids(store, attributes=[Attribute("otel.status_code", "OK")]) == [data.ORDER]
    card = [Attribute("otel.status_description", "card declined")]
    assert await ids(store, attributes=card) == [data.CHECKOUT]
    assert await ids(store, attributes=[Attribute("w3c.tracestate", "vendor=1")]) == [data.ORDER]
    scope = [Attribute("otel.scope.name", "io.opentelemetry.http"), Attribute("span.kind", "client")]
    assert await ids(store, attributes=scope) == [data.ORDER, data.CHECKOUT]


async def test_duration_bounds_are_inclusive(store: Store) -> None:
    assert await ids(store, min_duration_ns=300 * MS) == [data.ORDER]
    assert await ids(store, min_duration_ns=100 * MS, max_duration_ns=120 * MS) == [data.CHECKOUT]
    assert await ids(store, max_duration_ns=1 * MS) == [*reversed(data.HEALTH)]


async def test_time_range_holds_the_matching_span_start(store: Store) -> None:
    window = dict(start_ns=BASE_NS + 1000 * MS, end_ns=BASE_NS + 2100 * MS)
    assert await ids(store, **window) == [data.HEALTH[1], data.HEALTH[0], data.ORDER]
    assert await ids(store, start_ns=BASE_NS + 37 * MS, end_ns=BASE_NS + 37 * MS) == [data.CHECKOUT]


async def test_the_range_is_searched_newest_first_until_the_limit_is_reached(store: Store) -> None:
    window = dict(start_ns=BASE_NS, end_ns=BASE_NS + 2100 * MS)
    newest_first = [data.HEALTH[1], data.HEALTH[0], data.ORDER, data.CHECKOUT]
    for limit in range(1, 6):
        assert await ids(store, **window, limit=limit) == newest_first[:limit]
    # a trace matching in two windows is found once
    assert await ids(store, **window, service="frontend") == [data.HEALTH[1], data.HEALTH[0], data.CHECKOUT]


async def test_summaries_describe_each_whole_trace(store: Store) -> None:
    summaries = await trace_summaries(store, [data.CHECKOUT, "e" * 32, data.ORDER])
    assert summaries == [
        TraceSummary(
            trace_id=data.CHECKOUT,
            root_service="frontend",
            root_name="GET /checkout",
            start_ns=BASE_NS,
            duration_ns=120 * MS,
            span_count=6,
            error_count=3,
            services=["checkout", "frontend", "payment"],
        ),
        TraceSummary(data.ORDER, "worker", "process order", BASE_NS + 1000 * MS, 300 * MS, 2, 0, ["worker"]),
    ]
    assert await trace_summaries(store, []) == []


async def test_services_and_operations_in_a_range(store: Store) -> None:
    everything = (BASE_NS - 60_000 * MS, BASE_NS + 60_000 * MS)
    assert await services(store, *everything) == ["checkout", "frontend", "payment", "worker"]
    assert await services(store, BASE_NS + 1000 * MS, BASE_NS + 1500 * MS) == ["worker"]
    assert await services(store) == ["checkout", "frontend", "payment", "worker"]
    assert await services(store, end_ns=BASE_NS + 10 * MS) == ["checkout", "frontend"]
    assert await operations(store, "worker", "Consumer") == [("process order", "Consumer")]
    assert await operations(store, "frontend", "", *everything) == [
        ("GET /checkout", "Server"),
        ("GET /health", "Server"),
        ("POST /api/checkout", "Client"),
    ]
    assert await operations(store, "checkout", "Client", *everything) == [
        ("POST /charge", "Client"),
        ("SELECT orders", "Client"),
    ]
    assert await operations(store, "nobody", "", *everything) == []


async def test_kinds_and_statuses_by_their_api_names() -> None:
    assert kind_parameter("SERVER", "kind") == "Server" and kind_parameter("", "kind") == ""
    assert status_parameter("error", "status") == "Error"
    assert api_kind("Consumer") == "consumer" and api_kind("Unspecified") == ""
    with pytest.raises(BadRequestError, match=r"^kind: 'serverish' is not a span kind"):
        kind_parameter("serverish", "kind")
    with pytest.raises(BadRequestError, match=r"^status: 'failed' is not a status \(unset, ok, error\)"):
        status_parameter("failed", "status")
