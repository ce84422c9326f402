"""The query services' shared parts: bounded inputs, 400s that name the parameter, the app and OpenAPI,
the required `auth` key, and the tenant scope every table read is narrowed to."""

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
    sql_string,
    storage_dependency,
)
from collector.auth.principal import TenantScope, current_scope
from collector.auth.setting import AuthSetting, auth_off_warning
from collector.component import ComponentId
from collector.configstruct import decode
from collector.errors import ConfigError
from tests.backend.conftest import BackendHost, extension_settings, no_auth
from tests.backend.logs import fixtures as logs_data


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
    assert keys == {"endpoint", "storage", "max_limit", "query_timeout", "auth::authenticator"}


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
    service = _CountService(
        extension_settings("count_service"), ServiceConfig(endpoint="127.0.0.1:0", auth=no_auth())
    )
    await service.start(BackendHost(clickhouse_backend))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            assert (await client.get("/v1/count")).json() == {"count": 7}
    finally:
        await service.shutdown()
        await service.shutdown()


async def test_service_without_its_backend_names_the_key(clickhouse_backend: ClickHouseBackend) -> None:
    service = _CountService(
        extension_settings("count_service"), ServiceConfig(storage="other", auth=no_auth())
    )
    with pytest.raises(ConfigError, match=r"extensions::count_service::storage.*'other'"):
        await service.start(BackendHost(clickhouse_backend))


# --- auth ------------------------------------------------------------------------------------------


def test_a_service_must_name_its_authenticator_or_none() -> None:
    config, problems = decode(ServiceConfig, {"storage": "main"}, "extensions::traces_service")
    assert config is None
    assert [(p.path, p.message) for p in problems] == [
        (
            "extensions::traces_service::auth::authenticator",
            "name an `auth` extension (e.g. `auth`), or `none` to turn authentication off",
        )
    ]
    bad, problems = decode(ServiceConfig, {"auth": {"authenticator": "/x"}}, "x")
    assert bad is None and [p.path for p in problems] == ["x::auth::authenticator"]
    off, problems = decode(ServiceConfig, {"auth": {"authenticator": "none"}}, "x")
    assert problems == [] and off is not None and off.auth.disabled


def test_the_authenticator_starts_before_the_service() -> None:
    assert list(storage_dependency(ServiceConfig(auth=AuthSetting("auth/tenants")))) == [
        ComponentId("clickhouse_storage"),
        ComponentId("auth", "tenants"),
    ]
    assert list(storage_dependency(ServiceConfig(auth=no_auth()))) == [ComponentId("clickhouse_storage")]


async def test_a_service_without_its_authenticator_does_not_start(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    unset = _CountService(extension_settings("count_service"), ServiceConfig())
    with pytest.raises(ConfigError, match=r"extensions::count_service::auth::authenticator: name an `auth`"):
        await unset.start(BackendHost(clickhouse_backend))
    missing = _CountService(extension_settings("count_service"), ServiceConfig(auth=AuthSetting("auth")))
    with pytest.raises(ConfigError, match=r"auth::authenticator: 'auth' is not a started `auth` extension"):
        await missing.start(BackendHost(clickhouse_backend))
    assert unset.port == missing.port == 0


def test_the_warning_without_authentication_says_who_can_read() -> None:
    local = "authentication is off (auth::authenticator: none), listening on 127.0.0.1:8003"
    assert auth_off_warning("127.0.0.1", 8003) == local
    assert auth_off_warning("localhost", 1).endswith("listening on localhost:1")
    assert auth_off_warning("::1", 1).endswith("listening on [::1]:1")
    for host, where in (("0.0.0.0", "0.0.0.0:8003"), ("", "0.0.0.0:8003"), ("10.1.2.3", "10.1.2.3:8003")):
        assert auth_off_warning(host, 8003) == (
            f"authentication is off (auth::authenticator: none), listening on {where}: anyone who can "
            "reach it can read all data; set auth::authenticator to an `auth` extension"
        )


# --- tenant scope ---------------------------------------------------------------------------------

EVIL = "a'b\\c) OR 1=1 --"
"""A tenant id holding a quote, a backslash and an SQL comment."""


def test_string_literals_escape_quotes_and_backslashes() -> None:
    assert sql_string("plain") == "'plain'"
    assert sql_string(EVIL) == "'a\\'b\\\\c) OR 1=1 --'"


def test_a_restricted_caller_reads_subqueries_of_its_tenants_rows(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    store = Store(clickhouse_backend, ServiceConfig())
    logs, lookup = clickhouse_backend.table("otel_logs"), clickhouse_backend.table("otel_traces_trace_id_ts")
    rollup = clickhouse_backend.table("otel_metrics_sum_1m")
    token = current_scope.set(None)
    try:
        assert store.table("otel_logs") == logs
        assert store.table("otel_metrics_sum_1m", final=True) == f"{rollup} FINAL"
        current_scope.set(TenantScope("tenant.id", None))
        assert store.table("otel_logs") == logs
        current_scope.set(TenantScope("tenant.id", ("acme", "globex")))
        assert store.table("otel_logs") == (
            f"(SELECT * FROM {logs} WHERE ResourceAttributes['tenant.id'] IN ('acme', 'globex'))"
        )
        assert store.table("otel_traces_trace_id_ts") == lookup  # no tenant column: it only narrows times
        # a rollup also keeps its progress markers (no tenant), which tell how far it reaches
        assert store.table("otel_metrics_sum_1m", final=True) == (
            f"(SELECT * FROM {rollup} FINAL WHERE (MetricName = '' AND empty(ResourceAttributes)) "
            "OR ResourceAttributes['tenant.id'] IN ('acme', 'globex'))"
        )
        current_scope.set(TenantScope("tenant.id", ()))
        assert store.table("otel_logs") == f"(SELECT * FROM {logs} WHERE 0)"
    finally:
        current_scope.reset(token)


async def test_tenant_ids_and_attributes_are_quoted_safely(clickhouse_backend: ClickHouseBackend) -> None:
    records = [
        logs_data.Record("evil", resource={"tenant.id": EVIL, "it's": EVIL}),
        logs_data.Record("acme", resource={"tenant.id": "acme", "it's": "acme"}),
        logs_data.Record("globex", resource={"tenant.id": "globex"}),
    ]
    await logs_data.write(clickhouse_backend, records)
    store = Store(clickhouse_backend, ServiceConfig())

    async def bodies(scope: TenantScope) -> list[str]:
        token = current_scope.set(scope)
        try:
            rows = await store.rows(f"SELECT Body FROM {store.table('otel_logs')} ORDER BY Body")
        finally:
            current_scope.reset(token)
        return [row[0] for row in rows]

    assert await bodies(TenantScope("tenant.id", (EVIL,))) == ["evil"]
    assert await bodies(TenantScope("tenant.id", ("acme", EVIL))) == ["acme", "evil"]
    assert await bodies(TenantScope("it's", (EVIL,))) == ["evil"]
    assert await bodies(TenantScope("tenant.id", ("x') OR 1=1 --",))) == []
    assert await bodies(TenantScope("tenant.id", None)) == ["acme", "evil", "globex"]
