"""The native JSON routes: trace by id, search with summaries, services, operations; bounded input."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.traces import traces_data as data
from tests.backend.traces.traces_data import BASE_NS, MS

pytestmark = pytest.mark.asyncio(loop_scope="module")

RANGE = {"start": str((BASE_NS - 60_000 * MS) / 1e9), "end": str((BASE_NS + 60_000 * MS) / 1e9)}


async def test_trace_by_id_answers_every_span(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/traces/{data.CHECKOUT}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["trace_id"] == data.CHECKOUT
    assert [s["span_id"] for s in body["spans"]] == [
        data.ROOT,
        data.CALL,
        data.CHECKOUT_SERVER,
        data.DB,
        data.CHARGE_CALL,
        data.CHARGE,
    ]
    charge = body["spans"][-1]
    assert charge == {
        "trace_id": data.CHECKOUT,
        "span_id": data.CHARGE,
        "parent_span_id": data.CHARGE_CALL,
        "name": "POST /charge",
        "service": "payment",
        "kind": "server",
        "start_time_unix_nano": str(BASE_NS + 37 * MS),
        "duration_ns": 55 * MS,
        "status": {"code": "error", "message": "card declined"},
        "trace_state": "",
        "scope": {"name": "io.opentelemetry.http", "version": "1.2.0"},
        "attributes": {"payment.amount": "42.5", "payment.retry": "true", "user.id": "user-7"},
        "resource": {"service.name": "payment", "service.version": "0.9.0", "host.name": "app-2"},
        "events": [
            {
                "time_unix_nano": str(BASE_NS + 90 * MS),
                "name": "exception",
                "attributes": {"exception.type": "CardDeclined", "exception.message": "card declined"},
            }
        ],
        "links": [],
    }
    order = (await client.get(f"/v1/traces/{data.ORDER.upper()}")).json()["spans"][0]
    assert order["links"] == [
        {
            "trace_id": data.CHECKOUT,
            "span_id": data.CHECKOUT_SERVER,
            "trace_state": "",
            "attributes": {"link.reason": "order placed"},
        }
    ]


async def test_trace_by_id_unknown_is_404_and_malformed_is_400(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/traces/" + "f" * 32)
    assert (missing.status_code, missing.json()) == (404, {"error": f"trace {'f' * 32} not found"})
    bad = await client.get("/v1/traces/not-hex")
    assert bad.status_code == 400
    assert bad.json() == {"error": "trace_id: 'not-hex' is not a trace id (1 to 32 hex digits)"}


async def test_search_summarizes_matching_traces_newest_first(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/traces", params={**RANGE, "attr": "user.id:user-7"})
    assert answer.status_code == 200
    assert answer.json() == {
        "traces": [
            {
                "trace_id": data.ORDER,
                "root_service": "worker",
                "root_name": "process order",
                "start_time_unix_nano": str(BASE_NS + 1000 * MS),
                "duration_ns": 300 * MS,
                "span_count": 2,
                "error_count": 0,
                "services": ["worker"],
            },
            {
                "trace_id": data.CHECKOUT,
                "root_service": "frontend",
                "root_name": "GET /checkout",
                "start_time_unix_nano": str(BASE_NS),
                "duration_ns": 120 * MS,
                "span_count": 6,
                "error_count": 3,
                "services": ["checkout", "frontend", "payment"],
            },
        ]
    }


async def test_search_filters(client: httpx.AsyncClient) -> None:
    async def found(**params: str | list[str]) -> list[str]:
        answer = await client.get("/v1/traces", params={**RANGE, **params})
        assert answer.status_code == 200, answer.text
        return [t["trace_id"] for t in answer.json()["traces"]]

    assert await found(service="checkout", operation="SELECT orders") == [data.CHECKOUT]
    assert await found(status="ERROR") == [data.CHECKOUT]
    assert await found(kind="consumer") == [data.ORDER]
    assert await found(attr=["host.name:app-2", "payment.retry:true"]) == [data.CHECKOUT]
    assert await found(attr="db.statement:SELECT * FROM orders WHERE id = $1") == [data.CHECKOUT]
    assert await found(min_duration="250ms") == [data.ORDER]
    assert await found(min_duration="100ms", max_duration="0.12s") == [data.CHECKOUT]
    assert await found(service="frontend", limit="2") == [data.HEALTH[2], data.HEALTH[1]]
    assert await found(service="nobody") == []


async def test_search_defaults_to_the_last_hour(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/traces", params={"service": "worker"})
    assert [t["trace_id"] for t in answer.json()["traces"]] == [data.ORDER]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "101"}, "limit: 101 must be between 1 and 100"),
        ({"limit": "0"}, "limit: 0 must be between 1 and 100"),
        ({"start": "0", "end": str(8 * 86400)}, "start, end: the time range is longer than max_range (168h)"),
        ({"start": "20", "end": "10"}, "start, end: the end is before the start"),
        ({"start": "yesterday"}, "start: 'yesterday' is not a time"),
        ({"min_duration": "fast"}, "min_duration: 'fast' is not a duration"),
        ({"min_duration": "2s", "max_duration": "1s"}, "max_duration: must not be less than min_duration"),
        ({"status": "broken"}, "status: 'broken' is not a status (unset, ok, error)"),
        ({"kind": "boss"}, "kind: 'boss' is not a span kind"),
        ({"attr": "no-colon"}, "attr: 'no-colon' is not key:value"),
        ({"attr": ":value"}, "attr: ':value' is not key:value"),
    ],
)
async def test_bad_search_input_is_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    answer = await client.get("/v1/traces", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)


async def test_services_and_operations(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/services")).json() == {
        "services": ["checkout", "frontend", "payment", "worker"]
    }
    ops = (await client.get("/v1/services/checkout/operations")).json()
    assert ops == {
        "operations": [
            {"name": "POST /api/checkout", "kind": "server"},
            {"name": "POST /charge", "kind": "client"},
            {"name": "SELECT orders", "kind": "client"},
        ]
    }
    servers = (await client.get("/v1/services/checkout/operations", params={"kind": "server"})).json()
    assert servers == {"operations": [{"name": "POST /api/checkout", "kind": "server"}]}
    early = {"start": "0", "end": "3600"}
    assert (await client.get("/v1/services", params=early)).json() == {"services": []}
    too_long = await client.get("/v1/services", params={"start": "0", "end": str(30 * 86400)})
    assert too_long.status_code == 400


async def test_openapi_lists_the_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/v1/traces/{trace_id}"]["get"]["summary"] == "Every span of one trace."
    assert paths["/v1/traces"]["get"]["summary"] == "Search traces: newest first, each summarized."
    for path in (
        "/api/traces",
        "/api/traces/{trace_id}",
        "/api/services",
        "/api/dependencies",
        "/api/v3/traces",
        "/api/v3/traces/{trace_id}",
        "/api/v3/services",
        "/api/v3/operations",
    ):
        assert path in paths
