"""The three services' subgraphs compose into one supergraph with Apollo's own gateway (`@apollo/gateway`
from npm, `IntrospectAndCompose` over the services' real sockets), whose query plans span services.

`make test` installs the pinned npm packages (`tests/gateway/federation/package-lock.json`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.gateway.conftest import Stack
from tests.gateway.telemetry import TENANTS, TRACES, span_id, trace_id
from tests.gateway.test_subgraph import body, serve_subgraphs

FEDERATION = Path(__file__).parent / "federation"
NODE = shutil.which("node")
ACME_0 = trace_id("acme", 0)


@pytest.fixture(autouse=True)
def apollo_installed() -> None:
    """Fails (never skips) without node and the pinned npm packages: `make test` installs them."""
    if NODE is None or not (FEDERATION / "node_modules" / "@apollo" / "gateway").is_dir():
        pytest.fail("needs node and `make tests/gateway/federation/node_modules` (npm ci)")


OPERATIONS = {
    "trace_with_logs": f'{{ trace(traceId: "{ACME_0}") {{ traceId spanCount logs {{ nodes {{ body }} }} }} }}',
    "span_logs": f'{{ trace(traceId: "{ACME_0}") {{ spans {{ spanId logs {{ nodes {{ body }} }} }} }} }}',
    "logs_with_traces": """{ logs(filter: {query: "order"}, first: 100) {
        nodes { body traceId trace { rootService spanCount errorCount } } } }""",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def federated(open_stack: Stack) -> AsyncIterator[dict[str, Any]]:
    """What `compose.mjs` answers: the supergraph SDL and the result of each of OPERATIONS."""
    serve_subgraphs(open_stack)
    subgraphs = [
        {"name": name.removesuffix("_service"), "url": f"http://127.0.0.1:{service.port}/graphql"}
        for name, service in open_stack.services.items()
    ]
    request = {"subgraphs": subgraphs, "operations": [{"query": query} for query in OPERATIONS.values()]}
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "compose.mjs",
        cwd=FEDERATION,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(json.dumps(request).encode())
    assert process.returncode == 0, stderr.decode()
    answer: dict[str, Any] = json.loads(stdout)
    answer["results"] = dict(zip(OPERATIONS, answer["results"], strict=True))
    answer["subgraphs"] = subgraphs
    yield answer


def test_the_supergraph_joins_the_three_subgraphs(federated: dict[str, Any]) -> None:
    supergraph = federated["supergraph"]
    for subgraph in federated["subgraphs"]:
        graph = subgraph["name"].upper()
        assert f'{graph} @join__graph(name: "{subgraph["name"]}", url: "{subgraph["url"]}")' in supergraph
    assert (
        'type Trace\n  @join__type(graph: LOGS, key: "traceId")\n  @join__type(graph: TRACES, key: "traceId")'
        in (supergraph)
    )
    assert "type Subscription" not in supergraph
    assert "upstreams" not in supergraph


def test_a_trace_with_its_logs_from_the_logs_service(federated: dict[str, Any]) -> None:
    result = federated["results"]["trace_with_logs"]
    assert "errors" not in result, result
    trace = result["data"]["trace"]
    assert (trace["traceId"], trace["spanCount"]) == (ACME_0, 2)
    assert sorted(node["body"] for node in trace["logs"]["nodes"]) == [
        body("acme", 0, "backend"),
        body("acme", 0, "frontend"),
    ]


def test_each_span_with_its_own_logs(federated: dict[str, Any]) -> None:
    result = federated["results"]["span_logs"]
    assert "errors" not in result, result
    spans = {
        span["spanId"]: [node["body"] for node in span["logs"]["nodes"]]
        for span in result["data"]["trace"]["spans"]
    }
    assert spans == {
        span_id("acme", 0, False): [body("acme", 0, "frontend")],
        span_id("acme", 0, True): [body("acme", 0, "backend")],
    }


def test_log_records_with_their_traces_from_the_traces_service(federated: dict[str, Any]) -> None:
    result = federated["results"]["logs_with_traces"]
    assert "errors" not in result, result
    found = sorted(
        (
            node["body"],
            node["traceId"],
            node["trace"]["rootService"],
            node["trace"]["spanCount"],
            node["trace"]["errorCount"],
        )
        for node in result["data"]["logs"]["nodes"]
    )
    assert found == sorted(
        (body(tenant, n, service), trace_id(tenant, n), "frontend", 2, int(n == 0))
        for tenant in TENANTS
        for n in range(TRACES)
        for service in ("frontend", "backend")
    )
