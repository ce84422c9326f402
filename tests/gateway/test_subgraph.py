"""Each query service's federation subgraph: what its `_service { sdl }` announces, and its `_entities`
answering from the service's own API (tenant-scoped like every other route of the service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_ast,
    value_from_ast_untyped,
)

from gateway.graph.schema import build_schema
from gateway.subgraph import subgraph_routes, subgraph_sdl
from tests.gateway.conftest import Stack, token
from tests.gateway.telemetry import NOW_NS, TENANTS, TRACES, span_id, trace_id

module_loop = pytest.mark.asyncio(loop_scope="module")
"""The services run in the module's event loop: their tests run in it too."""

DOMAINS = ("traces", "logs", "metrics")
ROOT_FIELDS = {
    "traces": {"services", "operations", "trace", "searchTraces", "serviceMap", "redMetrics", "criticalPath"},
    "logs": {"logs"},
    "metrics": {"metricNames", "metricLabels", "metricLabelValues", "metricSeries", "promql"},
}
ACME_0 = trace_id("acme", 0)


def sdl_of(domain: str) -> DocumentNode:
    return parse(subgraph_sdl(build_schema(), domain))


def types_of(document: DocumentNode) -> dict[str, TypeDefinitionNode]:
    return {node.name.value: node for node in document.definitions if isinstance(node, TypeDefinitionNode)}


def fields_of(document: DocumentNode, name: str) -> dict[str, FieldDefinitionNode]:
    node = types_of(document)[name]
    assert isinstance(node, ObjectTypeDefinitionNode)
    return {field.name.value: field for field in node.fields or ()}


def directives(node: ObjectTypeDefinitionNode | FieldDefinitionNode) -> list[str]:
    """`node`'s directives as SDL (`@key(fields: "traceId")`)."""
    return [print_ast(directive) for directive in node.directives or ()]


def body(tenant: str, n: int, service: str) -> str:
    return f"{tenant} order {n} handled by {service}"


# --- the announced SDL -------------------------------------------------------------------------


def test_each_subgraph_announces_its_own_root_fields_and_no_others() -> None:
    for domain in DOMAINS:
        assert set(fields_of(sdl_of(domain), "Query")) == ROOT_FIELDS[domain], domain


def test_the_traces_subgraph_owns_the_entities_and_their_keys() -> None:
    types = types_of(sdl_of("traces"))
    keys = {
        name: directives(node) for name, node in types.items() if isinstance(node, ObjectTypeDefinitionNode)
    }
    assert keys["Trace"] == ['@key(fields: "traceId")']
    assert keys["Span"] == ['@key(fields: "traceId spanId")']
    assert keys["Service"] == ['@key(fields: "name")']
    assert {"spanCount", "rootService", "spans", "criticalPath"} <= set(fields_of(sdl_of("traces"), "Trace"))
    assert "logs" not in fields_of(sdl_of("traces"), "Trace")
    assert "logs" not in fields_of(sdl_of("traces"), "Span")


def test_the_logs_subgraph_adds_logs_to_traces_and_spans_requiring_only_their_times() -> None:
    document = sdl_of("logs")
    trace, span = fields_of(document, "Trace"), fields_of(document, "Span")
    assert set(trace) == {"traceId", "logs", "spans"}
    assert set(span) == {"traceId", "spanId", "logs", "startTimeUnixNano", "durationMs"}
    assert directives(trace["logs"]) == ['@requires(fields: "spans { startTimeUnixNano durationMs }")']
    assert directives(span["logs"]) == ['@requires(fields: "startTimeUnixNano durationMs")']
    for external in (trace["spans"], span["startTimeUnixNano"], span["durationMs"]):
        assert directives(external) == ["@external"]
    assert directives(trace["traceId"]) == directives(span["spanId"]) == []
    assert "Service" not in types_of(document)
    # The record's trace is the traces subgraph's entity: the logs subgraph answers only its key.
    assert print_ast(fields_of(document, "LogRecord")["trace"].type) == "Trace"


def test_the_link_imports_every_federation_directive_a_subgraph_uses() -> None:
    for domain, extra in (("traces", []), ("logs", ["@external", "@requires"]), ("metrics", [])):
        schema = next(node for node in sdl_of(domain).definitions if isinstance(node, SchemaDefinitionNode))
        (link,) = schema.directives or ()
        arguments = {
            argument.name.value: value_from_ast_untyped(argument.value) for argument in link.arguments or ()
        }
        assert arguments["url"].startswith("https://specs.apollo.dev/federation/v2.")
        assert arguments["import"] == ["@key", "@shareable", *extra]


def test_no_subgraph_announces_gateway_fields_subscriptions_or_federation_internals() -> None:
    for domain in DOMAINS:
        text = subgraph_sdl(build_schema(), domain)
        types = types_of(parse(text))
        assert not {"Subscription", "Caller", "Upstream", "_Service", "_Entity", "_Any"} & set(types), domain
        assert not {"me", "upstreams", "_service", "_entities"} & set(fields_of(parse(text), "Query")), domain
        assert "subscription:" not in text, domain


def test_the_metrics_subgraph_mentions_no_trace_entity() -> None:
    assert not {"Trace", "Span", "Service", "LogRecord"} & set(types_of(sdl_of("metrics")))


def test_an_unknown_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="'alerts' is not one of traces, logs, metrics"):
        subgraph_sdl(build_schema(), "alerts")


# --- the services serving their subgraphs ------------------------------------------------------


def serve_subgraphs(stack: Stack) -> None:
    """Each service's subgraph at its `/graphql`, as `QueryService.start` serves it."""
    for name, service in stack.services.items():
        if not any(getattr(route, "path", None) == "/graphql" for route in service.app.routes):
            service.app.router.routes.extend(subgraph_routes(name.removesuffix("_service"), service.app))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def open_subgraphs(open_stack: Stack) -> AsyncIterator[Stack]:
    serve_subgraphs(open_stack)
    yield open_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured_subgraphs(secured_stack: Stack) -> AsyncIterator[Stack]:
    serve_subgraphs(secured_stack)
    yield secured_stack


async def ask(
    stack: Stack, domain: str, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    """The JSON answer of `domain`'s subgraph (through the service's authentication), with its status."""
    service = stack.services[f"{domain}_service"]
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{domain}") as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
        )
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


def spans_of(tenant: str, n: int) -> list[dict[str, Any]]:
    """What the gateway sends of a trace's spans for `Trace.logs` (`startTimeUnixNano durationMs`)."""
    return [
        {"startTimeUnixNano": str(NOW_NS + n * 1_000_000_000), "durationMs": 50.0},
        {"startTimeUnixNano": str(NOW_NS + n * 1_000_000_000 + 5_000_000), "durationMs": 20.0},
    ]


@module_loop
async def test_each_service_announces_its_subgraph_sdl(open_subgraphs: Stack) -> None:
    for domain in DOMAINS:
        answer = await ask(open_subgraphs, domain, "{ _service { sdl } }")
        assert answer == {"data": {"_service": {"sdl": subgraph_sdl(build_schema(), domain)}}, "status": 200}


@module_loop
async def test_the_traces_subgraph_resolves_its_entities_by_key(open_subgraphs: Stack) -> None:
    answer = await ask(
        open_subgraphs,
        "traces",
        """query($representations: [_Any!]!) { _entities(representations: $representations) {
             ... on Trace { traceId rootService spanCount }
             ... on Span { traceId spanId name }
             ... on Service { name operations { name } } } }""",
        representations=[
            {"__typename": "Trace", "traceId": ACME_0},
            {"__typename": "Span", "traceId": ACME_0, "spanId": span_id("acme", 0, True)},
            {"__typename": "Service", "name": "backend"},
        ],
    )
    assert answer == {
        "data": {
            "_entities": [
                {"traceId": ACME_0, "rootService": "frontend", "spanCount": 2},
                {"traceId": ACME_0, "spanId": span_id("acme", 0, True), "name": "SELECT orders"},
                {"name": "backend", "operations": [{"name": "SELECT orders"}]},
            ]
        },
        "status": 200,
    }


@module_loop
async def test_the_logs_subgraph_answers_logs_of_traces_and_spans_from_their_representation(
    open_subgraphs: Stack,
) -> None:
    child = span_id("acme", 1, True)
    answer = await ask(
        open_subgraphs,
        "logs",
        """query($representations: [_Any!]!) { _entities(representations: $representations) {
             ... on Trace { traceId logs { nodes { body spanId } } }
             ... on Span { spanId logs { nodes { body } } } } }""",
        representations=[
            {"__typename": "Trace", "traceId": ACME_0, "spans": spans_of("acme", 0)},
            {
                "__typename": "Span",
                "traceId": trace_id("acme", 1),
                "spanId": child,
                "startTimeUnixNano": spans_of("acme", 1)[1]["startTimeUnixNano"],
                "durationMs": 20.0,
            },
        ],
    )
    assert answer["status"] == 200 and "errors" not in answer, answer
    trace, span = answer["data"]["_entities"]
    assert trace["traceId"] == ACME_0
    assert sorted((record["spanId"], record["body"]) for record in trace["logs"]["nodes"]) == [
        (span_id("acme", 0, False), body("acme", 0, "frontend")),
        (span_id("acme", 0, True), body("acme", 0, "backend")),
    ]
    assert span == {"spanId": child, "logs": {"nodes": [{"body": body("acme", 1, "backend")}]}}


@module_loop
async def test_the_logs_subgraph_never_calls_the_traces_service(open_subgraphs: Stack) -> None:
    """A Trace without the spans `Trace.logs` requires: the logs service has no traces client to ask."""
    answer = await ask(
        open_subgraphs,
        "logs",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Trace { logs { nodes { body } } } } }",
        r=[{"__typename": "Trace", "traceId": ACME_0}],
    )
    assert answer["data"] == {"_entities": [{"logs": None}]}
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["message"] == "the traces service is not configured"


@module_loop
async def test_a_record_s_trace_is_the_traces_subgraph_s_entity_by_key(open_subgraphs: Stack) -> None:
    answer = await ask(
        open_subgraphs,
        "logs",
        "query($t: String) { logs(filter: {traceId: $t}) { nodes { body trace { __typename traceId } } } }",
        t=ACME_0,
    )
    assert answer["status"] == 200 and "errors" not in answer, answer
    nodes = answer["data"]["logs"]["nodes"]
    assert sorted(node["body"] for node in nodes) == [body("acme", 0, "backend"), body("acme", 0, "frontend")]
    assert {(node["trace"]["__typename"], node["trace"]["traceId"]) for node in nodes} == {("Trace", ACME_0)}


@module_loop
async def test_a_subgraph_answers_only_the_caller_s_tenants(secured_subgraphs: Stack) -> None:
    query = '{ logs(filter: {query: "order"}, first: 100) { nodes { body } } }'
    for tenant in TENANTS:
        answer = await ask(
            secured_subgraphs, "logs", query, headers={"authorization": f"Bearer {token(tenant)}"}
        )
        assert answer["status"] == 200 and "errors" not in answer, answer
        assert sorted(node["body"] for node in answer["data"]["logs"]["nodes"]) == sorted(
            body(tenant, n, service) for n in range(TRACES) for service in ("frontend", "backend")
        )
    other = trace_id("globex", 0)
    answer = await ask(
        secured_subgraphs,
        "traces",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Trace { spanCount } } }",
        headers={"authorization": f"Bearer {token('acme')}"},
        r=[{"__typename": "Trace", "traceId": ACME_0}, {"__typename": "Trace", "traceId": other}],
    )
    assert answer["data"] == {"_entities": [{"spanCount": 2}, {"spanCount": 0}]}


@module_loop
async def test_a_subgraph_refuses_callers_without_credentials(secured_subgraphs: Stack) -> None:
    answer = await ask(secured_subgraphs, "traces", "{ _service { sdl } }")
    assert answer["status"] == 401
    assert answer["code"] == "UNAUTHENTICATED"
