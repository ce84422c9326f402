"""Limits and errors: too deep or too complex operations are refused before they run; a caller's bad
argument is BAD_USER_INPUT with the service's message; a service that is down is UPSTREAM_UNAVAILABLE
on its fields only, and its circuit opens; a caller over its rate limit gets 429 RATE_LIMITED. No
answer ever holds a stack trace.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from backend.clickhouse.backend import ClickHouseBackend
from collector.auth.config import RateLimitConfig
from gateway.config import UpstreamConfig
from gateway.resilience import CircuitBreakerConfig
from tests.conftest import free_port
from tests.gateway.conftest import Stack, start_stack, stop_stack, token
from tests.gateway.telemetry import TENANTS, TRACES, trace_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

REDIS = "redis://127.0.0.1:6379/0"
BURST = 3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dead_traces_stack(telemetry_backend: ClickHouseBackend) -> AsyncIterator[Stack]:
    """The open stack, but its traces upstream is a closed port: no retries, the circuit opens after 2 failures."""
    traces = UpstreamConfig(
        endpoint=f"http://127.0.0.1:{free_port()}",
        retries=0,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2, open_duration=timedelta(minutes=10)),
    )
    stack = await start_stack(telemetry_backend, authenticated=False, traces=traces)
    try:
        yield stack
    finally:
        await stop_stack(stack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limited_stack(telemetry_backend: ClickHouseBackend) -> AsyncIterator[Stack]:
    """The secured stack with a rate limit in Redis: BURST requests, then about one an hour."""
    prefix = f"airis:gateway-tests:{uuid.uuid4().hex}:"
    limit = RateLimitConfig(endpoint=REDIS, requests_per_second=1 / 3600, burst=BURST, key_prefix=prefix)
    stack = await start_stack(telemetry_backend, authenticated=True, rate_limit=limit)
    try:
        yield stack
    finally:
        await stop_stack(stack)
        redis = Redis.from_url(REDIS)
        async with redis:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
            if keys:
                await redis.delete(*keys)


def assert_no_stack_trace(answer: dict[str, Any]) -> None:
    text = json.dumps(answer)
    assert "Traceback" not in text
    assert 'File \\"' not in text and 'File "' not in text
    assert ".py" not in text


def only_error(answer: dict[str, Any]) -> dict[str, Any]:
    assert_no_stack_trace(answer)
    [error] = answer["errors"]
    assert isinstance(error, dict)
    return error


async def test_a_too_deep_operation_is_refused_before_it_runs(open_stack: Stack) -> None:
    nested = "traceId"
    for _ in range(5):
        nested = f"logs {{ nodes {{ trace {{ {nested} }} }} }}"
    answer = await open_stack.graphql(
        f'query Deep {{ trace(traceId: "{trace_id("acme", 0)}") {{ {nested} }} }}'
    )
    error = only_error(answer)
    assert "data" not in answer or answer["data"] is None
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "depth" in error["message"]
    assert "12" in error["message"]


async def test_a_query_at_the_depth_limit_runs(open_stack: Stack) -> None:
    # trace > logs > nodes > trace > logs > nodes > trace > logs > nodes > trace > spans > name: depth 12
    query = """query($id: ID!) { trace(traceId: $id) { logs { nodes { trace { logs { nodes { trace {
                 logs(first: 1) { nodes { trace { spans { name } } } } } } } } } } } }"""
    answer = await open_stack.graphql(query, {"id": trace_id("acme", 0)})
    assert "errors" not in answer, answer
    outer = answer["data"]["trace"]["logs"]["nodes"][0]["trace"]
    innermost = outer["logs"]["nodes"][0]["trace"]["logs"]["nodes"]
    assert innermost == [{"trace": {"spans": [{"name": "GET /orders"}, {"name": "SELECT orders"}]}}]


@pytest.mark.parametrize(
    "query",
    [
        "{ searchTraces(first: 1000) { nodes { spans { logs(first: 100) { nodes { body } } } } } }",
        # a page size from a variable counts as 100; fragments count where they are spread
        """query($n: Int!) { searchTraces(first: $n) { ...page } }
           fragment page on TraceConnection { nodes { logs(first: 1000) { nodes { body service } } } }""",
    ],
)
async def test_a_too_complex_operation_is_refused_before_it_runs(open_stack: Stack, query: str) -> None:
    answer = await open_stack.graphql(query, {"n": 5})
    error = only_error(answer)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith("the operation's estimated complexity ")
    assert error["message"].endswith(" is above the limit 20000; ask for fewer fields or smaller pages")
    assert int(error["message"].split()[4]) > 20_000


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            '{ trace(traceId: "not-hex") { traceId } }',
            "trace",
            "trace_id: 'not-hex' is not a trace id (1 to 32 hex digits)",
        ),
        ('{ criticalPath(traceId: "xyz") { traceId } }', "criticalPath", "'xyz' is not a trace id"),
        (
            '{ redMetrics(service: "frontend", step: "soon") { service } }',
            "redMetrics",
            "step: 'soon' is not a duration (e.g. 250ms, 1.5s, 1h30m)",
        ),
        (
            '{ logs { histogram(step: "1 fortnight") { total } } }',
            "histogram",
            "step: '1 fortnight' is not a duration",
        ),
        ('{ metricSeries(metric: "queue.depth", step: "-1m") { metric } }', "metricSeries", "step"),
        (
            '{ promql(query: "sum(queue_depth_ratio") { resultType } }',
            "promql",
            "parse error: unclosed left parenthesis",
        ),
        (
            '{ promql(query: "rate(queue_depth_ratio)") { resultType } }',
            "promql",
            "parse error: expected type matrix in call to function 'rate', got vector",
        ),
        ('{ logs(filter: {minSeverity: "LOUD"}) { nodes { body } } }', "logs", "min_severity: 'LOUD'"),
        ('{ logs { facets(field: "nope") { total } } }', "facets", "field: 'nope'"),
    ],
)
async def test_a_bad_argument_is_bad_user_input_with_the_services_message(
    open_stack: Stack, query: str, field: str, message: str
) -> None:
    answer = await open_stack.graphql(query)
    assert answer["status"] == 200
    error = only_error(answer)
    assert error["path"][-1] == field
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["service"] in ("traces", "logs", "metrics")
    assert message in error["message"]


async def test_a_bad_argument_leaves_the_other_fields_answered(open_stack: Stack) -> None:
    answer = await open_stack.graphql(
        '{ trace(traceId: "nope") { traceId } metricNames { name } logs(first: 1) { nodes { body } histogram(step: "x") { total } } }'
    )
    assert_no_stack_trace(answer)
    assert answer["data"]["trace"] is None
    assert answer["data"]["metricNames"] == [{"name": "queue.depth"}]
    assert len(answer["data"]["logs"]["nodes"]) == 1
    assert answer["data"]["logs"]["histogram"] is None
    assert sorted(tuple(e["path"]) for e in answer["errors"]) == [("logs", "histogram"), ("trace",)]
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"BAD_USER_INPUT"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ services { name ", "Syntax Error"),
        ("{ nope }", "Cannot query field 'nope' on type 'Query'."),
        ('{ searchTraces(first: "many") { nodes { traceId } } }', "Int cannot represent non-integer value"),
        ("{ trace { traceId } }", "Argument 'Query.trace(traceId:)' of type 'ID!' is required"),
    ],
)
async def test_an_invalid_operation_is_bad_user_input(open_stack: Stack, query: str, message: str) -> None:
    answer = await open_stack.graphql(query)
    error = only_error(answer)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert message in error["message"]


async def test_a_service_that_is_down_is_upstream_unavailable_and_its_circuit_opens(
    dead_traces_stack: Stack,
) -> None:
    query = """{ searchTraces { nodes { traceId } } logs(first: 2) { nodes { body } } metricNames { name }
                 upstreams { service circuit } }"""
    circuits: list[dict[str, str]] = []
    messages: list[str] = []
    for _attempt in range(3):
        answer = await dead_traces_stack.graphql(query)
        assert_no_stack_trace(answer)
        assert answer["status"] == 200
        # partial data: the logs and metrics services answer in the same operation
        assert answer["data"]["searchTraces"] is None
        assert len(answer["data"]["logs"]["nodes"]) == 2
        assert answer["data"]["metricNames"] == [{"name": "queue.depth"}]
        [error] = answer["errors"]
        assert error["path"] == ["searchTraces"]
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert error["extensions"]["service"] == "traces"
        messages.append(error["message"])
        after = await dead_traces_stack.graphql("{ upstreams { service circuit } }")
        circuits.append({u["service"]: u["circuit"] for u in after["data"]["upstreams"]})
    assert all(m.startswith("the traces service is unavailable") for m in messages)
    assert circuits == [
        {"logs": "closed", "metrics": "closed", "traces": "closed"},
        {"logs": "closed", "metrics": "closed", "traces": "open"},
        {"logs": "closed", "metrics": "closed", "traces": "open"},
    ]
    assert messages[:2] == ["the traces service is unavailable"] * 2  # no address, no exception text
    assert messages[2].startswith("the traces service is unavailable: circuit open, retry in ")


async def test_fields_of_other_services_answer_while_the_circuit_is_open(dead_traces_stack: Stack) -> None:
    answer = await dead_traces_stack.graphql(
        """query($id: ID!) { trace(traceId: $id) { traceId } services { name }
             logs(filter: {query: "globex"}) { nodes { trace { traceId } } }
             metricLabelValues(metric: "queue.depth", label: "resource.tenant.id") }""",
        {"id": trace_id("acme", 0)},
    )
    assert_no_stack_trace(answer)
    data = answer["data"]
    assert data["trace"] is None
    assert data["services"] is None
    assert data["metricLabelValues"] == list(TENANTS)
    # a log record's trace comes from the traces service, yet it is only an id here: no call needed
    assert {n["trace"]["traceId"] for n in data["logs"]["nodes"]} == {
        trace_id("globex", n) for n in range(TRACES)
    }
    by_path = {tuple(e["path"]): e["extensions"] for e in answer["errors"]}
    assert set(by_path) == {("trace",), ("services",)}
    for extensions in by_path.values():
        assert extensions["code"] == "UPSTREAM_UNAVAILABLE"
        assert extensions["service"] == "traces"
        assert 1 <= extensions["retryAfter"] <= 600


async def test_over_the_rate_limit_is_429_rate_limited_with_retry_after(limited_stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {token('acme')}"}
    answers = [await limited_stack.post("{ me { subject } }", headers=headers) for _ in range(BURST + 1)]
    assert [r.status_code for r in answers] == [200] * BURST + [429]
    assert [r.json() for r in answers[:BURST]] == [{"data": {"me": {"subject": "tester"}}}] * BURST
    refused = answers[-1]
    body = refused.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert "rate limit exceeded on graphql_gateway" in body["errors"][0]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    # Another caller has its own bucket.
    other = {"Authorization": f"Bearer {token('globex', subject='someone-else')}"}
    assert (await limited_stack.post("{ me { subject } }", headers=other)).json() == {
        "data": {"me": {"subject": "someone-else"}}
    }
