"""Every root field of the gateway, asked by gql over HTTP on the gateway's real socket, answers what
`telemetry.py` wrote: two tenants with the same services, three two-span traces each, a log record per
span and a `queue.depth` gauge per tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from gql import GraphQLRequest
from gql.client import AsyncClientSession

from tests.gateway.conftest import Stack, http_session, token
from tests.gateway.telemetry import GAUGE, NOW_NS, TENANTS, TRACES, span_id, trace_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACME_0 = trace_id("acme", 0)
ALL_TRACES = {trace_id(tenant, n) for tenant in TENANTS for n in range(TRACES)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(open_stack: Stack) -> AsyncIterator[AsyncClientSession]:
    """gql over aiohttp to the stack without authentication (every tenant's data)."""
    async with http_session(open_stack) as session:
        yield session


async def ask(session: AsyncClientSession, query: str, **variables: Any) -> dict[str, Any]:
    """The data of one operation (gql raises on any error)."""
    return await session.execute(GraphQLRequest(query, variable_values=variables))


def at(nanos: int) -> str:
    """The DateTime text the gateway answers for Unix nanoseconds."""
    return datetime.fromtimestamp(nanos // 1000 / 1e6, tz=UTC).isoformat()


async def test_services_and_their_operations(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """{ services { name operations { name kind } }
             operations(service: "frontend") { name kind }
             servers: operations(service: "backend", kind: SERVER) { name } }""",
    )
    assert data["services"] == [
        {"name": "backend", "operations": [{"name": "SELECT orders", "kind": "CLIENT"}]},
        {"name": "frontend", "operations": [{"name": "GET /orders", "kind": "SERVER"}]},
    ]
    assert data["operations"] == [{"name": "GET /orders", "kind": "SERVER"}]
    assert data["servers"] == []


async def test_a_trace_with_its_spans_summary_and_critical_path(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """query($id: ID!) { trace(traceId: $id) {
             traceId rootService rootName startTime durationMs spanCount errorCount services
             spans { traceId spanId parentSpanId name service kind startTime startTimeUnixNano durationMs
                     status { code message } attributes resource }
             criticalPath { traceId durationMs sections { spanId service operation durationMs selfTimeMs } }
           } }""",
        id=ACME_0,
    )
    trace = data["trace"]
    root, child = span_id("acme", 0, False), span_id("acme", 0, True)
    assert {k: v for k, v in trace.items() if k not in ("spans", "criticalPath")} == {
        "traceId": ACME_0,
        "rootService": "frontend",
        "rootName": "GET /orders",
        "startTime": at(NOW_NS),
        "durationMs": 50.0,
        "spanCount": 2,
        "errorCount": 1,
        "services": ["backend", "frontend"],
    }
    assert trace["spans"] == [
        {
            "traceId": ACME_0,
            "spanId": root,
            "parentSpanId": "",
            "name": "GET /orders",
            "service": "frontend",
            "kind": "SERVER",
            "startTime": at(NOW_NS),
            "startTimeUnixNano": str(NOW_NS),
            "durationMs": 50.0,
            "status": {"code": "UNSET", "message": ""},
            "attributes": {"tenant.secret": "acme-0"},
            "resource": {"service.name": "frontend", "tenant.id": "acme"},
        },
        {
            "traceId": ACME_0,
            "spanId": child,
            "parentSpanId": root,
            "name": "SELECT orders",
            "service": "backend",
            "kind": "CLIENT",
            "startTime": at(NOW_NS + 5_000_000),
            "startTimeUnixNano": str(NOW_NS + 5_000_000),
            "durationMs": 20.0,
            "status": {"code": "ERROR", "message": ""},
            "attributes": {"tenant.secret": "acme-0"},
            "resource": {"service.name": "backend", "tenant.id": "acme"},
        },
    ]
    # The frontend waits 5 ms, the backend works 20 ms, the frontend finishes in 25 ms.
    assert trace["criticalPath"] == {
        "traceId": ACME_0,
        "durationMs": 50.0,
        "sections": [
            {
                "spanId": root,
                "service": "frontend",
                "operation": "GET /orders",
                "durationMs": 5.0,
                "selfTimeMs": 30.0,
            },
            {
                "spanId": child,
                "service": "backend",
                "operation": "SELECT orders",
                "durationMs": 20.0,
                "selfTimeMs": 20.0,
            },
            {
                "spanId": root,
                "service": "frontend",
                "operation": "GET /orders",
                "durationMs": 25.0,
                "selfTimeMs": 30.0,
            },
        ],
    }


async def test_the_critical_path_root_field_equals_the_traces_one(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """query($id: ID!) { criticalPath(traceId: $id) { traceId durationMs sections { spanId durationMs } }
                             trace(traceId: $id) { criticalPath { traceId durationMs sections { spanId durationMs } } } }""",
        id=ACME_0,
    )
    assert data["criticalPath"] == data["trace"]["criticalPath"]
    assert [s["durationMs"] for s in data["criticalPath"]["sections"]] == [5.0, 20.0, 25.0]


async def test_an_unknown_trace_is_null(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        "query($id: ID!) { trace(traceId: $id) { traceId } criticalPath(traceId: $id) { traceId } }",
        id="ab" * 16,
    )
    assert data == {"trace": None, "criticalPath": None}


async def test_a_short_trace_id_is_padded_like_the_services_do(session: AsyncClientSession) -> None:
    data = await ask(
        session, 'query { trace(traceId: "1000000000000000000000000000001") { traceId spanCount } }'
    )
    assert data["trace"] == {"traceId": trace_id("acme", 1), "spanCount": 2}


async def search(session: AsyncClientSession, filter: dict[str, Any]) -> list[dict[str, Any]]:
    data = await ask(
        session,
        """query($filter: TraceFilter) { searchTraces(filter: $filter, first: 50) {
             nodes { traceId rootService startTime durationMs spanCount errorCount } } }""",
        filter=filter,
    )
    nodes: list[dict[str, Any]] = data["searchTraces"]["nodes"]
    starts = [n["startTime"] for n in nodes]
    assert starts == sorted(starts, reverse=True)  # newest first
    return nodes


async def test_search_traces_by_service_and_error_status(session: AsyncClientSession) -> None:
    nodes = await search(session, {"service": "backend", "status": "ERROR"})
    assert sorted(n["traceId"] for n in nodes) == [trace_id("acme", 0), trace_id("globex", 0)]
    assert {(n["rootService"], n["spanCount"], n["errorCount"], n["durationMs"]) for n in nodes} == {
        ("frontend", 2, 1, 50.0)
    }


async def test_search_traces_by_attribute_operation_and_kind(session: AsyncClientSession) -> None:
    assert [
        n["traceId"]
        for n in await search(session, {"attributes": [{"key": "tenant.secret", "value": "globex-1"}]})
    ] == [trace_id("globex", 1)]
    by_operation = await search(session, {"operation": "SELECT orders", "kind": "CLIENT"})
    assert {n["traceId"] for n in by_operation} == ALL_TRACES
    assert await search(session, {"operation": "SELECT orders", "kind": "SERVER"}) == []


async def test_search_traces_by_duration_bounds(session: AsyncClientSession) -> None:
    # Bounds apply to one span: the frontend's 50 ms span, the backend's 20 ms span.
    assert {n["traceId"] for n in await search(session, {"minDurationMs": 30})} == ALL_TRACES
    assert {
        n["traceId"]
        for n in await search(session, {"service": "backend", "minDurationMs": 15, "maxDurationMs": 25})
    } == ALL_TRACES
    assert await search(session, {"service": "backend", "minDurationMs": 30}) == []
    assert await search(session, {"service": "frontend", "maxDurationMs": 40}) == []


async def test_search_traces_in_a_time_range(session: AsyncClientSession) -> None:
    second = NOW_NS + 1_000_000_000
    data = await ask(
        session,
        """query($range: TimeRange) { searchTraces(range: $range) { nodes { traceId } } }""",
        range={"start": at(second - 500_000_000), "end": at(second + 500_000_000)},
    )
    assert sorted(n["traceId"] for n in data["searchTraces"]["nodes"]) == [
        trace_id("acme", 1),
        trace_id("globex", 1),
    ]


async def test_the_service_map_counts_calls_and_errors(session: AsyncClientSession) -> None:
    data = await ask(session, "{ serviceMap { nodes { name } edges { parent child callCount errorCount } } }")
    assert data["serviceMap"] == {
        "nodes": [{"name": "backend"}, {"name": "frontend"}],
        "edges": [{"parent": "frontend", "child": "backend", "callCount": 2 * TRACES, "errorCount": 2}],
    }


async def test_red_metrics_of_a_services_entry_spans(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """{ redMetrics(service: "frontend", step: "1m") { service stepSeconds timestamps
               series { operation requests errors requestRate p50Ms } }
             client: redMetrics(service: "backend") { series { operation } } }""",
    )
    red = data["redMetrics"]
    assert (red["service"], red["stepSeconds"]) == ("frontend", 60.0)
    assert [s["operation"] for s in red["series"]] == [None, "GET /orders"]
    for series in red["series"]:
        assert len(series["requests"]) == len(red["timestamps"])
        assert sum(series["requests"]) == 2 * TRACES
        assert sum(series["errors"]) == 0  # the errors are in the backend's client spans
        assert sum(series["requestRate"]) == pytest.approx(2 * TRACES / 60)
        medians = [p for p, n in zip(series["p50Ms"], series["requests"], strict=True) if n]
        assert medians == [pytest.approx(50.0, rel=0.1)] * len(medians)
    assert data["client"]["series"] == []  # the backend only has client spans, no entry spans


async def test_logs_search_text_with_facets_and_histogram(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """{ logs(filter: {query: "ORDER 1"}) {
               nodes { body service severityText traceId spanId }
               facets(field: "service") { field total distinct values { value count } }
               histogram(step: "1m") { stepSeconds total buckets { count } } } }""",
    )
    logs = data["logs"]
    assert sorted(n["body"] for n in logs["nodes"]) == sorted(
        f"{tenant} order 1 handled by {service}" for tenant in TENANTS for service in ("frontend", "backend")
    )
    for node in logs["nodes"]:
        tenant = node["body"].split()[0]
        assert node["traceId"] == trace_id(tenant, 1)
        assert node["spanId"] == span_id(tenant, 1, node["service"] == "backend")
        assert node["severityText"] == "INFO"
    assert logs["facets"] == {
        "field": "service",
        "total": 4,
        "distinct": 2,
        "values": [{"value": "backend", "count": 2}, {"value": "frontend", "count": 2}],
    }
    histogram = logs["histogram"]
    assert (histogram["stepSeconds"], histogram["total"]) == (60.0, 4)
    assert sum(b["count"] for b in histogram["buckets"]) == 4


async def test_logs_filters(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """query($trace: String) { errors: logs(filter: {minSeverity: "ERROR"}) { nodes { body severityNumber } }
             exact: logs(filter: {query: "ORDER", matchCase: true}) { nodes { body } }
             globex: logs(filter: {services: ["backend"], resource: [{key: "tenant.id", value: "globex"}]}) {
               nodes { body } facets(field: "resource.tenant.id") { values { value count } } }
             none: logs(filter: {attributes: [{key: "absent", value: "x"}]}) { nodes { body } histogram { total } }
             byTrace: logs(filter: {traceId: $trace}) { nodes { body } } }""",
        trace=trace_id("globex", 2),
    )
    assert sorted(n["body"] for n in data["errors"]["nodes"]) == [
        "acme order 0 handled by backend",
        "globex order 0 handled by backend",
    ]
    assert {n["severityNumber"] for n in data["errors"]["nodes"]} == {17}
    assert data["exact"]["nodes"] == []
    assert [n["body"] for n in data["globex"]["nodes"]] == [
        f"globex order {n} handled by backend" for n in (2, 1, 0)
    ]
    assert data["globex"]["facets"]["values"] == [{"value": "globex", "count": TRACES}]
    assert data["none"] == {"nodes": [], "histogram": {"total": 0}}
    assert [n["body"] for n in data["byTrace"]["nodes"]] == [
        "globex order 2 handled by backend",
        "globex order 2 handled by frontend",
    ]


async def test_logs_of_a_trace_and_of_each_span_and_the_trace_of_a_record(
    session: AsyncClientSession,
) -> None:
    data = await ask(
        session,
        """query($id: ID!) { trace(traceId: $id) {
             logs { nodes { body spanId } pageInfo { hasNextPage } }
             spans { spanId logs { nodes { body spanId } } } } }""",
        id=trace_id("globex", 1),
    )
    trace = data["trace"]
    assert [n["body"] for n in trace["logs"]["nodes"]] == [
        "globex order 1 handled by backend",
        "globex order 1 handled by frontend",
    ]
    assert trace["logs"]["pageInfo"] == {"hasNextPage": False}
    assert [(s["spanId"], [n["spanId"] for n in s["logs"]["nodes"]]) for s in trace["spans"]] == [
        (span_id("globex", 1, False), [span_id("globex", 1, False)]),
        (span_id("globex", 1, True), [span_id("globex", 1, True)]),
    ]
    assert [n["body"] for s in trace["spans"] for n in s["logs"]["nodes"]] == [
        "globex order 1 handled by frontend",
        "globex order 1 handled by backend",
    ]
    records = await ask(
        session,
        """{ logs(filter: {query: "\\"acme order 2 handled by backend\\""}) {
               nodes { trace { traceId rootName errorCount spans { service } } } } }""",
    )
    assert records["logs"]["nodes"] == [
        {
            "trace": {
                "traceId": trace_id("acme", 2),
                "rootName": "GET /orders",
                "errorCount": 0,
                "spans": [{"service": "frontend"}, {"service": "backend"}],
            }
        }
    ]


async def test_metric_names_labels_and_label_values(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """{ metricNames { name type unit }
             prefixed: metricNames(prefix: "queue.") { name }
             other: metricNames(prefix: "http.") { name }
             metricLabels(metric: "queue.depth")
             queues: metricLabelValues(metric: "queue.depth", label: "queue")
             tenants: metricLabelValues(metric: "queue.depth", label: "resource.tenant.id") }""",
    )
    assert data["metricNames"] == [{"name": "queue.depth", "type": "gauge", "unit": "1"}]
    assert data["prefixed"] == [{"name": "queue.depth"}]
    assert data["other"] == []
    assert data["metricLabels"] == ["queue", "resource.service.name", "resource.tenant.id"]
    assert data["queues"] == ["orders"]
    assert data["tenants"] == list(TENANTS)


async def test_metric_series_average_by_label(session: AsyncClientSession) -> None:
    data = await ask(
        session,
        """{ byQueue: metricSeries(metric: "queue.depth", by: ["queue"], step: "1m") {
               metric aggregation stepSeconds type series { labels points { value } } }
             byTenant: metricSeries(metric: "queue.depth", aggregation: MAX, by: ["resource.tenant.id"], step: "5m") {
               series { labels points { value } } }
             onlyGlobex: metricSeries(metric: "queue.depth", filter: [{key: "resource.tenant.id", value: "globex"}]) {
               series { points { value } } } }""",
    )
    by_queue = data["byQueue"]
    assert (by_queue["metric"], by_queue["aggregation"], by_queue["stepSeconds"], by_queue["type"]) == (
        "queue.depth",
        "AVG",
        60.0,
        "gauge",
    )
    [series] = by_queue["series"]
    assert series["labels"] == {"queue": "orders"}
    assert {p["value"] for p in series["points"] if p["value"] is not None} == {sum(GAUGE.values()) / 2}
    assert [
        (s["labels"]["resource.tenant.id"], {p["value"] for p in s["points"] if p["value"] is not None})
        for s in data["byTenant"]["series"]
    ] == [(tenant, {GAUGE[tenant]}) for tenant in TENANTS]
    [globex] = data["onlyGlobex"]["series"]
    assert {p["value"] for p in globex["points"] if p["value"] is not None} == {GAUGE["globex"]}


async def test_promql_instant_and_range_under_the_metrics_prometheus_name(secured_stack: Stack) -> None:
    # One tenant at a time: both tenants' gauges have the same Prometheus labels.
    headers = {"Authorization": f"Bearer {token('globex')}"}
    async with http_session(secured_stack, headers) as session:
        found = await ask(
            session, '{ promql(query: "{__name__=~\\"queue.*\\"}") { resultType series { metric } } }'
        )
        assert found["promql"]["resultType"] == "vector"
        [series] = found["promql"]["series"]
        name = series["metric"]["__name__"]
        assert series["metric"] == {"__name__": name, "job": "frontend", "queue": "orders"}
        assert name.startswith("queue_depth")
        now = datetime.now(tz=UTC)
        moment = datetime.fromtimestamp(NOW_NS // 1_000_000_000, tz=UTC)  # a whole second, inside the data
        data = await ask(
            session,
            """query($q: String!, $time: DateTime, $range: TimeRange) {
                 instant: promql(query: $q, time: $time) { resultType series { points { time value } } scalar { value } }
                 range: promql(query: $q, range: $range, step: "1m") { resultType series { metric points { value } } }
                 scalar: promql(query: "2 * 21") { resultType series { metric } scalar { value } } }""",
            q=name,
            time=moment.isoformat(),
            range={"start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()},
        )
    instant = data["instant"]
    assert instant["resultType"] == "vector"
    assert instant["scalar"] is None
    [point] = instant["series"][0]["points"]
    assert point == {"time": moment.isoformat(), "value": GAUGE["globex"]}
    assert data["range"]["resultType"] == "matrix"
    [series] = data["range"]["series"]
    assert series["metric"]["__name__"] == name
    assert len(series["points"]) >= 4
    assert {p["value"] for p in series["points"]} == {GAUGE["globex"]}
    assert data["scalar"] == {"resultType": "scalar", "series": [], "scalar": {"value": 42.0}}


async def test_schema_introspection_validates_queries_in_the_client(open_stack: Stack) -> None:
    from gql import Client
    from gql.transport.aiohttp import AIOHTTPTransport
    from graphql import GraphQLError

    transport = AIOHTTPTransport(url=open_stack.url)
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None
        query = session.client.schema.query_type
        assert query is not None
        assert {
            "services",
            "trace",
            "searchTraces",
            "logs",
            "metricSeries",
            "promql",
            "me",
            "upstreams",
        } <= set(query.fields)
        with pytest.raises(GraphQLError, match="Cannot query field 'nope'"):
            await session.execute(GraphQLRequest("{ nope }"))


async def test_graphiql_is_served_to_browsers(open_stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(open_stack.url, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert "<html" in response.text.lower()


async def test_health_answers_without_graphql(open_stack: Stack) -> None:
    response = await open_stack.http.get("/health")
    assert response.json() == {"status": "ok", "service": "airis graphql gateway"}


async def test_the_gateway_resolves_entities_from_the_service_owning_them(open_stack: Stack) -> None:
    acme = trace_id("acme", 0)
    answer = await open_stack.graphql(
        """query($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on Trace { traceId spanCount logs { nodes { body } } }
             ... on Span { name service }
             ... on Service { name } } }""",
        {
            "reps": [
                {"__typename": "Trace", "traceId": acme},
                {"__typename": "Span", "traceId": acme, "spanId": span_id("acme", 0, True)},
                {"__typename": "Service", "name": "backend"},
            ]
        },
    )
    assert "errors" not in answer, answer
    trace, span, service = answer["data"]["_entities"]
    assert trace["traceId"] == acme and trace["spanCount"] == 2
    assert sorted(n["body"] for n in trace["logs"]["nodes"]) == [
        "acme order 0 handled by backend",
        "acme order 0 handled by frontend",
    ]
    assert span == {"name": "SELECT orders", "service": "backend"}
    assert service == {"name": "backend"}
