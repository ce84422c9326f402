"""The gateway behind the `auth` extension: callers need a valid token; a tenant's token sees only its
tenant through every root field; an admin sees every tenant or narrows to one with X-Scope-OrgID; a
viewer asking for admin fields gets FORBIDDEN on those fields and data for the others.
(Tenant isolation of subscriptions is in test_subscriptions.py, which writes new telemetry.)
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from tests.gateway.conftest import SECRET, Stack, http_session, token
from tests.gateway.telemetry import GAUGE, TENANTS, TRACES, trace_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVERY_ROOT_FIELD = """query($acme: ID!, $globex: ID!) {
  services { name }
  operations(service: "frontend") { name }
  traceA: trace(traceId: $acme) { traceId spans { resource } logs { nodes { body } } }
  traceG: trace(traceId: $globex) { traceId }
  pathA: criticalPath(traceId: $acme) { traceId }
  pathG: criticalPath(traceId: $globex) { traceId }
  searchTraces(first: 100) { nodes { traceId spans { resource } } }
  serviceMap { edges { parent child callCount errorCount } }
  redMetrics(service: "frontend") { series { operation requests } }
  logs(first: 1000) {
    nodes { body resource trace { traceId } }
    facets(field: "resource.tenant.id") { values { value count } }
    histogram { total }
  }
  metricNames { name }
  metricLabelValues(metric: "queue.depth", label: "resource.tenant.id")
  metricSeries(metric: "queue.depth") { series { points { value } } }
  promql(query: "{__name__=~\\"queue.*\\"}") { series { points { value } } }
  promqlRange: promql(query: "{__name__=~\\"queue.*\\"}", step: "1m") { series { points { value } } }
}"""


def bearer(
    tenant: str | None = None, roles: list[str] | None = None, scope: str | None = None
) -> dict[str, str]:
    """Headers with a token for `tenant` with `roles`, narrowed to tenant `scope` by X-Scope-OrgID."""
    headers = {"Authorization": f"Bearer {token(tenant, roles)}"}
    return headers if scope is None else {**headers, "X-Scope-OrgID": scope}


async def every_root_field(stack: Stack, headers: dict[str, str]) -> dict[str, Any]:
    """The data of EVERY_ROOT_FIELD, asked by gql over the gateway's real socket."""
    async with http_session(stack, headers) as session:
        request = GraphQLRequest(
            EVERY_ROOT_FIELD, variable_values={"acme": trace_id("acme", 0), "globex": trace_id("globex", 0)}
        )
        return await session.execute(request)


def values(field: dict[str, Any]) -> set[float]:
    return {p["value"] for s in field["series"] for p in s["points"] if p["value"] is not None}


def assert_sees_only(data: dict[str, Any], tenant: str) -> None:
    """Every root field answered from `tenant`'s telemetry alone."""
    other = next(t for t in TENANTS if t != tenant)
    assert other not in repr(data)  # no body, resource or label of the other tenant anywhere
    assert data["services"] == [{"name": "backend"}, {"name": "frontend"}]
    assert data["operations"] == [{"name": "GET /orders"}]
    mine, theirs = (data["traceA"], data["traceG"]) if tenant == "acme" else (data["traceG"], data["traceA"])
    assert theirs is None
    assert mine["traceId"] == trace_id(tenant, 0)
    assert data["pathA" if tenant == "acme" else "pathG"] == {"traceId": trace_id(tenant, 0)}
    assert data["pathG" if tenant == "acme" else "pathA"] is None
    nodes = data["searchTraces"]["nodes"]
    assert sorted(n["traceId"] for n in nodes) == sorted(trace_id(tenant, n) for n in range(TRACES))
    assert {s["resource"]["tenant.id"] for n in nodes for s in n["spans"]} == {tenant}
    assert data["serviceMap"]["edges"] == [
        {"parent": "frontend", "child": "backend", "callCount": TRACES, "errorCount": 1}
    ]
    assert [sum(s["requests"]) for s in data["redMetrics"]["series"]] == [TRACES, TRACES]
    logs = data["logs"]
    assert len(logs["nodes"]) == 2 * TRACES
    assert {n["body"].split()[0] for n in logs["nodes"]} == {tenant}
    assert {n["resource"]["tenant.id"] for n in logs["nodes"]} == {tenant}
    assert {n["trace"]["traceId"] for n in logs["nodes"]} == {trace_id(tenant, n) for n in range(TRACES)}
    assert logs["facets"]["values"] == [{"value": tenant, "count": 2 * TRACES}]
    assert logs["histogram"]["total"] == 2 * TRACES
    assert data["metricNames"] == [{"name": "queue.depth"}]
    assert data["metricLabelValues"] == [tenant]
    for field in ("metricSeries", "promql", "promqlRange"):
        assert values(data[field]) == {GAUGE[tenant]}, field


async def test_no_token_is_401_unauthenticated(secured_stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(secured_stack.url, json={"query": "{ me { subject } }"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer "
        + jwt.encode(
            {"sub": "x", "tenant": "acme"}, "another-secret-of-at-least-32-bytes", algorithm="HS256"
        ),
        "Basic dXNlcjpwYXNz",
    ],
)
async def test_a_bad_token_is_401_unauthenticated(secured_stack: Stack, authorization: str) -> None:
    answer = await secured_stack.graphql("{ me { subject } }", headers={"Authorization": authorization})
    assert answer["status"] == 401
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"]


async def test_gql_reads_the_401s_graphql_errors(secured_stack: Stack) -> None:
    with pytest.raises(TransportQueryError) as raised:
        async with http_session(secured_stack) as session:
            await session.execute(GraphQLRequest("{ me { subject } }"))
    assert raised.value.data is None
    assert raised.value.errors == [
        {"message": "no bearer token in the Authorization header", "extensions": {"code": "UNAUTHENTICATED"}}
    ]


@pytest.mark.parametrize("tenant", TENANTS)
async def test_a_tenants_token_sees_only_its_tenant_through_every_root_field(
    secured_stack: Stack, tenant: str
) -> None:
    assert_sees_only(await every_root_field(secured_stack, bearer(tenant)), tenant)


async def test_an_admin_without_a_tenant_sees_every_tenant(secured_stack: Stack) -> None:
    data = await every_root_field(secured_stack, bearer(roles=["admin"]))
    assert data["traceA"]["traceId"] == trace_id("acme", 0)
    assert data["traceG"] == {"traceId": trace_id("globex", 0)}
    assert len(data["searchTraces"]["nodes"]) == len(TENANTS) * TRACES
    assert data["serviceMap"]["edges"][0]["callCount"] == len(TENANTS) * TRACES
    assert {n["body"].split()[0] for n in data["logs"]["nodes"]} == set(TENANTS)
    assert data["logs"]["facets"]["values"] == [{"value": t, "count": 2 * TRACES} for t in TENANTS]
    assert data["logs"]["histogram"]["total"] == len(TENANTS) * 2 * TRACES
    assert data["metricLabelValues"] == list(TENANTS)
    assert values(data["metricSeries"]) == {sum(GAUGE.values()) / len(GAUGE)}


async def test_an_admin_narrowed_to_globex_sees_only_globex(secured_stack: Stack) -> None:
    data = await every_root_field(secured_stack, bearer(roles=["admin"], scope="globex"))
    assert_sees_only(data, "globex")


async def test_a_tenant_token_narrowed_to_another_tenant_is_forbidden(secured_stack: Stack) -> None:
    answer = await secured_stack.graphql("{ me { subject } }", headers=bearer("acme", scope="globex"))
    assert answer["status"] == 403
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]
    assert "globex" in answer["errors"][0]["message"]
    with pytest.raises(TransportQueryError) as raised:
        await every_root_field(secured_stack, bearer("acme", scope="globex"))
    assert raised.value.data is None
    assert raised.value.errors is not None
    assert [e["extensions"]["code"] for e in raised.value.errors] == ["FORBIDDEN"]


async def test_a_tenant_token_narrowed_to_its_own_tenant_is_fine(secured_stack: Stack) -> None:
    assert_sees_only(await every_root_field(secured_stack, bearer("acme", scope="acme")), "acme")


async def test_upstreams_needs_admin_and_the_other_fields_still_answer(secured_stack: Stack) -> None:
    answer = await secured_stack.graphql(
        "{ me { role } upstreams { service circuit } metricNames { name } }", headers=bearer("acme")
    )
    assert answer["status"] == 200
    assert answer["data"] == {
        "me": {"role": "viewer"},
        "upstreams": None,
        "metricNames": [{"name": "queue.depth"}],
    }
    [error] = answer["errors"]
    assert error["path"] == ["upstreams"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert error["message"] == "this field needs the admin role"
    editor = await secured_stack.graphql("{ upstreams { service } }", headers=bearer("acme", ["editor"]))
    assert [e["extensions"]["code"] for e in editor["errors"]] == ["FORBIDDEN"]


async def test_gql_gets_the_forbidden_field_as_a_query_error_with_partial_data(secured_stack: Stack) -> None:
    async with http_session(secured_stack, bearer("acme")) as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(GraphQLRequest("{ me { subject } upstreams { service } }"))
    assert raised.value.data == {"me": {"subject": "tester"}, "upstreams": None}
    assert raised.value.errors is not None
    assert [e["extensions"]["code"] for e in raised.value.errors] == ["FORBIDDEN"]


async def test_an_admin_reads_the_upstreams(secured_stack: Stack) -> None:
    answer = await secured_stack.graphql(
        "{ upstreams { service circuit inFlight } }", headers=bearer(roles=["admin"])
    )
    assert answer["data"]["upstreams"] == [
        {"service": service, "circuit": "closed", "inFlight": 0} for service in ("logs", "metrics", "traces")
    ]


@pytest.mark.parametrize(
    ("tenant", "roles", "expected"),
    [
        ("acme", None, {"subject": "tester", "role": "viewer", "tenants": ["acme"]}),
        ("globex", ["editor"], {"subject": "tester", "role": "editor", "tenants": ["globex"]}),
        (None, ["viewer", "admin"], {"subject": "tester", "role": "admin", "tenants": None}),
    ],
)
async def test_me_answers_who_the_caller_is(
    secured_stack: Stack, tenant: str | None, roles: list[str] | None, expected: dict[str, Any]
) -> None:
    async with http_session(secured_stack, bearer(tenant, roles)) as session:
        data = await session.execute(GraphQLRequest("{ me { subject role tenants } }"))
    assert data == {"me": expected}


async def test_a_token_for_several_tenants_sees_them_all(secured_stack: Stack) -> None:
    both = jwt.encode({"sub": "ops", "tenant": list(TENANTS)}, SECRET, algorithm="HS256")
    answer = await secured_stack.graphql(
        '{ me { subject tenants } metricLabelValues(metric: "queue.depth", label: "resource.tenant.id") }',
        headers={"Authorization": f"Bearer {both}"},
    )
    assert answer["data"] == {
        "me": {"subject": "ops", "tenants": list(TENANTS)},
        "metricLabelValues": list(TENANTS),
    }
    narrowed = await secured_stack.graphql(
        '{ metricLabelValues(metric: "queue.depth", label: "resource.tenant.id") }',
        headers={"Authorization": f"Bearer {both}", "X-Scope-OrgID": "acme"},
    )
    assert narrowed["data"] == {"metricLabelValues": ["acme"]}


async def test_the_open_stack_treats_callers_as_an_anonymous_admin(open_stack: Stack) -> None:
    answer = await open_stack.graphql("{ me { subject role tenants } upstreams { service } }")
    assert answer["data"] == {
        "me": {"subject": "anonymous", "role": "admin", "tenants": None},
        "upstreams": [{"service": s} for s in ("logs", "metrics", "traces")],
    }
