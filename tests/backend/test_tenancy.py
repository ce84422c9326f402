"""Two tenants, one database: through every route of the three query services, a caller sees only its tenants.

The `auth` extension checks HS256 JWTs (made here with PyJWT) and a static token; traces, logs and
metrics of tenants `acme` and `globex` (resource attribute `tenant.id`) share service names, trace
shapes and metric names, so any row read across the tenant line changes an answer asserted here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from backend.clickhouse.backend import ClickHouseBackend
from backend.logs.config import LogsServiceConfig
from backend.logs.service import LogsService
from backend.metrics.config import MetricsServiceConfig
from backend.metrics.service import MetricsService
from backend.service import NANOS, QueryService, ServiceConfig
from backend.traces.config import TracesServiceConfig
from backend.traces.service import TracesService
from collector.auth.config import AuthConfig, JwtConfig, TokenConfig
from collector.auth.extension import AuthExtension
from collector.auth.setting import AuthSetting
from collector.component import ComponentId
from collector.pdata import Batch
from exporters.clickhouse import traces
from tests.backend.conftest import (
    PROBE,
    BackendHost,
    extension_settings,
    fresh_backend,
)
from tests.backend.logs import fixtures as logs_data
from tests.backend.metrics.test_catalog import counter, gauge, request, store

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(PROBE, reason="writes and reads its own tenants"),
]

SECRET = "tenancy-test-secret-of-at-least-32-bytes"
STATIC_TOKEN = "acme-grafana-static-token"
MS = 1_000_000
BASE_NS = (time.time_ns() // (60 * NANOS) - 10) * 60 * NANOS
"""Ten minutes ago, on a whole minute: inside every route's default range (the last hour)."""
RANGE = {"start": str(BASE_NS // NANOS - 60), "end": str(BASE_NS // NANOS + 120)}
"""Around the data, in Unix seconds."""
US_RANGE = {"start": str(BASE_NS // 1000 - 60_000_000), "end": str(BASE_NS // 1000 + 120_000_000)}
"""The same, in Unix microseconds (Jaeger's API)."""
SERVICE_IDS = {"traces": "traces_service", "logs": "logs_service", "metrics": "metrics_service"}


# --- the data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """One tenant's data and what its callers must see."""

    name: str
    trace_id: str
    services: list[str]
    """Its trace services (frontend and payments in both, auditor only in globex)."""
    root: str
    """The frontend operation of its trace."""
    dependencies: list[dict[str, Any]]
    log_bodies: list[str]
    """Newest first."""
    log_severities: dict[str, int]
    depth: list[float]
    """Its `queue.depth` samples at BASE, +15 s, +30 s."""
    metrics: list[str]
    """Its metric names (OTel)."""
    families: list[str]
    """Its Prometheus metric names."""


ACME = Tenant(
    name="acme",
    trace_id="a1" * 16,
    services=["frontend", "payments"],
    root="GET /cart",
    dependencies=[{"parent": "frontend", "child": "payments", "call_count": 1, "error_count": 0}],
    log_bodies=["payment failed acme", "order placed acme"],
    log_severities={"ERROR": 1, "INFO": 1},
    depth=[1.0, 2.0, 3.0],
    metrics=["cart.items", "queue.depth"],
    families=["cart_items", "queue_depth"],
)
GLOBEX = Tenant(
    name="globex",
    trace_id="b2" * 16,
    services=["auditor", "frontend", "payments"],
    root="GET /ledger",
    dependencies=[
        {"parent": "frontend", "child": "payments", "call_count": 1, "error_count": 1},
        {"parent": "payments", "child": "auditor", "call_count": 1, "error_count": 0},
    ],
    log_bodies=["ledger audit globex", "ledger closed globex", "order placed globex"],
    log_severities={"WARN": 2, "INFO": 1},
    depth=[100.0, 200.0, 300.0],
    metrics=["ledger.entries", "queue.depth"],
    families=["ledger_entries_total", "queue_depth"],
)
TENANTS = {t.name: t for t in (ACME, GLOBEX)}
EVERY_SERVICE = ["auditor", "frontend", "payments"]


def _resource(service: str, tenant: str) -> list[KeyValue]:
    values = {"service.name": service, "service.instance.id": f"{service}-1", "tenant.id": tenant}
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]


def _span(trace_id: str, n: int, parent: int, name: str, start_ms: int, error: bool = False) -> Span:
    start = BASE_NS + start_ms * MS
    return Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(f"{n:016x}"),
        parent_span_id=bytes.fromhex(f"{parent:016x}") if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 40 * MS,
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def trace_request() -> ExportTraceServiceRequest:
    """acme: frontend → payments; globex: frontend → payments (failing) → auditor. Same span ids."""
    spans = {
        "acme": {
            "frontend": [_span(ACME.trace_id, 1, 0, ACME.root, 0)],
            "payments": [_span(ACME.trace_id, 2, 1, "charge", 5)],
        },
        "globex": {
            "frontend": [_span(GLOBEX.trace_id, 1, 0, GLOBEX.root, 0)],
            "payments": [_span(GLOBEX.trace_id, 2, 1, "refund", 5, error=True)],
            "auditor": [_span(GLOBEX.trace_id, 3, 2, "audit", 10)],
        },
    }
    out = ExportTraceServiceRequest()
    for tenant, by_service in spans.items():
        for service, items in by_service.items():
            resource_spans = out.resource_spans.add()
            resource_spans.resource.attributes.extend(_resource(service, tenant))
            resource_spans.scope_spans.add().spans.extend(items)
    return out


def log_records() -> list[logs_data.Record]:
    def record(tenant: str, body: str, ms: int, severity: int) -> logs_data.Record:
        resource = {"service.instance.id": "frontend-1", "tenant.id": tenant}
        return logs_data.Record(body, BASE_NS + ms * MS, "frontend", severity, resource=resource)

    return [
        record("acme", "order placed acme", 1000, 9),
        record("acme", "payment failed acme", 2000, 17),
        record("globex", "order placed globex", 1500, 9),
        record("globex", "ledger closed globex", 2500, 13),
        record("globex", "ledger audit globex", 3000, 13),
    ]


def metric_request() -> Any:
    base_ms = BASE_NS // MS
    times = [base_ms, base_ms + 15_000, base_ms + 30_000]

    def resource(tenant: str) -> dict[str, str]:
        return {"service.name": "frontend", "service.instance.id": f"frontend-{tenant}", "tenant.id": tenant}

    return request(
        (
            resource("acme"),
            [
                gauge("queue.depth", "", ({}, list(zip(times, ACME.depth, strict=True)))),
                gauge("cart.items", "", ({}, [(times[0], 4.0)])),
            ],
        ),
        (
            resource("globex"),
            [
                gauge("queue.depth", "", ({}, list(zip(times, GLOBEX.depth, strict=True)))),
                counter("ledger.entries", "", ({"ledger": "main"}, [(times[0], 9.0)])),
            ],
        ),
    )


# --- the services -------------------------------------------------------------------------------


def token(tenant: str | list[str] | None, *roles: str, subject: str = "user") -> str:
    """An HS256 JWT for `tenant` (None: no tenant claim) with `roles` (none: viewer), valid for an hour."""
    claims: dict[str, Any] = {"sub": subject, "exp": int(time.time()) + 3600}
    if tenant is not None:
        claims["tenant"] = tenant
    if roles:
        claims["roles"] = list(roles)
    return jwt.encode(claims, SECRET, algorithm="HS256")


def bearer(value: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}", **headers}


def as_tenant(name: str) -> dict[str, str]:
    return bearer(token(name))


async def started(
    backend: ClickHouseBackend, auth: AuthExtension | None, authenticator: str
) -> dict[str, QueryService]:
    """The three services over `backend`, checked by `authenticator` (`auth` or `none`)."""
    host = BackendHost(backend, {ComponentId("auth"): auth} if auth is not None else {})
    setting = AuthSetting(authenticator)
    configs: dict[str, ServiceConfig] = {
        "traces": TracesServiceConfig(endpoint="127.0.0.1:0", auth=setting),
        "logs": LogsServiceConfig(
            endpoint="127.0.0.1:0",
            auth=setting,
            tail_poll_interval=timedelta(milliseconds=100),
            tail_keepalive=timedelta(milliseconds=200),
        ),
        "metrics": MetricsServiceConfig(endpoint="127.0.0.1:0", auth=setting),
    }
    kinds: dict[str, type[QueryService]] = {
        "traces": TracesService,
        "logs": LogsService,
        "metrics": MetricsService,
    }
    services: dict[str, QueryService] = {}
    for name, config in configs.items():
        service = kinds[name](extension_settings(SERVICE_IDS[name]), config)
        await service.start(host)
        services[name] = service
    return services


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend() -> AsyncIterator[ClickHouseBackend]:
    """A database holding both tenants' traces, logs and metrics."""
    async with fresh_backend("tenancy") as backend:
        await traces.write(backend, "otel_traces", Batch.from_otlp(trace_request()))
        await logs_data.write(backend, log_records())
        await store(backend, metric_request())
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clients(backend: ClickHouseBackend) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """HTTP clients of the three services (`traces`, `logs`, `metrics`), started behind the `auth` extension."""
    config = AuthConfig(
        jwt=JwtConfig(secret=SECRET),
        tokens=[TokenConfig(token=STATIC_TOKEN, subject="grafana-acme", tenants=["acme"])],
    )
    auth = AuthExtension(extension_settings("auth"), config)
    await auth.start(BackendHost(backend))
    services = await started(backend, auth, "auth")
    http = {
        name: httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=10)
        for name, service in services.items()
    }
    try:
        yield http
    finally:
        for client in http.values():
            await client.aclose()
        for service in services.values():
            await service.shutdown()
        await auth.shutdown()


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = await client.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- what a caller sees ------------------------------------------------------------------------


async def trace_view(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The services, operations, searches and dependencies the trace service answers a caller."""
    jaeger_search = await get(http, "/api/traces", headers, service="payments", **US_RANGE)
    native_search = await get(http, "/v1/traces", headers, service="payments", **RANGE)
    v3_search = await get(
        http,
        "/api/v3/traces",
        headers,
        **{
            "query.service_name": "payments",
            "query.start_time_min": RANGE["start"],
            "query.start_time_max": RANGE["end"],
        },
    )
    jaeger_dependencies = await get(
        http, "/api/dependencies", headers, endTs=str(BASE_NS // MS + 120_000), lookback="3600000"
    )
    red = await get(http, "/v1/red", headers, service="payments", step="1h", **RANGE)
    return {
        "jaeger services": (await get(http, "/api/services", headers))["data"],
        "jaeger operations": sorted(
            o["name"] for o in (await get(http, "/api/operations", headers, service="frontend"))["data"]
        ),
        "service operations": (await get(http, "/api/services/frontend/operations", headers))["data"],
        "jaeger search": sorted(t["traceID"] for t in jaeger_search["data"]),
        "native services": (await get(http, "/v1/services", headers))["services"],
        "native operations": sorted(
            o["name"] for o in (await get(http, "/v1/services/frontend/operations", headers))["operations"]
        ),
        "native search": sorted(t["trace_id"] for t in native_search["traces"]),
        "v3 services": (await get(http, "/api/v3/services", headers))["services"],
        "v3 operations": sorted(
            o["name"]
            for o in (await get(http, "/api/v3/operations", headers, service="frontend"))["operations"]
        ),
        "v3 search": sorted(
            {
                s["traceId"]
                for r in v3_search["result"]["resourceSpans"]
                for ss in r["scopeSpans"]
                for s in ss["spans"]
            }
        ),
        "dependencies": await get(http, "/v1/dependencies", headers, **RANGE),
        "jaeger dependencies": sorted(
            (d["parent"], d["child"], d["callCount"]) for d in jaeger_dependencies["data"]
        ),
        "red requests": sum(sum(s["requests"]) for s in red["series"] if s["operation"] is None),
        "red errors": sum(sum(s["errors"]) for s in red["series"] if s["operation"] is None),
    }


def expected_traces(tenants: list[Tenant]) -> dict[str, Any]:
    """`trace_view` of a caller seeing `tenants`."""
    services = sorted({s for t in tenants for s in t.services})
    operations = sorted(t.root for t in tenants)
    ids = sorted(t.trace_id for t in tenants)
    edges: dict[tuple[str, str], list[int]] = {}
    for tenant in tenants:
        for d in tenant.dependencies:
            counts = edges.setdefault((d["parent"], d["child"]), [0, 0])
            counts[0] += d["call_count"]
            counts[1] += d["error_count"]
    dependencies = [
        {"parent": p, "child": c, "call_count": n, "error_count": e}
        for (p, c), (n, e) in sorted(edges.items())
    ]
    return {
        "jaeger services": services,
        "jaeger operations": operations,
        "service operations": operations,
        "jaeger search": ids,
        "native services": services,
        "native operations": operations,
        "native search": ids,
        "v3 services": services,
        "v3 operations": operations,
        "v3 search": ids,
        "dependencies": dependencies,
        "jaeger dependencies": [(d["parent"], d["child"], d["call_count"]) for d in dependencies],
        "red requests": len(tenants),
        "red errors": sum(1 for t in tenants if t is GLOBEX),
    }


async def log_view(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The records, facets and histogram the log service answers a caller."""
    found = await get(http, "/v1/logs", headers, service="frontend", **RANGE)
    placed = await get(http, "/v1/logs", headers, q="order placed", **RANGE)
    severities = await get(http, "/v1/logs/facets", headers, field="severity", **RANGE)
    tenants = await get(http, "/v1/logs/facets", headers, field="resource.tenant.id", **RANGE)
    counts = await get(http, "/v1/logs/histogram", headers, step="1h", **RANGE)
    return {
        "bodies": [r["body"] for r in found["records"]],
        "order placed": [r["body"] for r in placed["records"]],
        "severities": {v["value"]: v["count"] for v in severities["values"]},
        "tenants": [v["value"] for v in tenants["values"]],
        "histogram total": counts["total"],
    }


def expected_logs(tenant: Tenant) -> dict[str, Any]:
    return {
        "bodies": tenant.log_bodies,
        "order placed": [f"order placed {tenant.name}"],
        "severities": tenant.log_severities,
        "tenants": [tenant.name],
        "histogram total": len(tenant.log_bodies),
    }


async def prometheus_view(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The Prometheus API's answers to a caller: instant and range values, series, labels, metadata."""
    at = str(BASE_NS // NANOS + 30)
    window = {"start": str(BASE_NS // NANOS), "end": at}
    instant = await get(http, "/api/v1/query", headers, query="queue_depth", time=at)
    summed = await get(http, "/api/v1/query", headers, query="sum(queue_depth)", time=at)
    ranged = await get(http, "/api/v1/query_range", headers, query="queue_depth", step="15s", **window)
    series = await get(http, "/api/v1/series", headers, **{"match[]": '{job="frontend"}'}, **window)
    labels = await get(http, "/api/v1/labels", headers, **window)
    names = await get(http, "/api/v1/label/__name__/values", headers, **window)
    metadata = await get(http, "/api/v1/metadata", headers)
    return {
        "instant": [(s["metric"], s["value"][1]) for s in instant["data"]["result"]],
        "sum": [s["value"][1] for s in summed["data"]["result"]],
        "range": [[v for _, v in s["values"]] for s in ranged["data"]["result"]],
        "series": sorted(s["__name__"] for s in series["data"]),
        "labels": labels["data"],
        "names": names["data"],
        "metadata": sorted(metadata["data"]),
    }


def expected_prometheus(tenant: Tenant) -> dict[str, Any]:
    depth = {"__name__": "queue_depth", "job": "frontend", "instance": f"frontend-{tenant.name}"}
    return {
        "instant": [(depth, f"{tenant.depth[-1]:g}")],
        "sum": [f"{tenant.depth[-1]:g}"],
        "range": [[f"{v:g}" for v in tenant.depth]],
        "series": tenant.families,
        "labels": ["__name__", "instance", "job", *(["ledger"] if tenant is GLOBEX else [])],
        "names": tenant.families,
        "metadata": tenant.families,
    }


async def native_metrics_view(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The metrics service's native API's answers to a caller."""
    window = {"start": str(BASE_NS // NANOS), "end": str(BASE_NS // NANOS + 60)}
    listed = await get(http, "/v1/metrics", headers, **window)
    values = await get(http, "/v1/metrics/queue.depth/labels/resource.tenant.id/values", headers, **window)
    peak = await get(http, "/v1/query_range", headers, metric="queue.depth", agg="max", step="60s", **window)
    # longer than 6 h in whole minutes: the 1-minute rollup's range, read raw by a restricted caller
    long = {"start": str(BASE_NS // NANOS - 7 * 3600), "end": window["end"]}
    hours = await get(http, "/v1/query_range", headers, metric="queue.depth", agg="max", step="60s", **long)
    total = await get(http, "/v1/query_range", headers, metric="queue.depth", agg="sum", step="60s", **window)
    return {
        "metrics": [m["name"] for m in listed["metrics"]],
        "tenant values": values["values"],
        "max": [p[1] for s in peak["series"] for p in s["points"]][:1],
        "max over 7 h": [p[1] for s in hours["series"] for p in s["points"] if p[1] is not None],
        "sum": [p[1] for s in total["series"] for p in s["points"]][:1],
    }


def expected_native_metrics(tenant: Tenant) -> dict[str, Any]:
    return {
        "metrics": tenant.metrics,
        "tenant values": [tenant.name],
        "max": [max(tenant.depth)],
        "max over 7 h": [max(tenant.depth)],
        "sum": [sum(tenant.depth)],
    }


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["acme", "globex"])
async def test_a_tenant_sees_only_its_traces_through_every_trace_api(
    clients: dict[str, httpx.AsyncClient], tenant: str
) -> None:
    http, headers = clients["traces"], as_tenant(tenant)
    assert await trace_view(http, headers) == expected_traces([TENANTS[tenant]])
    own, other = TENANTS[tenant], TENANTS["globex" if tenant == "acme" else "acme"]
    jaeger = await get(http, f"/api/traces/{own.trace_id}", headers)
    assert {s["operationName"] for s in jaeger["data"][0]["spans"]} >= {own.root}
    native = await get(http, f"/v1/traces/{own.trace_id}", headers)
    assert len(native["spans"]) == len(own.services)
    for path in (
        f"/api/traces/{other.trace_id}",
        f"/v1/traces/{other.trace_id}",
        f"/api/v3/traces/{other.trace_id}",
        f"/v1/traces/{other.trace_id}/critical-path",
    ):
        answer = await http.get(path, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
    by_id = await get(http, "/api/traces", headers, traceID=[own.trace_id, other.trace_id])
    assert [t["traceID"] for t in by_id["data"]] == [own.trace_id]
    assert by_id["errors"] == [{"msg": "trace not found", "traceID": other.trace_id}]


@pytest.mark.parametrize("tenant", ["acme", "globex"])
async def test_a_tenant_sees_only_its_logs(clients: dict[str, httpx.AsyncClient], tenant: str) -> None:
    assert await log_view(clients["logs"], as_tenant(tenant)) == expected_logs(TENANTS[tenant])


@pytest.mark.parametrize("tenant", ["acme", "globex", "acme"])
async def test_a_tenant_sees_only_its_metrics_through_the_prometheus_api(
    clients: dict[str, httpx.AsyncClient], tenant: str
) -> None:
    # acme asks again after globex: the cached catalog of metric names is kept per tenant
    assert await prometheus_view(clients["metrics"], as_tenant(tenant)) == expected_prometheus(
        TENANTS[tenant]
    )


@pytest.mark.parametrize("tenant", ["acme", "globex"])
async def test_a_tenant_sees_only_its_metrics_through_the_native_api(
    clients: dict[str, httpx.AsyncClient], tenant: str
) -> None:
    view = await native_metrics_view(clients["metrics"], as_tenant(tenant))
    assert view == expected_native_metrics(TENANTS[tenant])


async def test_a_static_token_with_a_tenant_is_scoped_as_a_jwt_is(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    headers = bearer(STATIC_TOKEN)
    assert await trace_view(clients["traces"], headers) == expected_traces([ACME])
    assert await log_view(clients["logs"], headers) == expected_logs(ACME)
    assert await prometheus_view(clients["metrics"], headers) == expected_prometheus(ACME)


async def test_a_live_tail_sends_only_the_tenants_new_records(
    clients: dict[str, httpx.AsyncClient], backend: ClickHouseBackend
) -> None:
    async with clients["logs"].stream(
        "GET", "/v1/logs/tail", params={"service": "tail"}, headers=as_tenant("acme")
    ) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        async with asyncio.timeout(10):
            async for line in lines:
                if line.startswith(":"):  # a keep-alive: the tail has marked what was there at its start
                    break
        now = time.time_ns()
        await logs_data.write(
            backend,
            [  # globex's record is older: were it leaked, it would come first
                logs_data.Record("tail globex", now, "tail", resource={"tenant.id": "globex"}),
                logs_data.Record("tail acme", now + MS, "tail", resource={"tenant.id": "acme"}),
            ],
        )
        async with asyncio.timeout(10):
            data = [line async for line in _data_lines(lines)]
    assert [json.loads(line)["body"] for line in data] == ["tail acme"]


async def _data_lines(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data:` lines of a tail's events until its first record."""
    async for line in lines:
        if line.startswith("data: "):
            yield line.removeprefix("data: ")
            return


async def test_an_admin_without_a_tenant_claim_sees_every_tenant(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    headers = bearer(token(None, "admin", subject="root"))
    assert await trace_view(clients["traces"], headers) == expected_traces([ACME, GLOBEX])
    bodies = (await get(clients["logs"], "/v1/logs", headers, service="frontend", **RANGE))["records"]
    assert len(bodies) == 5
    summed = await get(
        clients["metrics"],
        "/api/v1/query",
        headers,
        query="sum(queue_depth)",
        time=str(BASE_NS // NANOS + 30),
    )
    assert summed["data"]["result"][0]["value"][1] == "303"
    metadata = await get(clients["metrics"], "/api/v1/metadata", headers)
    assert sorted(metadata["data"]) == ["cart_items", "ledger_entries_total", "queue_depth"]


async def test_the_tenant_header_narrows_an_unrestricted_caller(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    headers = bearer(token(None, "admin", subject="root"), **{"X-Scope-OrgID": "globex"})
    assert await trace_view(clients["traces"], headers) == expected_traces([GLOBEX])
    assert await log_view(clients["logs"], headers) == expected_logs(GLOBEX)
    assert await prometheus_view(clients["metrics"], headers) == expected_prometheus(GLOBEX)
    assert await native_metrics_view(clients["metrics"], headers) == expected_native_metrics(GLOBEX)
    two = bearer(token(["acme", "globex"]), **{"X-Scope-OrgID": "acme"})
    assert await trace_view(clients["traces"], two) == expected_traces([ACME])


async def test_the_tenant_header_cannot_widen_a_restricted_caller(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    headers = bearer(token("acme"), **{"X-Scope-OrgID": "globex"})
    for name, path in (("traces", "/api/services"), ("logs", "/v1/logs"), ("metrics", "/api/v1/labels")):
        answer = await clients[name].get(path, headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "FORBIDDEN" and "globex" in answer.json()["error"]


DATA_ROUTES = {
    "traces": [
        "/api/services",
        "/api/operations?service=frontend",
        "/api/traces?service=frontend",
        f"/api/traces/{ACME.trace_id}",
        "/api/dependencies?endTs=1&lookback=1",
        "/v1/traces?service=frontend",
        f"/v1/traces/{ACME.trace_id}",
        "/v1/services",
        "/v1/dependencies",
        "/v1/red?service=frontend",
        "/v1/latency?service=frontend",
        "/api/v3/services",
        f"/api/v3/traces/{ACME.trace_id}",
    ],
    "logs": ["/v1/logs", "/v1/logs/facets?field=severity", "/v1/logs/histogram", "/v1/logs/tail"],
    "metrics": [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=0&end=60&step=15",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/__name__/values",
        "/api/v1/metadata",
        "/api/v1/status/buildinfo",
        "/v1/metrics",
        "/v1/metrics/queue.depth/labels",
        "/v1/query_range?metric=queue.depth",
    ],
}


@pytest.mark.parametrize("credentials", [None, "not-a-token", token("acme", subject="x")[:-4] + "AAAA"])
async def test_every_data_route_needs_a_valid_token(
    clients: dict[str, httpx.AsyncClient], credentials: str | None
) -> None:
    headers = bearer(credentials) if credentials is not None else {}
    for name, paths in DATA_ROUTES.items():
        for path in paths:
            answer = await clients[name].get(path, headers=headers)
            assert answer.status_code == 401, (name, path, answer.text)
            assert answer.json()["code"] == "UNAUTHENTICATED"
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_health_and_the_api_description_are_open(clients: dict[str, httpx.AsyncClient]) -> None:
    titles = {
        "traces": "airis trace service",
        "logs": "airis log service",
        "metrics": "airis metrics service",
    }
    for name, client in clients.items():
        assert (await client.get("/health")).json() == {"status": "ok", "service": titles[name]}
        assert "paths" in (await client.get("/openapi.json")).json()


async def test_with_authentication_off_everything_is_visible_and_a_warning_is_logged(
    backend: ClickHouseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        services = await started(backend, None, "none")
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        for service in services.values():
            assert (
                f"authentication is off (auth::authenticator: none), listening on 127.0.0.1:{service.port}"
                in warnings
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{services['traces'].port}") as http:
            assert await trace_view(http, {}) == expected_traces([ACME, GLOBEX])
    finally:
        for service in services.values():
            await service.shutdown()
