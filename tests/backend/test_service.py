"""The query services' shared parts: bounded inputs, 400s that name the parameter, the app and OpenAPI."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import (
    BadRequestError,
    Query,
    QueryService,
    ServiceConfig,
    Store,
    parse_duration,
    parse_time,
    service_app,
)
from collector.errors import ConfigError
from tests.backend.conftest import BackendHost, extension_settings


def test_durations_in_go_and_prometheus_forms() -> None:
    assert parse_duration("1h30m", "d") == timedelta(minutes=90)
    assert parse_duration("250ms", "d") == timedelta(milliseconds=250)
    assert parse_duration("1.5s", "d") == timedelta(seconds=1.5)
    assert parse_duration("2d", "d") == timedelta(days=2)
    assert parse_duration("90", "d") == timedelta(seconds=90)
    assert parse_duration("100us", "d") == timedelta(microseconds=100)
    for bad in ("", "5 minutes", "1h30", "-1s", "ms"):
        with pytest.raises(BadRequestError, match=r"^d: "):
            parse_duration(bad, "d")


def test_times_as_rfc3339_or_unix_seconds() -> None:
    assert parse_time("1970-01-01T00:00:01Z", "t") == 1_000_000_000
    assert parse_time("2026-11-26T10:00:00.5+01:00", "t") == 1795683600_500_000_000
    assert parse_time("1795683600.25", "t") == 1795683600_250_000_000
    with pytest.raises(BadRequestError, match=r"^t: 'yesterday' is not a time"):
        parse_time("yesterday", "t")


def _query(url: str, **config: object) -> Query:
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": url.encode(), "headers": []}
    return Query(Request(scope), ServiceConfig(**config))  # type: ignore[arg-type]


def test_limits_and_ranges_are_capped() -> None:
    assert _query("limit=5", max_limit=10).limit() == 5
    assert _query("", max_limit=10).limit(default=100) == 10
    with pytest.raises(BadRequestError, match=r"^limit: 11 must be between 1 and 10"):
        _query("limit=11", max_limit=10).limit()
    with pytest.raises(BadRequestError, match=r"^limit: 'x' is not an integer"):
        _query("limit=x").limit()
    assert _query("start=10&end=20").time_range() == (10 * 10**9, 20 * 10**9)
    with pytest.raises(BadRequestError, match="the end is before the start"):
        _query("start=20&end=10").time_range()
    with pytest.raises(BadRequestError, match=r"longer than max_range \(1h\)"):
        _query("start=0&end=3601", max_range=timedelta(hours=1)).time_range()


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        ServiceConfig(endpoint="nope", storage="", max_limit=0, query_timeout=timedelta(0)).validate()
    keys = {p.path for p in err.value.problems}
    assert keys == {"endpoint", "storage", "max_limit", "query_timeout"}


async def test_app_answers_bad_input_with_400_and_lists_routes_in_openapi() -> None:
    async def echo(request: Request) -> Response:
        """Echo a bounded limit.

        Longer description.
        """
        return JSONResponse({"limit": Query(request, ServiceConfig(max_limit=5)).limit()})

    app = service_app("test service", [Route("/v1/echo/{name}", echo)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/v1/echo/a?limit=3")).json() == {"limit": 3}
        bad = await client.get("/v1/echo/a?limit=9")
        assert bad.status_code == 400
        assert bad.json() == {"error": "limit: 9 must be between 1 and 5"}
        assert (await client.get("/health")).json() == {"status": "ok", "service": "test service"}
        missing = await client.get("/v1/nothing")
        assert missing.status_code == 404 and "error" in missing.json()
        doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    echo_op = doc["paths"]["/v1/echo/{name}"]["get"]
    assert echo_op["summary"] == "Echo a bounded limit."
    assert echo_op["parameters"][0]["name"] == "name"
    assert set(doc["paths"]) == {"/v1/echo/{name}", "/health"}


class _CountService(QueryService):
    title = "count service"

    def build(self, store: Store) -> object:  # type: ignore[override]
        async def count(_request: Request) -> Response:
            """How many rows the backend's numbers table has."""
            rows = await store.rows("SELECT count() FROM numbers({n:UInt32})", {"n": 7})
            return JSONResponse({"count": rows[0][0]})

        return service_app(self.title, [Route("/v1/count", count)])


async def test_service_serves_its_backend_on_its_endpoint(clickhouse_backend: ClickHouseBackend) -> None:
    service = _CountService(extension_settings("count_service"), ServiceConfig(endpoint="127.0.0.1:0"))
    await service.start(BackendHost(clickhouse_backend))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            assert (await client.get("/v1/count")).json() == {"count": 7}
    finally:
        await service.shutdown()
        await service.shutdown()


async def test_service_without_its_backend_names_the_key(clickhouse_backend: ClickHouseBackend) -> None:
    service = _CountService(extension_settings("count_service"), ServiceConfig(storage="other"))
    with pytest.raises(ConfigError, match=r"extensions::count_service::storage.*'other'"):
        await service.start(BackendHost(clickhouse_backend))
