"""ServiceClient against real starlette apps, in-process and over HTTP (127.0.0.1, port 0) alike."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from backend.logs.sse import EventStream, comment, event
from collector.httpserver import HttpServer
from gateway.errors import ErrorCode, GatewayError, code_for_status
from gateway.resilience import (
    BreakerState,
    BulkheadConfig,
    CircuitBreakerConfig,
    Resilience,
    ResilienceConfig,
)
from gateway.upstream import ServiceClient, SseEvent, SseParser, StreamingASGITransport
from tests.conftest import free_port


@dataclass
class Upstream:
    """What the test service saw."""

    calls: Counter[str] = field(default_factory=Counter)
    running: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[str] = field(default_factory=list)


def build_app(seen: Upstream) -> Starlette:
    async def echo(request: Request) -> Response:
        seen.calls["echo"] += 1
        return JSONResponse({"params": request.query_params.multi_items(), "headers": dict(request.headers)})

    async def form(request: Request) -> Response:
        seen.calls["form"] += 1
        return JSONResponse({"form": parse_qsl((await request.body()).decode())})

    async def bad(_request: Request) -> Response:
        return JSONResponse({"error": "start: 'soon' is not a time"}, status_code=400)

    async def missing(_request: Request) -> Response:
        return JSONResponse({"error": "trace 00ff not found"}, status_code=404)

    async def busy(_request: Request) -> Response:
        seen.calls["busy"] += 1
        return JSONResponse(
            {"error": "too many live tails (16)"}, status_code=429, headers={"Retry-After": "5"}
        )

    async def flaky(_request: Request) -> Response:
        seen.calls["flaky"] += 1
        if seen.calls["flaky"] <= 2:
            return JSONResponse({"error": "ClickHouse at 10.0.0.7:9000 timed out"}, status_code=503)
        return JSONResponse({"ok": True, "calls": seen.calls["flaky"]})

    async def down(_request: Request) -> Response:
        seen.calls["down"] += 1
        return JSONResponse({"error": "pool exhausted at db.internal"}, status_code=503)

    async def crash(_request: Request) -> Response:
        seen.calls["crash"] += 1
        raise RuntimeError("password=hunter2 in /srv/secret.py")

    async def not_json(_request: Request) -> Response:
        return PlainTextResponse("hello")

    async def hang(_request: Request) -> Response:
        seen.calls["hang"] += 1
        seen.running += 1
        try:
            await seen.release.wait()
        finally:
            seen.running -= 1
        return JSONResponse({"released": True})

    async def endless() -> AsyncIterator[bytes]:
        try:
            n = 0
            while True:
                yield event(json.dumps({"n": n}), id=str(n), name="log")
                yield comment("keep-alive")
                n += 1
                await asyncio.sleep(0.001)
        finally:
            seen.stream_closed.set()

    class Events:
        """A raw ASGI endpoint, to record the messages the app receives."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.calls["events"] += 1

            async def recording_receive() -> Message:
                message = await receive()
                seen.received.append(message["type"])
                return message

            await EventStream(endless())(scope, recording_receive, send)

    async def raw_sse(_request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for chunk in [
                b": hello\n\n",
                b"retry: 3000\nevent: sp",
                b"an\r\nid: 7\r\ndata: line one\r\ndata:line two\r\n\r\n",
                b'data: {"n": 1}\n\n',
                b"data\n\n",
                b"data: never dispatched",
            ]:
                yield chunk

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/echo", echo),
            Route("/form", form, methods=["POST"]),
            Route("/bad", bad),
            Route("/missing", missing),
            Route("/busy", busy),
            Route("/flaky", flaky, methods=["GET", "POST"]),
            Route("/down", down),
            Route("/crash", crash),
            Route("/not-json", not_json),
            Route("/hang", hang),
            Route("/events", Events()),
            Route("/raw-sse", raw_sse),
        ]
    )


def state_of(client: ServiceClient) -> BreakerState:
    return client.resilience.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Service:
    """The test service and a way to make clients of it in the mode under test."""

    mode: str
    seen: Upstream
    app: Starlette
    port: int
    clock: FakeClock = field(default_factory=FakeClock)
    sleep: RecordingSleep = field(default_factory=RecordingSleep)
    clients: list[ServiceClient] = field(default_factory=list)

    def client(self, config: ResilienceConfig | None = None) -> ServiceClient:
        resilience = Resilience(
            config or ResilienceConfig(), "traces", clock=self.clock, sleep=self.sleep, random=lambda: 1.0
        )
        if self.mode == "in_process":
            client = ServiceClient.in_process("traces", self.app, resilience)
        else:
            client = ServiceClient.over_http("traces", f"127.0.0.1:{self.port}", resilience)
        self.clients.append(client)
        return client


@pytest.fixture(params=["in_process", "over_http"])
async def service(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    seen = Upstream()
    app = build_app(seen)
    server = None
    if request.param == "over_http":
        server = HttpServer(app, "127.0.0.1:0", "test traces service")
        await server.start()
    result = Service(request.param, seen, app, server.port if server else 0)
    try:
        yield result
    finally:
        seen.release.set()
        for client in result.clients:
            await client.aclose()
        if server is not None:
            await server.shutdown()


async def test_json_round_trip_keeps_repeated_params(service: Service) -> None:
    client = service.client()
    answer = await client.get_json("/echo", [("service", "api"), ("service", "db"), ("q", "a b&c")])
    assert answer["params"] == [["service", "api"], ["service", "db"], ["q", "a b&c"]]
    answer = await client.get_json("/echo", {"limit": "20"})
    assert answer["params"] == [["limit", "20"]]


async def test_only_allowed_headers_are_forwarded(service: Service) -> None:
    client = service.client()
    answer = await client.get_json(
        "/echo",
        headers={
            "Authorization": "Bearer t0k",
            "X-Scope-OrgID": "acme",
            "Cookie": "session=1",
            "X-Other": "x",
        },
    )
    headers = answer["headers"]
    assert (headers["authorization"], headers["x-scope-orgid"]) == ("Bearer t0k", "acme")
    assert "cookie" not in headers
    assert "x-other" not in headers
    assert headers["accept"] == "application/json"


async def test_a_form_post_keeps_repeated_keys(service: Service) -> None:
    answer = await service.client().post_form(
        "/form", [("match[]", "up"), ("match[]", "down"), ("time", "1.5")]
    )
    assert answer == {"form": [["match[]", "up"], ["match[]", "down"], ["time", "1.5"]]}


async def test_a_bad_request_carries_the_services_message(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        await service.client().get_json("/bad")
    assert raised.value.code is ErrorCode.BAD_USER_INPUT
    assert raised.value.message == "start: 'soon' is not a time"
    assert raised.value.extensions() == {"code": "BAD_USER_INPUT", "service": "traces"}


async def test_not_found_is_an_error_or_none(service: Service) -> None:
    client = service.client()
    with pytest.raises(GatewayError) as raised:
        await client.get_json("/missing")
    assert (raised.value.code, raised.value.message) == (ErrorCode.NOT_FOUND, "trace 00ff not found")
    assert await client.get_json("/missing", not_found_none=True) is None
    assert state_of(client) is BreakerState.CLOSED


async def test_rate_limited_carries_retry_after_and_is_not_retried(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        await service.client().get_json("/busy")
    assert raised.value.code is ErrorCode.RATE_LIMITED
    assert (raised.value.message, raised.value.retry_after) == ("too many live tails (16)", 5.0)
    assert raised.value.extensions()["retryAfter"] == 5
    assert service.seen.calls["busy"] == 1


async def test_a_service_failing_twice_is_answered_after_two_retries(service: Service) -> None:
    answer = await service.client().get_json("/flaky")
    assert answer == {"ok": True, "calls": 3}
    assert service.seen.calls["flaky"] == 3
    assert service.sleep.waits == pytest.approx([0.05, 0.1])


async def test_a_non_idempotent_call_is_not_retried(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        await service.client().post_form("/flaky", {"query": "up"}, idempotent=False)
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert raised.value.message == "the traces service is unavailable"  # not the service's internals
    assert service.seen.calls["flaky"] == 1
    assert service.sleep.waits == []


async def test_a_crash_is_unavailable_without_internals_and_not_retried(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        await service.client().get_json("/crash")
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert str(raised.value) == "the traces service is unavailable"
    assert service.seen.calls["crash"] == 1


async def test_an_answer_that_is_not_json_is_an_internal_error(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        await service.client().get_json("/not-json")
    assert raised.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert raised.value.message == "the traces service sent an unexpected answer"


async def test_the_breaker_opens_and_rejects_without_calling_then_closes(service: Service) -> None:
    config = ResilienceConfig(
        retries=0,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, open_duration=timedelta(seconds=10)),
    )
    client = service.client(config)
    for _ in range(3):
        with pytest.raises(GatewayError):
            await client.get_json("/down")
    assert state_of(client) is BreakerState.OPEN
    with pytest.raises(GatewayError) as raised:
        await client.get_json("/echo")
    assert raised.value.message == "the traces service is unavailable: circuit open, retry in 10s"
    assert (service.seen.calls["down"], service.seen.calls["echo"]) == (3, 0)

    service.clock.now += 10
    assert state_of(client) is BreakerState.HALF_OPEN
    assert (await client.get_json("/echo", {"a": "1"}))["params"] == [["a", "1"]]
    assert state_of(client) is BreakerState.CLOSED


async def test_the_bulkhead_rejects_past_running_and_waiting(service: Service) -> None:
    client = service.client(ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1, max_waiting=1)))
    calls = [asyncio.create_task(client.get_json("/hang")) for _ in range(2)]
    while service.seen.running < 1 or client.resilience.bulkhead.waiting < 1:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    with pytest.raises(GatewayError) as raised:
        await client.get_json("/hang")
    assert raised.value.message == "the traces service is unavailable: too many requests in flight"
    assert service.seen.calls["hang"] == 1
    service.seen.release.set()
    assert await asyncio.gather(*calls) == [{"released": True}, {"released": True}]
    assert service.seen.calls["hang"] == 2


async def test_an_attempt_hanging_past_the_timeout_is_unavailable(service: Service) -> None:
    client = service.client(ResilienceConfig(timeout=timedelta(milliseconds=100), retries=1))
    with pytest.raises(GatewayError) as raised:
        await client.get_json("/hang")
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert raised.value.message == "the traces service is unavailable: no answer within 100ms"
    assert len(service.sleep.waits) == 1  # a timeout is retried
    if service.mode == "in_process":
        assert service.seen.running == 0  # the app's task was cancelled with the attempt


async def test_a_dead_endpoint_is_unavailable_naming_the_service() -> None:
    sleep = RecordingSleep()
    resilience = Resilience(ResilienceConfig(), "traces", sleep=sleep)
    client = ServiceClient.over_http("traces", f"127.0.0.1:{free_port()}", resilience)
    try:
        with pytest.raises(GatewayError) as raised:
            await client.get_json("/v1/traces")
    finally:
        await client.aclose()
    assert raised.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert str(raised.value) == "the traces service is unavailable"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert len(sleep.waits) == 2  # connect errors are retried


async def test_an_endless_event_stream_is_read_and_closed(service: Service) -> None:
    client = service.client()
    async with client.stream_events("/events", {"level": "error"}, {"authorization": "Bearer t"}) as events:
        got: list[SseEvent] = []
        async for item in events:
            got.append(item)
            if len(got) == 3:
                break
        assert events.last_event_id == "2"
    assert [(e.event, e.id, e.json()) for e in got] == [
        ("log", "0", {"n": 0}),
        ("log", "1", {"n": 1}),
        ("log", "2", {"n": 2}),
    ]
    await asyncio.wait_for(service.seen.stream_closed.wait(), 10)
    assert service.seen.received[-1] == "http.disconnect"
    assert service.seen.calls["events"] == 1


async def test_event_stream_framing_across_chunks(service: Service) -> None:
    async with service.client().stream_events("/raw-sse") as events:
        got = [item async for item in events]
    assert got == [
        SseEvent("span", "line one\nline two", "7"),
        SseEvent("message", '{"n": 1}', "7"),
        SseEvent("message", "", "7"),
    ]


async def test_a_stream_refused_before_it_starts_is_mapped(service: Service) -> None:
    with pytest.raises(GatewayError) as raised:
        async with service.client().stream_events("/busy"):
            pytest.fail("the stream must not open")
    assert (raised.value.code, raised.value.retry_after) == (ErrorCode.RATE_LIMITED, 5.0)
    with pytest.raises(GatewayError) as raised:
        async with service.client().stream_events("/echo"):
            pytest.fail("a JSON answer is not a stream")
    assert raised.value.code is ErrorCode.INTERNAL_SERVER_ERROR


def test_the_parser_skips_comments_and_keeps_retry_and_ids() -> None:
    parser = SseParser()
    lines = [": keep-alive", "", "retry: 1500", "id: 4", "data: a", "", "data: b", ""]
    assert [e for line in lines if (e := parser.feed(line)) is not None] == [
        SseEvent("message", "a", "4"),
        SseEvent("message", "b", "4"),
    ]
    assert (parser.retry, parser.last_event_id) == (1500, "4")


async def test_the_in_process_transport_answers_500_for_an_app_failing_before_its_response() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("no response at all")

    async with httpx.AsyncClient(transport=StreamingASGITransport(broken), base_url="http://svc") as client:
        response = await client.get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


async def test_the_in_process_transport_passes_the_request_body_and_scope() -> None:
    scopes: list[dict[str, Any]] = []

    async def echo_body(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(dict(scope))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send(
            {"type": "http.response.start", "status": 201, "headers": [(b"x-len", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body[::-1]})

    async def upload() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async with httpx.AsyncClient(
        transport=StreamingASGITransport(echo_body), base_url="http://svc:8003"
    ) as client:
        response = await client.post("/p%20q?x=1", content=upload())
    assert (response.status_code, response.headers["x-len"], response.content) == (201, "6", b"fedcba")
    scope = scopes[0]
    assert (scope["path"], scope["query_string"], scope["client"], scope["server"]) == (
        "/p q",
        b"x=1",
        ("127.0.0.1", 0),
        ("svc", 8003),
    )


def codes() -> Iterator[tuple[int, ErrorCode]]:
    yield from [
        (400, ErrorCode.BAD_USER_INPUT),
        (422, ErrorCode.BAD_USER_INPUT),
        (401, ErrorCode.UNAUTHENTICATED),
        (403, ErrorCode.FORBIDDEN),
        (404, ErrorCode.NOT_FOUND),
        (429, ErrorCode.RATE_LIMITED),
        (500, ErrorCode.UPSTREAM_UNAVAILABLE),
        (503, ErrorCode.UPSTREAM_UNAVAILABLE),
    ]


@pytest.mark.parametrize(("status", "code"), list(codes()))
def test_code_for_status(status: int, code: ErrorCode) -> None:
    assert code_for_status(status) is code


async def test_the_in_process_transport_lets_background_work_finish_after_the_response() -> None:
    go_on, done = asyncio.Event(), asyncio.Event()

    async def later() -> None:
        await go_on.wait()
        done.set()

    async def with_background(_request: Request) -> Response:
        return JSONResponse({"queued": True}, background=BackgroundTask(later))

    app = Starlette(routes=[Route("/", with_background)])
    transport = StreamingASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/")).json() == {"queued": True}  # the background work still waits
        go_on.set()
        await asyncio.wait_for(done.wait(), 10)
