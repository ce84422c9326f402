"""GET /v1/logs/facets: the top values of a field among the matching records, with counts."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import NANOS
from tests.backend.logs.fixtures import T0, Record, write

pytestmark = pytest.mark.asyncio(loop_scope="module")
RANGE = {"start": str(T0 // NANOS), "end": str(T0 // NANOS + 60)}
RECORDS = [
    *(Record("checkout ok", T0 + i, service="checkout", attributes={"route": "/pay"}) for i in range(5)),
    *(Record("cart ok", T0 + 10 + i, service="cart", attributes={"route": "/cart"}) for i in range(3)),
    Record("cart failed", T0 + 20, service="cart", severity=17, attributes={"route": "/cart", "code": "500"}),
    Record("email sent", T0 + 21, service="email", severity=13, resource={"host.name": "mail-1"}),
    Record("email sent", T0 + 22, service="email", resource={"host.name": "mail-2"}),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(module_backend: ClickHouseBackend, module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The module's service, with RECORDS written."""
    await write(module_backend, RECORDS)
    return module_client


async def facet(client: httpx.AsyncClient, field: str, **params: str) -> dict[str, object]:
    response = await client.get("/v1/logs/facets", params={**RANGE, "field": field, **params})
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def test_services_most_frequent_first_with_totals(client: httpx.AsyncClient) -> None:
    assert await facet(client, "service") == {
        "field": "service",
        "values": [
            {"value": "checkout", "count": 5},
            {"value": "cart", "count": 4},
            {"value": "email", "count": 2},
        ],
        "total": 11,
        "distinct": 3,
    }


async def test_equal_counts_are_ordered_by_value_and_limit_cuts(client: httpx.AsyncClient) -> None:
    result = await facet(client, "severity", limit="2")
    assert result["values"] == [{"value": "INFO", "count": 9}, {"value": "ERROR", "count": 1}]
    assert (result["total"], result["distinct"]) == (11, 3)
    numbers = await facet(client, "severity_number")
    assert numbers["values"] == [
        {"value": "9", "count": 9},
        {"value": "13", "count": 1},
        {"value": "17", "count": 1},
    ]


async def test_attribute_and_resource_keys_count_only_records_that_have_them(
    client: httpx.AsyncClient,
) -> None:
    routes = await facet(client, "attr.route")
    assert routes["values"] == [{"value": "/pay", "count": 5}, {"value": "/cart", "count": 4}]
    assert routes["total"] == 9
    assert (await facet(client, "attr.code"))["values"] == [{"value": "500", "count": 1}]
    hosts = await facet(client, "resource.host.name")
    assert hosts["values"] == [{"value": "mail-1", "count": 1}, {"value": "mail-2", "count": 1}]
    assert await facet(client, "attr.missing") == {
        "field": "attr.missing",
        "values": [],
        "total": 0,
        "distinct": 0,
    }


async def test_facets_take_the_search_filters(client: httpx.AsyncClient) -> None:
    assert (await facet(client, "service", q="ok"))["values"] == [
        {"value": "checkout", "count": 5},
        {"value": "cart", "count": 3},
    ]
    assert (await facet(client, "attr.route", service="cart", min_severity="error"))["values"] == [
        {"value": "/cart", "count": 1}
    ]
    assert (await facet(client, "service", attr="route:/pay"))["values"] == [
        {"value": "checkout", "count": 5}
    ]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "field: is required"),
        ({"field": "body"}, "field: 'body' is not a field to count (service, severity, "),
        ({"field": "attr."}, "field: 'attr.' is not a field to count"),
        ({"field": "service", "limit": "1001"}, "limit: 1001 must be between 1 and 1000"),
    ],
)
async def test_bad_fields_and_limits_are_400s(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    response = await client.get("/v1/logs/facets", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
