"""GET /v1/traces/batch: several traces by id in the order asked, with one query, from either table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.service import Store, service_app
from backend.traces.native_api import native_routes
from backend.traces.reader import BY_ID_TABLE, batch_spans, by_trace, traces_spans
from collector.auth.principal import TenantScope, current_scope
from tests.backend.traces import traces_data as data
from tests.backend.traces.conftest import CONFIG

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHECKOUT_SPANS = [data.ROOT, data.CALL, data.CHECKOUT_SERVER, data.DB, data.CHARGE_CALL, data.CHARGE]


class CountingStore(Store):
    """A store that records the SQL of every query it runs."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.backend, store.config)
        self.queries: list[str] = []

    async def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[Any, ...]]:
        self.queries.append(sql)
        return await super().rows(sql, parameters)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def counted(store: Store) -> AsyncIterator[tuple[CountingStore, httpx.AsyncClient]]:
    """The native routes over a store counting its queries, and a client of them."""
    counting = CountingStore(store)
    app = service_app("counted", native_routes(counting, CONFIG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://traces") as http:
        yield counting, http


def _batch(*trace_ids: str) -> httpx.QueryParams:
    return httpx.QueryParams([("trace_id", trace_id) for trace_id in trace_ids])


async def test_the_traces_asked_come_back_whole_in_the_order_asked(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/traces/batch", params=_batch(data.ORDER, data.HEALTH[2], data.CHECKOUT))
    assert answer.status_code == 200
    traces = answer.json()["traces"]
    assert [t["trace_id"] for t in traces] == [data.ORDER, data.HEALTH[2], data.CHECKOUT]
    assert [s["span_id"] for s in traces[0]["spans"]] == [data.CONSUME, data.STOCK]
    assert [s["span_id"] for s in traces[2]["spans"]] == CHECKOUT_SPANS
    single = (await client.get(f"/v1/traces/{data.CHECKOUT}")).json()
    assert traces[2] == single  # every span field as the single lookup answers it
    assert traces[1]["spans"][0]["name"] == "GET /health"


async def test_unknown_ids_are_left_out_and_ids_read_as_the_single_lookup_reads_them(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(
        "/v1/traces/batch",
        params=_batch("f" * 32, data.CHECKOUT.upper(), "abcde1", "e" * 32, data.CHECKOUT),
    )
    traces = answer.json()["traces"]
    assert [(t["trace_id"], len(t["spans"])) for t in traces] == [(data.CHECKOUT, 6), (data.HEALTH[0], 1)]
    nothing = await client.get("/v1/traces/batch", params=_batch("f" * 32))
    assert (nothing.status_code, nothing.json()) == (200, {"traces": []})


async def test_more_than_100_ids_a_bad_id_or_none_are_400s_naming_trace_id(client: httpx.AsyncClient) -> None:
    too_many = await client.get("/v1/traces/batch", params=_batch(*[f"{n:032x}" for n in range(101)]))
    assert (too_many.status_code, too_many.json()) == (
        400,
        {"error": "trace_id: 101 ids given, at most 100 allowed"},
    )
    bad = await client.get("/v1/traces/batch", params=_batch(data.ORDER, "xyz"))
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "trace_id: 'xyz' is not a trace id (1 to 32 hex digits)"},
    )
    none = await client.get("/v1/traces/batch")
    assert (none.status_code, none.json()["error"]) == (
        400,
        "trace_id: is required (repeat it for each trace)",
    )
    hundred = await client.get(
        "/v1/traces/batch", params=_batch(*[f"{n:032x}" for n in range(99)], data.ORDER)
    )
    assert [t["trace_id"] for t in hundred.json()["traces"]] == [data.ORDER]


async def test_one_query_reads_the_whole_batch(counted: tuple[CountingStore, httpx.AsyncClient]) -> None:
    store, client = counted
    ids = [data.CHECKOUT, data.ORDER, *data.HEALTH, "f" * 32]
    store.queries.clear()
    traces = (await client.get("/v1/traces/batch", params=_batch(*ids))).json()["traces"]
    assert [t["trace_id"] for t in traces] == ids[:-1]
    assert len(store.queries) == 1
    store.queries.clear()
    await client.get("/v1/traces/batch", params=_batch(data.ORDER, data.HEALTH[0]))
    assert len(store.queries) == 1


async def test_traces_missing_from_the_trace_ordered_table_are_read_from_otel_traces_in_the_same_query(
    store: Store, older_store: Store
) -> None:
    ordered = await older_store.rows(f"SELECT DISTINCT TraceId FROM {older_store.table(BY_ID_TABLE)}")
    assert data.CHECKOUT not in {row[0] for row in ordered}
    ids = [data.CHECKOUT, "f" * 32, data.ORDER]
    counting = CountingStore(older_store)
    older = await batch_spans(counting, ids)
    assert len(counting.queries) == 1
    assert [(spans[0].trace_id, len(spans)) for spans in older] == [(data.CHECKOUT, 6), (data.ORDER, 2)]
    assert older == await batch_spans(store, ids)
    assert older == by_trace(await traces_spans(store, ids), ids)
    assert await batch_spans(older_store, ["f" * 32]) == [] and await batch_spans(older_store, []) == []


async def test_a_caller_restricted_to_tenants_reads_only_their_spans(store: Store) -> None:
    token = current_scope.set(TenantScope("host.name", ("app-2",)))  # the payment service's host
    try:
        scoped = await batch_spans(store, [data.CHECKOUT, data.ORDER])
    finally:
        current_scope.reset(token)
    assert [[(s.trace_id, s.span_id) for s in spans] for spans in scoped] == [[(data.CHECKOUT, data.CHARGE)]]


async def test_the_batch_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    batch = paths["/v1/traces/batch"]["get"]
    assert batch["summary"].startswith("Several traces by id at once")
    assert "/v1/traces/live" in paths
