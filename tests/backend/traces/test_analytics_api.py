"""The analytics routes over HTTP: JSON shapes and values, the critical path of a stored trace, 400s and 404s.

Data: `test_analytics`'s traces (see its docstring), written through the clickhouse exporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from backend.service import ServiceConfig, Store, service_app
from backend.traces.analytics_api import analytics_routes
from backend.traces.config import TracesServiceConfig
from backend.traces.service import TracesService
from tests.backend.conftest import extension_settings
from tests.backend.traces.test_analytics import (
    API_SERVER,
    BASE,
    FE_CLIENT,
    MINUTE,
    MS,
    PUBLISH,
    ROOT,
    SECOND,
    SELECT_CLIENT,
    SELECT_SERVER,
    analytics_store,
    span_id,
    trace_id,
)

__all__ = ["analytics_store"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIG = ServiceConfig(max_limit=50, max_range=timedelta(days=1))
RANGE = {"start": str(BASE // SECOND), "end": str(BASE // SECOND + 180)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(analytics_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app serving only the analytics routes over the module's data."""
    app = service_app("analytics", analytics_routes(analytics_store, CONFIG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def _error(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> str:
    response = await client.get(url, params=params)
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]
    return message


# --- /v1/dependencies ------------------------------------------------------------------------------


async def test_dependencies_answer_edges_with_call_and_error_counts(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/dependencies", params=RANGE)
    assert response.status_code == 200
    assert response.json() == [
        {"parent": "api", "child": "db", "call_count": 20, "error_count": 1},
        {"parent": "api", "child": "worker", "call_count": 5, "error_count": 1},
        {"parent": "frontend", "child": "api", "call_count": 10, "error_count": 2},
    ]


async def test_dependencies_take_rfc3339_times_and_default_to_the_last_hour(
    client: httpx.AsyncClient,
) -> None:
    narrow = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:27Z"}
    assert (await client.get("/v1/dependencies", params=narrow)).json()[2] == {
        "parent": "frontend",
        "child": "api",
        "call_count": 5,
        "error_count": 1,
    }
    assert (await client.get("/v1/dependencies")).json() == []  # the data is from 2026-01-01


async def test_dependencies_bound_the_time_range(client: httpx.AsyncClient) -> None:
    message = await _error(client, "/v1/dependencies", {"start": "0", "end": str(2 * 86_400)})
    assert message == "start, end: the time range is longer than max_range (24h)"
    assert (await _error(client, "/v1/dependencies", {"start": "later"})).startswith(
        "start: 'later' is not a time"
    )


# --- /v1/red -------------------------------------------------------------------------------------------


async def test_red_answers_series_of_the_service_and_its_operations(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/red", params={"service": "api", "step": "1m", **RANGE})
    assert response.status_code == 200
    body = response.json()
    assert {
        key: body[key] for key in ("service", "operation", "span_kinds", "start_ns", "end_ns", "step_ns")
    } == {
        "service": "api",
        "operation": None,
        "span_kinds": ["entry"],
        "start_ns": BASE,
        "end_ns": BASE + 3 * MINUTE,
        "step_ns": MINUTE,
    }
    assert body["timestamps_ns"] == [BASE, BASE + MINUTE, BASE + 2 * MINUTE]
    whole, orders = body["series"]
    assert whole["operation"] is None and orders["operation"] == "POST /orders"
    assert orders["requests"] == [10, 0, 0]
    assert orders["errors"] == [2, 0, 0]
    assert orders["request_rate"] == pytest.approx([10 / 60, 0.0, 0.0], rel=1e-12)
    assert orders["error_rate"][0] == pytest.approx(0.2, rel=1e-12)
    assert orders["error_rate"][1:] == [None, None]
    assert orders["p50_ms"][0] == pytest.approx(55.0, rel=1e-12)
    assert orders["p90_ms"][0] == pytest.approx(91.0, rel=1e-12)
    assert orders["p99_ms"][0] == pytest.approx(99.1, rel=1e-12)
    assert orders["p99_ms"][1:] == [None, None]


async def test_red_span_kinds_repeated_or_comma_separated(client: httpx.AsyncClient) -> None:
    comma = (
        await client.get("/v1/red", params={"service": "api", "span_kind": "client,producer", **RANGE})
    ).json()
    repeated = await client.get(
        "/v1/red",
        params=[("service", "api"), ("span_kind", "CLIENT"), ("span_kind", "producer"), *RANGE.items()],
    )
    assert comma["span_kinds"] == ["client", "producer"]
    assert repeated.json()["series"] == comma["series"]
    assert sum(comma["series"][0]["requests"]) == 10 + 10 + 1 + 5
    every = (await client.get("/v1/red", params={"service": "api", "span_kind": "all", **RANGE})).json()
    assert every["span_kinds"] == ["all"]
    assert sum(every["series"][0]["requests"]) == 36


async def test_red_default_step_makes_about_a_hundred_whole_second_buckets(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/red", params={"service": "frontend", **RANGE})).json()
    assert body["step_ns"] == 2 * SECOND  # 180 s / 100, rounded up to whole seconds
    assert len(body["timestamps_ns"]) == 90
    assert sum(body["series"][0]["requests"]) == 15


async def test_red_limit_and_operation(client: httpx.AsyncClient) -> None:
    limited = (
        await client.get("/v1/red", params={"service": "api", "span_kind": "client", "limit": "1", **RANGE})
    ).json()
    assert [s["operation"] for s in limited["series"]] == [None, "GET stock"]
    one = (
        await client.get("/v1/red", params={"service": "frontend", "operation": "GET /cart", **RANGE})
    ).json()
    assert one["operation"] == "GET /cart"
    assert [s["operation"] for s in one["series"]] == [None, "GET /cart"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "service: is required"),
        ({"service": "x" * 1025}, "service: is longer than 1024 characters"),
        ({"service": "api", "operation": "y" * 1025}, "operation: is longer than 1024 characters"),
        (
            {"service": "api", "step": "100ms"},
            "step: gives 1800 buckets over the time range, more than 1000 (use at least 1s)",
        ),
        ({"service": "api", "step": "500us"}, "step: must be at least 1ms"),
        ({"service": "api", "step": "soon"}, "step: 'soon' is not a duration (e.g. 250ms, 1.5s, 1h30m)"),
        ({"service": "api", "span_kind": "server,sideways"}, "span_kind: 'sideways' is not one of"),
        ({"service": "api", "span_kind": "all,server"}, "span_kind: 'all' is not one of"),
        ({"service": "api", "limit": "51"}, "limit: 51 must be between 1 and 50"),
    ],
)
async def test_red_bad_input_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    assert (await _error(client, "/v1/red", {**RANGE, **params})).startswith(message)


async def test_red_of_an_empty_time_range_is_a_400(client: httpx.AsyncClient) -> None:
    message = await _error(client, "/v1/red", {"service": "api", "start": "100", "end": "100"})
    assert message == "start, end: the time range is empty"


async def test_red_at_most_a_thousand_buckets(client: httpx.AsyncClient) -> None:
    ok = await client.get("/v1/red", params={"service": "api", "step": "180ms", **RANGE})
    assert len(ok.json()["timestamps_ns"]) == 1000
    too_many = await _error(client, "/v1/red", {"service": "api", "step": "179ms", **RANGE})
    assert too_many.startswith("step: gives 1006 buckets")


# --- /v1/latency ---------------------------------------------------------------------------------------


async def test_latency_answers_percentiles_and_log_buckets(client: httpx.AsyncClient) -> None:
    params = {"service": "api", "operation": "POST /orders", "buckets": "2", **RANGE}
    body = (await client.get("/v1/latency", params=params)).json()
    assert {
        k: body[k] for k in ("service", "operation", "span_kinds", "scale", "count", "min_ms", "max_ms")
    } == {
        "service": "api",
        "operation": "POST /orders",
        "span_kinds": ["entry"],
        "scale": "log",
        "count": 10,
        "min_ms": 10.0,
        "max_ms": 100.0,
    }
    assert [body[f"p{p}_ms"] for p in (50, 75, 90, 95, 99)] == pytest.approx(
        [55, 77.5, 91, 95.5, 99.1], rel=1e-12
    )
    assert body["mean_ms"] == 55.0
    assert body["buckets"] == [
        {"lower_ms": 10.0, "upper_ms": pytest.approx(31.6227766, rel=1e-9), "count": 3},
        {"lower_ms": pytest.approx(31.6227766, rel=1e-9), "upper_ms": 100.0, "count": 7},
    ]


async def test_latency_with_the_spanmetrics_buckets(client: httpx.AsyncClient) -> None:
    params = {"service": "api", "operation": "POST /orders", "buckets": "spanmetrics", **RANGE}
    body = (await client.get("/v1/latency", params=params)).json()
    assert body["scale"] == "spanmetrics"
    assert [b["upper_ms"] for b in body["buckets"]] == [
        2,
        4,
        6,
        8,
        10,
        50,
        100,
        200,
        400,
        800,
        1000,
        1400,
        2000,
        5000,
        10000,
        15000,
        None,
    ]
    assert [b["count"] for b in body["buckets"]] == [0, 0, 0, 0, 1, 4, 5, *[0] * 10]


async def test_latency_defaults_to_twenty_buckets_and_answers_nulls_without_spans(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/v1/latency", params={"service": "api", **RANGE})).json()
    assert len(body["buckets"]) == 20 and body["count"] == 10
    none = (await client.get("/v1/latency", params={"service": "nobody", **RANGE})).json()
    assert (none["count"], none["min_ms"], none["p99_ms"], none["buckets"]) == (0, None, None, [])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"buckets": "0"}, "buckets: 0 must be between 1 and 200"),
        ({"buckets": "201"}, "buckets: 201 must be between 1 and 200"),
        ({"buckets": "many"}, "buckets: 'many' is not an integer"),
        ({"service": ""}, "service: is required"),
        ({"span_kind": "async"}, "span_kind: 'async' is not one of"),
    ],
)
async def test_latency_bad_input_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    assert (await _error(client, "/v1/latency", {"service": "api", **RANGE, **params})).startswith(message)


# --- /v1/traces/{trace_id}/critical-path -----------------------------------------------------------


async def test_critical_path_of_a_stored_trace(client: httpx.AsyncClient) -> None:
    # Checkout trace 0 (ms from BASE): the GET stock call overlaps SELECT orders and is not on the
    # path; the worker consuming the published order is asynchronous and not on it either.
    response = await client.get(f"/v1/traces/{trace_id(1, 0)}/critical-path")
    assert response.status_code == 200
    body = response.json()

    def section(
        role: int, service: str, operation: str, start: int, end: int, self_time: int
    ) -> dict[str, object]:
        return {
            "span_id": span_id(0, role),
            "service": service,
            "operation": operation,
            "start_ns": BASE + start * MS,
            "end_ns": BASE + end * MS,
            "duration_ns": (end - start) * MS,
            "self_time_ns": self_time * MS,
        }

    root = (ROOT, "frontend", "GET /checkout")
    call = (FE_CLIENT, "frontend", "POST /orders")
    api = (API_SERVER, "api", "POST /orders")
    select = (SELECT_CLIENT, "api", "SELECT orders")
    assert body["path"] == [
        section(*root, 0, 5, 186),
        section(*call, 5, 7, 4),
        section(*api, 7, 8, 3),
        section(*select, 8, 9, 3),
        section(SELECT_SERVER, "db", "SELECT orders", 9, 12, 3),
        section(*select, 12, 14, 3),
        section(*api, 14, 15, 3),
        section(PUBLISH, "api", "publish order", 15, 16, 1),
        section(*api, 16, 17, 3),
        section(*call, 17, 19, 4),
        section(*root, 19, 200, 186),
    ]
    assert body["trace_id"] == trace_id(1, 0)
    assert (body["start_ns"], body["end_ns"], body["duration_ns"]) == (BASE, BASE + 200 * MS, 200 * MS)
    assert sum(s["duration_ns"] for s in body["path"]) == 200 * MS


async def test_critical_path_of_a_single_span_trace(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v1/traces/{trace_id(2, 4)}/critical-path")).json()
    assert [(s["operation"], s["duration_ns"], s["self_time_ns"]) for s in body["path"]] == [
        ("GET /cart", 20 * MS, 20 * MS)
    ]


async def test_critical_path_of_an_unknown_trace_is_a_404_and_of_a_bad_id_a_400(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get(f"/v1/traces/{'0' * 31}9/critical-path")
    assert missing.status_code == 404
    assert missing.json() == {"error": f"trace '{'0' * 31}9' not found"}
    bad = await client.get("/v1/traces/not-hex/critical-path")
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("trace_id: 'not-hex' is not a trace id")


# --- in the trace service --------------------------------------------------------------------------


async def test_the_trace_service_serves_the_routes_and_lists_them_in_openapi(analytics_store: Store) -> None:
    service = TracesService(extension_settings("traces_service"), TracesServiceConfig())
    app = service.build(analytics_store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        path = (await http.get(f"/v1/traces/{trace_id(1, 0)}/critical-path")).json()
        assert path["duration_ns"] == 200 * MS
        edges = (await http.get("/v1/dependencies", params=RANGE)).json()
        assert len(edges) == 3
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert paths["/v1/red"]["get"]["summary"].startswith("RED metrics per operation of a service")
    assert paths["/v1/latency"]["get"]["summary"].startswith("Latency distribution")
    assert paths["/v1/dependencies"]["get"]["summary"].startswith("Service dependency graph")
    assert paths["/v1/traces/{trace_id}/critical-path"]["get"]["summary"].startswith(
        "Critical path of a trace"
    )
