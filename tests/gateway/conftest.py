"""A running stack for the gateway's tests: chDB with two tenants' telemetry, the three services and
the gateway, all in this process (the all-in-one shape), with or without the `auth` extension.

`Stack.graphql()` posts an operation to the gateway through its ASGI app; tests that go through real
sockets use `http_session` (gql over aiohttp) and `ws_session` (gql over websockets) on
`Stack.gateway.port`. The services' live streams poll every `LIVE_POLL`, so subscriptions answer fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest_asyncio
from gql import Client
from gql.client import AsyncClientSession
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

from backend.clickhouse.backend import ClickHouseBackend
from backend.logs.config import LogsServiceConfig
from backend.logs.service import LogsService
from backend.metrics.config import MetricsServiceConfig
from backend.metrics.service import MetricsService
from backend.traces.config import TracesServiceConfig
from backend.traces.service import TracesService
from collector.auth.config import AuthConfig, JwtConfig, RateLimitConfig
from collector.auth.extension import AuthExtension
from collector.auth.setting import AuthSetting
from collector.component import Component, ComponentId
from collector.pdata import Batch
from exporters.clickhouse import logs, metrics, traces
from exporters.clickhouse.metrics import MetricsTables
from gateway.config import GatewayConfig
from gateway.extension import GraphQLGateway
from tests.backend.conftest import (
    BackendHost,
    chdb_folder,
    extension_settings,
    fresh_backend,
)
from tests.gateway import telemetry

SECRET = "gateway-tests-secret-of-32-bytes!"
LIVE_POLL = timedelta(milliseconds=100)
"""How often the services' live tails and live traces streams poll in the test stacks."""
WAIT = 20.0
"""The most seconds a test waits for something to arrive (a bound, never an assertion)."""


def token(tenant: str | None = None, roles: list[str] | None = None, subject: str = "tester") -> str:
    """An HS256 JWT for the stack's `auth` extension."""
    claims: dict[str, Any] = {"sub": subject, "roles": roles or ["viewer"]}
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, SECRET, algorithm="HS256")


@dataclass
class Stack:
    """The started services and gateway over one database."""

    gateway: GraphQLGateway
    services: dict[str, Any]
    http: httpx.AsyncClient
    backend: ClickHouseBackend
    components: list[Component] = field(default_factory=list)

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """The gateway's HTTP response to one operation."""
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
        )

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The gateway's JSON answer to one operation, with the HTTP status under "status"."""
        response = await self.post(query, variables, headers)
        answer: dict[str, Any] = response.json()
        answer["status"] = response.status_code
        return answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}/graphql"


@contextlib.asynccontextmanager
async def http_session(
    stack: Stack, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session posting to the gateway's real socket (aiohttp)."""
    transport = AIOHTTPTransport(url=stack.url, headers=headers or {})
    async with Client(transport=transport, execute_timeout=WAIT) as session:
        yield session


@contextlib.asynccontextmanager
async def ws_session(
    stack: Stack, subprotocol: str, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session over a websocket to the gateway speaking `subprotocol` (graphql-ws or graphql-transport-ws)."""
    transport = WebsocketsTransport(
        url=stack.url.replace("http://", "ws://"), headers=headers or {}, subprotocols=[subprotocol]
    )
    async with Client(transport=transport, execute_timeout=WAIT) as session:
        assert transport.subprotocol == subprotocol
        yield session


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most WAIT seconds) until `condition()` holds."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():  # noqa: ASYNC110 (state of another component, which sets no event)
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


async def polling(streams: Callable[[], Collection[Any]], before: Collection[Any]) -> None:
    """Wait until a live stream not among `before` has polled once (so it has marked what it skips)."""
    await until(
        lambda: any(s not in before and s.polls >= 1 for s in streams()), "the live stream to start polling"
    )


async def write_telemetry(backend: ClickHouseBackend) -> None:
    """Both tenants' traces, logs and metrics."""
    for tenant in telemetry.TENANTS:
        await traces.write(backend, "otel_traces", Batch.from_otlp(telemetry.traces(tenant)))
        await logs.write(backend, "otel_logs", Batch.from_otlp(telemetry.logs(tenant)))
        await metrics.write(backend, MetricsTables(), Batch.from_otlp(telemetry.metrics(tenant)))


async def start_stack(
    backend: ClickHouseBackend, authenticated: bool, rate_limit: RateLimitConfig | None = None, **gateway: Any
) -> Stack:
    """The services and gateway over `backend`; with `authenticated`, an `auth` extension checks callers
    (and takes each request from `rate_limit`'s buckets when given). `gateway` overrides GatewayConfig keys."""
    extensions: dict[ComponentId, Component] = {}
    started: list[Component] = []
    setting = AuthSetting(authenticator="none")
    if authenticated:
        auth_config = AuthConfig(jwt=JwtConfig(secret=SECRET), rate_limit=rate_limit)
        auth_config.validate()
        auth = AuthExtension(extension_settings("auth"), auth_config)
        extensions[ComponentId("auth")] = auth
        setting = AuthSetting(authenticator="auth")
    host = BackendHost(backend, extensions)
    for component in extensions.values():
        await component.start(host)
        started.append(component)
    common: dict[str, Any] = {"auth": setting, "endpoint": "127.0.0.1:0", "max_range": timedelta(days=7)}
    services: dict[str, Any] = {
        "traces_service": TracesService(
            extension_settings("traces_service"), TracesServiceConfig(**common, live_poll_interval=LIVE_POLL)
        ),
        "logs_service": LogsService(
            extension_settings("logs_service"), LogsServiceConfig(**common, tail_poll_interval=LIVE_POLL)
        ),
        "metrics_service": MetricsService(
            extension_settings("metrics_service"), MetricsServiceConfig(**common)
        ),
    }
    for name, service in services.items():
        await service.start(host)
        started.append(service)
        host._extensions[ComponentId(name)] = service
    config = GatewayConfig(endpoint="127.0.0.1:0", auth=setting, **gateway)
    config.validate()
    gw = GraphQLGateway(extension_settings("graphql_gateway"), config)
    await gw.start(host)
    started.append(gw)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gw.asgi), base_url="http://gateway")
    return Stack(gateway=gw, services=services, http=http, backend=backend, components=started)


async def stop_stack(stack: Stack) -> None:
    await stack.http.aclose()
    for component in reversed(stack.components):
        await component.shutdown()


@contextlib.asynccontextmanager
async def telemetry_database() -> AsyncIterator[ClickHouseBackend]:
    """A new database holding both tenants' telemetry, dropped afterwards."""
    async with fresh_backend("gateway") as backend:
        await write_telemetry(backend)
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def telemetry_backend() -> AsyncIterator[ClickHouseBackend]:
    """A database holding both tenants' telemetry, one per test module (only test_subscriptions adds to it)."""
    async with telemetry_database() as backend:
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def open_stack(telemetry_backend: ClickHouseBackend) -> AsyncIterator[Stack]:
    """The stack with authentication off (`authenticator: none`)."""
    stack = await start_stack(telemetry_backend, authenticated=False)
    try:
        yield stack
    finally:
        await stop_stack(stack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured_stack(telemetry_backend: ClickHouseBackend) -> AsyncIterator[Stack]:
    """The stack with the `auth` extension (HS256 JWTs from `token`)."""
    stack = await start_stack(telemetry_backend, authenticated=True)
    try:
        yield stack
    finally:
        await stop_stack(stack)


logging.getLogger("airis.gateway").setLevel(logging.INFO)

__all__ = [
    "LIVE_POLL",
    "SECRET",
    "WAIT",
    "Stack",
    "chdb_folder",
    "http_session",
    "polling",
    "start_stack",
    "stop_stack",
    "telemetry_database",
    "token",
    "until",
    "write_telemetry",
    "ws_session",
]
