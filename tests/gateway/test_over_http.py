"""The gateway in front of services running apart: it calls them over HTTP (real sockets), forwards
each caller's credentials, and the answers are the in-process gateway's; the shipped
examples/gateway.yaml configures exactly that."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from collector.auth.extension import AuthExtension
from collector.component import ComponentId
from gateway.config import GatewayConfig, UpstreamConfig
from gateway.extension import GraphQLGateway
from tests.backend.conftest import BackendHost, extension_settings
from tests.gateway.conftest import SECRET, Stack, token
from tests.gateway.telemetry import trace_id

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parents[2]
QUERY = """query($id: ID!) {
  trace(traceId: $id) { traceId spanCount errorCount spans { name service } logs { nodes { body } } }
  logs(filter: {query: "order"}, first: 50) { nodes { body } facets(field: "service") { total } }
  metricSeries(metric: "queue.depth", aggregation: MAX) { series { points { value } } }
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote(secured_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway whose services are the stack's, reached at their real ports."""
    [auth] = [c for c in secured_stack.components if isinstance(c, AuthExtension)]
    host = BackendHost(secured_stack.backend, {ComponentId("auth"): auth})
    ports = {name: service.port for name, service in secured_stack.services.items()}
    config = GatewayConfig(
        endpoint="127.0.0.1:0",
        traces=UpstreamConfig(endpoint=f"http://127.0.0.1:{ports['traces_service']}"),
        logs=UpstreamConfig(endpoint=f"http://127.0.0.1:{ports['logs_service']}"),
        metrics=UpstreamConfig(endpoint=f"http://127.0.0.1:{ports['metrics_service']}"),
    )
    config.auth.authenticator = "auth"
    config.validate()
    assert not config.dependencies()[1:], "no in-process services: only the auth extension"
    gateway = GraphQLGateway(extension_settings("graphql_gateway"), config)
    await gateway.start(host)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
            yield client
    finally:
        await gateway.shutdown()


async def ask(client: httpx.AsyncClient, tenant: str | None, trace: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token(tenant)}"}
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": trace}}, headers=headers
    )
    answer: dict[str, Any] = response.json()
    assert response.status_code == 200 and "errors" not in answer, answer
    return answer["data"]


@MODULE_LOOP
@pytest.mark.parametrize("tenant", ["acme", "globex"])
async def test_over_http_the_answers_are_the_in_process_ones(
    secured_stack: Stack, remote: httpx.AsyncClient, tenant: str
) -> None:
    headers = {"Authorization": f"Bearer {token(tenant)}"}
    own = trace_id(tenant, 1)
    local = await secured_stack.graphql(QUERY, {"id": own}, headers)
    assert "errors" not in local, local
    over_http = await ask(remote, tenant, own)
    assert over_http == local["data"]
    assert over_http["trace"]["spanCount"] == 2
    bodies = [node["body"] for node in over_http["logs"]["nodes"]]
    assert bodies and all(body.startswith(f"{tenant} ") for body in bodies)


@MODULE_LOOP
async def test_over_http_the_services_still_scope_each_caller_to_its_tenant(
    remote: httpx.AsyncClient,
) -> None:
    other = await ask(remote, "acme", trace_id("globex", 1))
    assert other["trace"] is None
    assert all(node["body"].startswith("acme ") for node in other["logs"]["nodes"])
    both = await ask(remote, None, trace_id("globex", 1))
    assert both["trace"]["spanCount"] == 2
    assert {node["body"].split()[0] for node in both["logs"]["nodes"]} == {"acme", "globex"}


def test_the_shipped_gateway_example_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "validate", "--config", "examples/gateway.yaml"],
        cwd=ROOT,
        env={"AIRIS_JWT_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration is valid: 1 pipeline")
