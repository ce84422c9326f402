"""A trace by id comes back whole, every field as written through the clickhouse exporter, from either table."""

from __future__ import annotations

import pytest

from backend.service import BadRequestError, Store
from backend.traces.model import Span, SpanEvent, SpanLink
from backend.traces.reader import BY_ID_TABLE, by_trace, trace_id_parameter, trace_spans, traces_spans
from backend.traces.search import trace_summaries
from tests.backend.traces import traces_data as data
from tests.backend.traces.traces_data import BASE_NS, MS

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_span_of_the_trace_in_start_order(store: Store) -> None:
    spans = await trace_spans(store, data.CHECKOUT)
    assert [(s.span_id, s.service, s.name) for s in spans] == [
        (data.ROOT, "frontend", "GET /checkout"),
        (data.CALL, "frontend", "POST /api/checkout"),
        (data.CHECKOUT_SERVER, "checkout", "POST /api/checkout"),
        (data.DB, "checkout", "SELECT orders"),
        (data.CHARGE_CALL, "checkout", "POST /charge"),
        (data.CHARGE, "payment", "POST /charge"),
    ]
    assert {s.trace_id for s in spans} == {data.CHECKOUT}


async def test_span_fields_are_the_stored_values(store: Store) -> None:
    spans = {s.span_id: s for s in await trace_spans(store, data.CHECKOUT)}
    assert spans[data.CHARGE] == Span(
        trace_id=data.CHECKOUT,
        span_id=data.CHARGE,
        parent_span_id=data.CHARGE_CALL,
        name="POST /charge",
        service="payment",
        kind="Server",
        start_ns=BASE_NS + 37 * MS,
        duration_ns=55 * MS,
        status_code="Error",
        status_message="card declined",
        scope_name="io.opentelemetry.http",
        scope_version="1.2.0",
        attributes={"payment.amount": "42.5", "payment.retry": "true", "user.id": "user-7"},
        resource={"service.name": "payment", "service.version": "0.9.0", "host.name": "app-2"},
        events=[
            SpanEvent(
                BASE_NS + 90 * MS,
                "exception",
                {"exception.type": "CardDeclined", "exception.message": "card declined"},
            )
        ],
    )
    assert spans[data.ROOT].parent_span_id == ""
    assert spans[data.ROOT].attributes["http.response.status_code"] == "500"
    assert spans[data.DB].status_code == "Unset" and spans[data.DB].kind == "Client"


async def test_links_and_trace_state_come_back(store: Store) -> None:
    consume = (await trace_spans(store, data.ORDER))[0]
    assert consume.trace_state == "vendor=1"
    assert consume.kind == "Consumer" and consume.status_code == "Ok"
    assert consume.links == [
        SpanLink(data.CHECKOUT, data.CHECKOUT_SERVER, "", {"link.reason": "order placed"})
    ]
    assert consume.events == [SpanEvent(BASE_NS + 1100 * MS, "retry", {})]


async def test_upper_case_and_short_ids_find_the_trace(store: Store) -> None:
    upper = await trace_spans(store, data.CHECKOUT.upper())
    assert [s.span_id for s in upper] == [s.span_id for s in await trace_spans(store, data.CHECKOUT)]
    assert len(upper) == 6
    short = await trace_spans(store, "abcde1")
    assert [(s.trace_id, s.name) for s in short] == [(data.HEALTH[0], "GET /health")]


async def test_unknown_trace_is_empty(store: Store) -> None:
    assert await trace_spans(store, "f" * 32) == []


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 33, "5b8e-ff", " "])
async def test_malformed_ids_are_bad_requests_naming_the_parameter(bad: str) -> None:
    with pytest.raises(BadRequestError, match=r"^trace_id: .* is not a trace id"):
        trace_id_parameter(bad)


async def test_several_traces_at_once_grouped_in_the_order_asked(store: Store) -> None:
    ids = [data.ORDER, data.HEALTH[1], data.CHECKOUT, "e" * 32]
    groups = by_trace(await traces_spans(store, ids), ids)
    assert [(g[0].trace_id, len(g)) for g in groups] == [
        (data.ORDER, 2),
        (data.HEALTH[1], 1),
        (data.CHECKOUT, 6),
    ]
    assert await traces_spans(store, []) == []


async def test_traces_missing_from_the_trace_ordered_table_are_read_from_otel_traces(
    store: Store, older_store: Store
) -> None:
    ordered = await older_store.rows(f"SELECT DISTINCT TraceId FROM {older_store.table(BY_ID_TABLE)}")
    assert data.CHECKOUT not in {row[0] for row in ordered} and len(ordered) == 4
    ids = [data.CHECKOUT, data.ORDER]
    assert await traces_spans(older_store, ids) == await traces_spans(store, ids)
    assert await trace_summaries(older_store, ids) == await trace_summaries(store, ids)
    assert await trace_spans(older_store, "f" * 32) == []


async def test_every_span_is_copied_to_the_trace_ordered_table(store: Store) -> None:
    copied = await store.rows(
        f"SELECT TraceId, count() FROM {store.table(BY_ID_TABLE)} GROUP BY TraceId ORDER BY TraceId"
    )
    stored = await store.rows(
        f"SELECT TraceId, count() FROM {store.table('otel_traces')} GROUP BY TraceId ORDER BY TraceId"
    )
    assert copied == stored and sum(n for _, n in copied) == data.SPAN_COUNT
