"""Jaeger's `/api` as Grafana's Jaeger data source calls and parses it.

Fields Grafana relies on (grafana/grafana public/app/plugins/datasource/jaeger: datasource.ts,
responseTransform.ts, dependencyGraphTransform.ts, _importedDependencies/model/transform-trace-data.tsx,
selectors/trace.ts, model/trace-viewer.ts; and pkg/tsdb/jaeger/types/types.go of its Go backend):

- every answer: `data`; `/api/dependencies` also `errors` = [{code, msg}] (shown as the error)
- `/api/services`, `/api/services/{service}/operations`: `data` = [string]
- `/api/traces/{id}`: `data[0]` is the trace; `/api/traces` (search): `data` = [trace]
- trace: `traceID` (required, compared lower-case with spans' `traceID`), `spans`, `processes`
- span: `traceID`, `spanID`, `operationName`, `startTime` (µs, integer, non-zero: spans without
  are dropped), `duration` (µs, integer), `processID` (a key of `processes`),
  `references` (the first one is the parent: `refType` CHILD_OF or FOLLOWS_FROM, `spanID`,
  `traceID`; its CHILD_OF gives `parentSpanID`), `tags` [{key, type, value}], `logs` (an array,
  mapped unconditionally) of {`timestamp` µs, `fields` [{key, type, value}]}, `warnings` (null or
  [string]), `stackTraces` (optional)
- process: `serviceName`, `tags` [{key, type, value}]
- dependency: `parent`, `child`, `callCount`
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.backend.traces import traces_data as data
from tests.backend.traces.traces_data import BASE_NS, MS, us

pytestmark = pytest.mark.asyncio(loop_scope="module")

WINDOW = {"start": str(us(-60_000)), "end": str(us(60_000))}
"""Around the data, in Unix microseconds as Grafana sends them."""


def kv(key: str, value: object) -> dict[str, object]:
    return {"key": key, "type": "bool" if isinstance(value, bool) else "string", "value": value}


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_trace_by_id_has_every_field_grafana_reads(client: httpx.AsyncClient) -> None:
    body = await get(client, f"/api/traces/{data.CHECKOUT}")
    assert set(body) == {"data", "total", "limit", "offset", "errors"}
    assert body["errors"] is None
    trace = body["data"][0]
    assert trace["traceID"] == data.CHECKOUT
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert list(spans) == [data.ROOT, data.CALL, data.CHECKOUT_SERVER, data.DB, data.CHARGE_CALL, data.CHARGE]
    charge = spans[data.CHARGE]
    assert charge["traceID"] == data.CHECKOUT
    assert charge["operationName"] == "POST /charge"
    assert charge["startTime"] == (BASE_NS + 37 * MS) // 1000 and isinstance(charge["startTime"], int)
    assert charge["duration"] == 55_000
    assert charge["references"] == [
        {"refType": "CHILD_OF", "traceID": data.CHECKOUT, "spanID": data.CHARGE_CALL}
    ]
    assert charge["tags"] == [
        kv("payment.amount", "42.5"),
        kv("payment.retry", "true"),
        kv("user.id", "user-7"),
        kv("otel.scope.name", "io.opentelemetry.http"),
        kv("otel.scope.version", "1.2.0"),
        kv("span.kind", "server"),
        kv("otel.status_code", "ERROR"),
        kv("error", True),
        kv("otel.status_description", "card declined"),
    ]
    assert charge["logs"] == [
        {
            "timestamp": (BASE_NS + 90 * MS) // 1000,
            "fields": [
                kv("event", "exception"),
                kv("exception.message", "card declined"),
                kv("exception.type", "CardDeclined"),
            ],
        }
    ]
    assert charge["warnings"] is None
    assert trace["processes"][charge["processID"]] == {
        "serviceName": "payment",
        "tags": [kv("host.name", "app-2"), kv("service.version", "0.9.0")],
    }
    root = spans[data.ROOT]
    assert root["references"] == [] and root["logs"] == []
    assert trace["processes"][root["processID"]]["serviceName"] == "frontend"
    assert {p["serviceName"] for p in trace["processes"].values()} == {"frontend", "checkout", "payment"}
    assert all(s["processID"] in trace["processes"] for s in trace["spans"])


async def test_links_are_follows_from_references(client: httpx.AsyncClient) -> None:
    trace = (await get(client, f"/api/traces/{data.ORDER}"))["data"][0]
    consume = trace["spans"][0]
    assert consume["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": data.CHECKOUT, "spanID": data.CHECKOUT_SERVER}
    ]
    assert kv("w3c.tracestate", "vendor=1") in consume["tags"]
    assert consume["logs"] == [{"timestamp": us(1100), "fields": [kv("event", "retry")]}]


async def test_trace_ids_short_upper_case_and_with_time_params(client: httpx.AsyncClient) -> None:
    short = await get(client, "/api/traces/ABCDE2")
    assert short["data"][0]["traceID"] == data.HEALTH[1]
    timed = await get(client, f"/api/traces/{data.CHECKOUT}", **WINDOW)
    assert len(timed["data"][0]["spans"]) == 6


async def test_unknown_trace_is_404_and_malformed_id_400_in_jaegers_error_shape(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/traces/" + "f" * 32)
    assert missing.status_code == 404
    assert missing.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found"}],
    }
    bad = await client.get("/api/traces/xyz")
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"code": 400, "msg": "traceID: 'xyz' is not a trace id (1 to 32 hex digits)"}
    ]
    bad_time = await client.get(f"/api/traces/{data.CHECKOUT}", params={"start": "soon"})
    assert bad_time.status_code == 400
    assert bad_time.json()["errors"][0]["msg"] == "start: 'soon' is not a number of microseconds"


async def test_services_and_operations_as_grafana_lists_them(client: httpx.AsyncClient) -> None:
    services = await get(client, "/api/services")
    assert services["data"] == ["checkout", "frontend", "payment", "worker"] and services["total"] == 4
    ops = await get(client, "/api/services/frontend/operations")
    assert ops["data"] == ["GET /checkout", "GET /health", "POST /api/checkout"] and ops["total"] == 3
    assert (await get(client, "/api/services/nobody/operations"))["data"] == []


async def test_operations_with_span_kind(client: httpx.AsyncClient) -> None:
    ops = await get(client, "/api/operations", service="checkout")
    assert ops["data"] == [
        {"name": "POST /api/checkout", "spanKind": "server"},
        {"name": "POST /charge", "spanKind": "client"},
        {"name": "SELECT orders", "spanKind": "client"},
    ]
    clients = await get(client, "/api/operations", service="checkout", spanKind="client")
    assert [o["name"] for o in clients["data"]] == ["POST /charge", "SELECT orders"]
    missing = await client.get("/api/operations")
    assert missing.status_code == 400
    assert missing.json()["errors"] == [{"code": 400, "msg": "service: parameter 'service' is required"}]
    bad_kind = await client.get("/api/operations", params={"service": "a", "spanKind": "boss"})
    assert bad_kind.status_code == 400 and bad_kind.json()["errors"][0]["msg"].startswith("spanKind: ")


async def search(client: httpx.AsyncClient, **params: Any) -> list[str]:
    body = await get(client, "/api/traces", **{**WINDOW, "lookback": "custom", **params})
    return [trace["traceID"] for trace in body["data"]]


async def test_search_as_grafana_sends_it(client: httpx.AsyncClient) -> None:
    # Grafana: service, operation, tags (logfmt converted to a JSON object), durations, limit, start/end µs
    tags = json.dumps({"user.id": "user-7", "error": "true"})
    assert await search(client, service="payment", tags=tags, minDuration="50ms", limit="20") == [
        data.CHECKOUT
    ]
    body = await get(client, "/api/traces", service="worker", **WINDOW)
    (trace,) = body["data"]
    assert trace["traceID"] == data.ORDER and len(trace["spans"]) == 2
    assert {p["serviceName"] for p in trace["processes"].values()} == {"worker"}


async def test_search_filters(client: httpx.AsyncClient) -> None:
    assert await search(client, service="frontend") == [*reversed(data.HEALTH), data.CHECKOUT]
    assert await search(client, service="frontend", operation="GET /checkout") == [data.CHECKOUT]
    assert await search(client, service="frontend", limit="1") == [data.HEALTH[2]]
    assert await search(client, service="frontend", maxDuration="1ms") == [*reversed(data.HEALTH)]
    assert await search(client, service="worker", minDuration="301ms") == []
    assert await search(client, service="checkout", tags="db.system=postgresql span.kind=client") == [
        data.CHECKOUT
    ]
    assert await search(client, service="worker", tags='messaging.system="kafka"') == [data.ORDER]
    assert await search(client, service="worker", tag="host.name:batch-1") == [data.ORDER]
    assert await search(client, service="frontend", tag="http.route:/health") == [*reversed(data.HEALTH)]
    assert await search(client, service="payment", tags='{"payment.amount": 42.5}') == [data.CHECKOUT]
    early = {"start": str(us(-60_000)), "end": str(us(500))}
    assert await search(client, service="frontend", **early) == [data.CHECKOUT]


async def test_search_by_trace_ids_reports_the_missing_ones(client: httpx.AsyncClient) -> None:
    body = await get(client, "/api/traces", traceID=[data.ORDER, "abcde1", "f" * 32])
    assert [t["traceID"] for t in body["data"]] == [data.ORDER, data.HEALTH[0]]
    assert body["errors"] == [{"msg": "trace not found", "traceID": "f" * 32}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "service: parameter 'service' is required"),
        ({"service": "a", "limit": "x"}, "limit: 'x' is not an integer"),
        ({"service": "a", "limit": "101"}, "limit: 101 must be between 0 and 100"),
        ({"service": "a", "minDuration": "soon"}, "minDuration: 'soon' is not a duration"),
        (
            {"service": "a", "minDuration": "2s", "maxDuration": "1s"},
            "maxDuration: 'maxDuration' should be greater than 'minDuration'",
        ),
        ({"service": "a", "start": "x"}, "start: 'x' is not a number of microseconds"),
        (
            {"service": "a", "start": "0", "end": str(8 * 86400 * 10**6)},
            "start, end: the time range is longer than max_range (168h)",
        ),
        ({"service": "a", "lookback": "forever"}, "lookback: 'forever' is not a duration"),
        ({"service": "a", "tags": "{bad json"}, "tags: malformed JSON object"),
        ({"service": "a", "tags": '{"a": {"b": 1}}'}, "tags: the value of 'a' must be a string"),
        ({"service": "a", "tags": 'a="open'}, "tags: unterminated quoted value of 'a'"),
        ({"service": "a", "tag": "novalue"}, "tag: malformed tag 'novalue', expecting key:value"),
        ({"traceID": "zz"}, "traceID: 'zz' is not a trace id"),
    ],
)
async def test_bad_search_input_is_400_with_jaegers_errors(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    answer = await client.get("/api/traces", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["data"] is None
    assert body["errors"][0]["code"] == 400 and body["errors"][0]["msg"].startswith(message)


async def test_dependencies_as_grafanas_node_graph_reads_them(client: httpx.AsyncClient) -> None:
    end_ms = (BASE_NS + 60_000 * MS) // 10**6
    body = await get(client, "/api/dependencies", endTs=str(end_ms), lookback=str(120_000))
    assert sorted(body["data"], key=lambda d: d["parent"]) == [
        {"parent": "checkout", "child": "payment", "callCount": 1},
        {"parent": "frontend", "child": "checkout", "callCount": 1},
    ]
    only = await get(client, "/api/dependencies", endTs=str(end_ms), lookback="120000", service="payment")
    assert only["data"] == [{"parent": "checkout", "child": "payment", "callCount": 1}]
    before = await get(client, "/api/dependencies", endTs=str(end_ms - 60_000), lookback="1000")
    assert before["data"] == []


async def test_dependencies_bad_input_is_400_with_errors_grafana_shows(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/dependencies")
    assert missing.status_code == 400
    assert missing.json()["errors"] == [{"code": 400, "msg": "endTs: '' is not a number of milliseconds"}]
    too_long = await client.get(
        "/api/dependencies", params={"endTs": "1000000000000", "lookback": str(8 * 86400_000)}
    )
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["msg"].startswith("lookback: the time range is longer than max_range")
