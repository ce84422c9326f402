"""Jaeger's `/api/v3` gateway: OTLP/JSON traces, services, operations, grpc-gateway errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.backend.traces import traces_data as data
from tests.backend.traces.traces_data import BASE_NS, MS

pytestmark = pytest.mark.asyncio(loop_scope="module")


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


WINDOW = {
    "query.start_time_min": rfc3339(BASE_NS - 60_000 * MS),
    "query.start_time_max": rfc3339(BASE_NS + 60_000 * MS),
}


def string_kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_trace_by_id_in_otlp_json(client: httpx.AsyncClient) -> None:
    body = await get(client, f"/api/v3/traces/{data.CHECKOUT}")
    resources = body["result"]["resourceSpans"]
    assert [r["resource"]["attributes"][1]["value"]["stringValue"] for r in resources] == [
        "frontend",
        "checkout",
        "payment",
    ]
    payment = resources[2]
    assert payment["resource"]["attributes"] == [
        string_kv("host.name", "app-2"),
        string_kv("service.name", "payment"),
        string_kv("service.version", "0.9.0"),
    ]
    (scope,) = payment["scopeSpans"]
    assert scope["scope"] == {"name": "io.opentelemetry.http", "version": "1.2.0"}
    assert scope["spans"] == [
        {
            "traceId": data.CHECKOUT,
            "spanId": data.CHARGE,
            "parentSpanId": data.CHARGE_CALL,
            "name": "POST /charge",
            "kind": 2,
            "startTimeUnixNano": str(BASE_NS + 37 * MS),
            "endTimeUnixNano": str(BASE_NS + 92 * MS),
            "attributes": [
                string_kv("payment.amount", "42.5"),
                string_kv("payment.retry", "true"),
                string_kv("user.id", "user-7"),
            ],
            "events": [
                {
                    "timeUnixNano": str(BASE_NS + 90 * MS),
                    "name": "exception",
                    "attributes": [
                        string_kv("exception.message", "card declined"),
                        string_kv("exception.type", "CardDeclined"),
                    ],
                }
            ],
            "links": [],
            "status": {"code": 2, "message": "card declined"},
        }
    ]
    frontend_spans = resources[0]["scopeSpans"][0]["spans"]
    assert [(s["spanId"], s["kind"], s["status"]) for s in frontend_spans] == [
        (data.ROOT, 2, {"code": 2, "message": "payment failed"}),
        (data.CALL, 3, {"code": 0}),
    ]


async def test_links_trace_state_and_ok_status(client: httpx.AsyncClient) -> None:
    body = await get(client, f"/api/v3/traces/{data.ORDER.upper()}")
    consume = body["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert consume["kind"] == 5 and consume["status"] == {"code": 1} and consume["traceState"] == "vendor=1"
    assert consume["parentSpanId"] == ""
    assert consume["links"] == [
        {
            "traceId": data.CHECKOUT,
            "spanId": data.CHECKOUT_SERVER,
            "attributes": [string_kv("link.reason", "order placed")],
        }
    ]


async def test_unknown_and_malformed_trace_ids(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v3/traces/" + "f" * 32)
    assert missing.status_code == 404
    assert missing.json() == {"error": {"httpCode": 404, "message": "trace not found"}}
    bad = await client.get("/api/v3/traces/nope")
    assert bad.status_code == 400
    assert (
        bad.json()["error"]["message"]
        == "malformed parameter trace_id: 'nope' is not a trace id (1 to 32 hex digits)"
    )
    bad_time = await client.get(f"/api/v3/traces/{data.CHECKOUT}", params={"start_time": "later"})
    assert bad_time.status_code == 400
    assert bad_time.json()["error"]["message"].startswith(
        "malformed parameter start_time: 'later' is not a time"
    )


async def test_find_traces_with_every_filter(client: httpx.AsyncClient) -> None:
    async def found(**params: str) -> list[str]:
        body = await get(client, "/api/v3/traces", **{**WINDOW, **params})
        ids: list[str] = []
        for resource in body["result"]["resourceSpans"]:
            trace_id = resource["scopeSpans"][0]["spans"][0]["traceId"]
            if trace_id not in ids:
                ids.append(trace_id)
        return ids

    assert await found() == [*reversed(data.HEALTH), data.ORDER, data.CHECKOUT]
    assert await found(**{"query.service_name": "payment"}) == [data.CHECKOUT]
    assert await found(
        **{"query.service_name": "frontend", "query.operation_name": "GET /health", "query.num_traces": "2"}
    ) == [data.HEALTH[2], data.HEALTH[1]]
    assert await found(**{"query.attributes": json.dumps({"user.id": "user-7"})}) == [
        data.ORDER,
        data.CHECKOUT,
    ]
    assert await found(**{"query.attributes": json.dumps({"payment.retry": True})}) == [data.CHECKOUT]
    assert await found(**{"query.duration_min": "250ms"}) == [data.ORDER]
    assert await found(**{"query.duration_min": "100ms", "query.duration_max": "120ms"}) == [data.CHECKOUT]
    # lowerCamelCase names, as grpc-gateway also accepts
    camel = {
        "query.startTimeMin": WINDOW["query.start_time_min"],
        "query.startTimeMax": WINDOW["query.start_time_max"],
    }
    assert await found(**camel, **{"query.serviceName": "worker", "query.searchDepth": "5"}) == [data.ORDER]
    empty = await get(client, "/api/v3/traces", **WINDOW, **{"query.service_name": "nobody"})
    assert empty == {"result": {"resourceSpans": []}}


async def test_find_traces_answers_each_trace_whole(client: httpx.AsyncClient) -> None:
    body = await get(client, "/api/v3/traces", **WINDOW, **{"query.service_name": "payment"})
    spans = [s for r in body["result"]["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 6 and {s["traceId"] for s in spans} == {data.CHECKOUT}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "query.start_time_min and query.start_time_max are required"),
        (
            {**WINDOW, "query.num_traces": "many"},
            "malformed parameter query.num_traces: 'many' is not an integer",
        ),
        (
            {**WINDOW, "query.num_traces": "101"},
            "malformed parameter query.num_traces: 101 must be between 0 and 100",
        ),
        (
            {**WINDOW, "query.duration_min": "x"},
            "malformed parameter query.duration_min: 'x' is not a duration",
        ),
        (
            {**WINDOW, "query.attributes": "[1]"},
            "malformed parameter query.attributes: must be a JSON object",
        ),
        (
            {**WINDOW, "query.raw_traces": "maybe"},
            "malformed parameter query.raw_traces: 'maybe' is not a boolean",
        ),
        (
            {"query.start_time_min": "2020-01-01T00:00:00Z", "query.start_time_max": "2020-02-01T00:00:00Z"},
            "malformed parameter query.start_time_min, query.start_time_max: the time range is longer than max_range",
        ),
        (
            {"query.start_time_min": "yesterday", "query.start_time_max": "2020-02-01T00:00:00Z"},
            "malformed parameter query.start_time_min: 'yesterday' is not a time",
        ),
    ],
)
async def test_bad_find_input_is_400_in_grpc_gateway_shape(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    answer = await client.get("/api/v3/traces", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["httpCode"] == 400 and error["message"].startswith(message)


async def test_services_and_operations(client: httpx.AsyncClient) -> None:
    assert await get(client, "/api/v3/services") == {
        "services": ["checkout", "frontend", "payment", "worker"]
    }
    assert await get(client, "/api/v3/operations", service="worker") == {
        "operations": [
            {"name": "UPDATE stock", "spanKind": "client"},
            {"name": "process order", "spanKind": "consumer"},
        ]
    }
    servers = await get(client, "/api/v3/operations", service="frontend", span_kind="server")
    assert [o["name"] for o in servers["operations"]] == ["GET /checkout", "GET /health"]
    missing = await client.get("/api/v3/operations")
    assert missing.status_code == 400
    assert missing.json() == {"error": {"httpCode": 400, "message": "service is required"}}
