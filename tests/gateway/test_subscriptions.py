"""Subscriptions over websockets with gql, in both subprotocols (`graphql-ws`, the legacy Apollo one,
and `graphql-transport-ws`): `logTail` and `newTraces` deliver what is written after they start,
matching their filter, and only the subscriber's tenant's telemetry.

Each test waits (bounded) until the service's live stream behind the subscription has polled once,
so what it writes next is new to the stream; then it writes with the exporter's write path into the
stack's database and waits (bounded) for the event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError
from websockets.exceptions import InvalidStatus

from collector.pdata import Batch
from exporters.clickhouse import logs, traces
from tests.gateway.conftest import (
    WAIT,
    Stack,
    polling,
    start_stack,
    stop_stack,
    telemetry_database,
    token,
    ws_session,
)
from tests.gateway.telemetry import new_log, new_trace

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROTOCOLS = ["graphql-ws", "graphql-transport-ws"]
LOG_TAIL = """subscription($filter: LogFilter) {
  logTail(filter: $filter) { body service severityText severityNumber traceId resource } }"""
NEW_TRACES = """subscription($filter: TraceFilter) {
  newTraces(filter: $filter) { traceId rootService rootName spanCount errorCount spans { name service kind } } }"""


def unique(word: str) -> str:
    return f"{word}{uuid.uuid4().hex[:12]}"


async def write_log(stack: Stack, tenant: str, body: str, service: str = "frontend") -> None:
    await logs.write(stack.backend, "otel_logs", Batch.from_otlp(new_log(tenant, body, service)))


async def write_trace(stack: Stack, tenant: str, trace: str, service: str) -> None:
    await traces.write(stack.backend, "otel_traces", Batch.from_otlp(new_trace(tenant, trace, service)))


def log_tails(stack: Stack) -> Callable[[], Collection[Any]]:
    return lambda: stack.services["logs_service"].hub.streams


def live_streams(stack: Stack) -> Callable[[], Collection[Any]]:
    return lambda: stack.services["traces_service"].hub.streams


async def first_event(
    session: AsyncClientSession,
    request: GraphQLRequest,
    streams: Callable[[], Collection[Any]],
    write: Callable[[], Awaitable[None]],
) -> dict[str, Any]:
    """The first event of subscription `request`, after `write` ran once its live stream polled."""
    before = set(streams())
    events: AsyncGenerator[dict[str, Any], None] = session.subscribe(request)
    first = asyncio.ensure_future(anext(events))
    try:
        await polling(streams, before)
        await write()
        async with asyncio.timeout(WAIT):
            return await first
    finally:
        first.cancel()
        await events.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_log_tail_delivers_a_matching_record_written_after_it_started(
    open_stack: Stack, protocol: str
) -> None:
    word = unique("tail")
    request = GraphQLRequest(LOG_TAIL, variable_values={"filter": {"query": word, "services": ["payments"]}})

    async def write() -> None:
        # another service first: the tail skips it
        await write_log(open_stack, "acme", f"not for this tail {word}", service="frontend")
        await write_log(open_stack, "acme", f"payment {word} accepted", service="payments")

    async with ws_session(open_stack, protocol) as session:
        record = await first_event(session, request, log_tails(open_stack), write)
    assert record == {
        "logTail": {
            "body": f"payment {word} accepted",
            "service": "payments",
            "severityText": "INFO",
            "severityNumber": 9,
            "traceId": "",
            "resource": {"service.name": "payments", "tenant.id": "acme"},
        }
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_log_tail_delivers_records_in_the_order_they_happened(open_stack: Stack, protocol: str) -> None:
    word = unique("ordered")
    request = GraphQLRequest(LOG_TAIL, variable_values={"filter": {"query": word}})
    before = set(log_tails(open_stack)())
    async with ws_session(open_stack, protocol) as session:
        events = session.subscribe(request)
        received: list[str] = []

        async def collect() -> None:
            async for event in events:
                received.append(event["logTail"]["body"])
                if len(received) == 3:
                    return

        collecting = asyncio.ensure_future(collect())
        try:
            await polling(log_tails(open_stack), before)
            for n in range(3):
                await write_log(open_stack, "globex", f"{word} step {n}")
            async with asyncio.timeout(WAIT):
                await collecting
        finally:
            collecting.cancel()
            await events.aclose()
    assert received == [f"{word} step {n}" for n in range(3)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_new_traces_delivers_a_trace_of_the_service_started_after_it(
    open_stack: Stack, protocol: str
) -> None:
    service = unique("checkout-")
    trace = uuid.uuid4().hex
    request = GraphQLRequest(NEW_TRACES, variable_values={"filter": {"service": service}})

    async def write() -> None:
        await write_trace(open_stack, "acme", uuid.uuid4().hex, unique("other-"))  # another service
        await write_trace(open_stack, "acme", trace, service)

    async with ws_session(open_stack, protocol) as session:
        event = await first_event(session, request, live_streams(open_stack), write)
    assert event == {
        "newTraces": {
            "traceId": trace,
            "rootService": service,
            "rootName": "POST /checkout",
            "spanCount": 1,
            "errorCount": 0,
            "spans": [{"name": "POST /checkout", "service": service, "kind": "SERVER"}],
        }
    }


async def test_an_acme_subscriber_never_receives_globex_records(secured_stack: Stack) -> None:
    word = unique("isolated")
    request = GraphQLRequest(LOG_TAIL, variable_values={"filter": {"query": word}})

    async def write() -> None:
        # written first: it would come first if it leaked
        await write_log(secured_stack, "globex", f"globex {word}")
        await write_log(secured_stack, "acme", f"acme {word}")

    headers = {"Authorization": f"Bearer {token('acme')}"}
    async with ws_session(secured_stack, "graphql-transport-ws", headers) as session:
        record = await first_event(session, request, log_tails(secured_stack), write)
    assert record["logTail"]["body"] == f"acme {word}"
    assert record["logTail"]["resource"]["tenant.id"] == "acme"


async def test_an_acme_subscriber_never_receives_globex_traces(secured_stack: Stack) -> None:
    service = unique("isolated-")
    mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
    request = GraphQLRequest(NEW_TRACES, variable_values={"filter": {"service": service}})

    async def write() -> None:
        await write_trace(secured_stack, "globex", theirs, service)
        await write_trace(secured_stack, "acme", mine, service)

    headers = {"Authorization": f"Bearer {token('acme')}"}
    async with ws_session(secured_stack, "graphql-ws", headers) as session:
        event = await first_event(session, request, live_streams(secured_stack), write)
    assert event["newTraces"]["traceId"] == mine


async def test_an_admin_narrowed_to_globex_tails_only_globex(secured_stack: Stack) -> None:
    word = unique("narrowed")
    request = GraphQLRequest(LOG_TAIL, variable_values={"filter": {"query": word}})

    async def write() -> None:
        await write_log(secured_stack, "acme", f"acme {word}")
        await write_log(secured_stack, "globex", f"globex {word}")

    headers = {"Authorization": f"Bearer {token(roles=['admin'])}", "X-Scope-OrgID": "globex"}
    async with ws_session(secured_stack, "graphql-transport-ws", headers) as session:
        record = await first_event(session, request, log_tails(secured_stack), write)
    assert record["logTail"]["body"] == f"globex {word}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_websocket_without_a_token_is_refused_at_the_handshake(
    secured_stack: Stack, protocol: str
) -> None:
    with pytest.raises(TransportConnectionFailed) as raised:
        async with ws_session(secured_stack, protocol):
            pass
    refusal = raised.value.__cause__
    assert isinstance(refusal, InvalidStatus)
    assert refusal.response.status_code == 401
    assert json.loads(refusal.response.body or b"{}") == {
        "errors": [
            {
                "message": "no bearer token in the Authorization header",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }


async def test_a_bad_subscription_filter_is_a_query_error(open_stack: Stack) -> None:
    request = GraphQLRequest(NEW_TRACES, variable_values={"filter": {"minDurationMs": -5}})
    async with ws_session(open_stack, "graphql-transport-ws") as session:
        with pytest.raises(TransportQueryError) as raised:
            async with asyncio.timeout(WAIT):
                async for _event in session.subscribe(request):
                    pass
    assert raised.value.errors is not None
    [error] = raised.value.errors
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "min_duration" in error["message"]


async def test_a_live_tail_the_service_ends_with_an_error_fails_the_subscription() -> None:
    async with telemetry_database() as backend:
        stack = await start_stack(backend, authenticated=False)
        try:
            request = GraphQLRequest(LOG_TAIL, variable_values={"filter": {"query": unique("doomed")}})
            before = set(log_tails(stack)())
            async with ws_session(stack, "graphql-transport-ws") as session:
                events = session.subscribe(request)
                first = asyncio.ensure_future(anext(events))
                try:
                    await polling(log_tails(stack), before)
                    # the tail's next poll fails
                    await backend.command(f"DROP TABLE `{backend.database}`.otel_logs SYNC")
                    with pytest.raises(TransportQueryError) as raised:
                        async with asyncio.timeout(WAIT):
                            await first
                finally:
                    first.cancel()
                    await events.aclose()
        finally:
            await stop_stack(stack)
    # The service's own message (its SQL) stays in the gateway's log.
    assert raised.value.errors == [
        {
            "message": "the logs service is unavailable: the live stream failed; subscribe again",
            "extensions": {"code": "UPSTREAM_UNAVAILABLE", "service": "logs"},
        }
    ]


async def test_queries_run_over_graphql_transport_ws(open_stack: Stack) -> None:
    async with ws_session(open_stack, "graphql-transport-ws") as session:
        data = await session.execute(GraphQLRequest("{ me { subject } metricNames { name } }"))
    assert data == {"me": {"subject": "anonymous"}, "metricNames": [{"name": "queue.depth"}]}


async def test_a_query_over_the_legacy_graphql_ws_is_bad_user_input(open_stack: Stack) -> None:
    async with ws_session(open_stack, "graphql-ws") as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(GraphQLRequest("{ me { subject } }"))
    assert raised.value.errors == [
        {
            "message": "queries are not allowed over graphql-ws; send them over HTTP or graphql-transport-ws",
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
