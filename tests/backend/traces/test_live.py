"""GET /v1/traces/live over real HTTP: traces that start matching arrive once each, as SSE events.

Spans are written through the clickhouse exporter. Every test waits with a deadline (a liveness
bound, not a measurement) and proves that something did *not* arrive by ordering: a later marker
trace arrives and the unwanted one never came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import NANOS, BadRequestError, now_ns
from backend.traces.config import TracesServiceConfig
from backend.traces.live import parse_event_id
from backend.traces.service import TracesService
from collector.errors import ConfigError
from collector.pdata import Batch
from exporters.clickhouse import traces
from tests.backend.conftest import (
    BackendHost,
    extension_settings,
    fresh_backend,
    no_auth,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
DEADLINE_S = 10.0
"""How long a test waits for an event before failing (the service polls every 50 ms)."""
MS = 1_000_000
SERVER, CLIENT = 2, 3


def live_config(**changes: Any) -> TracesServiceConfig:
    """The service's config in these tests: fast polls and keep-alives, two streams at most."""
    config = TracesServiceConfig(
        endpoint="127.0.0.1:0",
        auth=no_auth(),
        live_poll_interval=timedelta(milliseconds=50),
        live_keepalive=timedelta(milliseconds=100),
        live_max_streams=2,
    )
    for name, value in changes.items():
        setattr(config, name, value)
    config.validate()
    return config


@dataclass
class NewSpan:
    """One span to write."""

    trace_id: str
    service: str
    name: str = "GET /orders"
    span_id: str = field(default_factory=lambda: secrets.token_hex(8))
    parent: str = ""
    kind: int = SERVER
    start_ns: int = field(default_factory=now_ns)
    duration_ns: int = 5 * MS
    error: bool = False


def new_trace_id() -> str:
    return secrets.token_hex(16)


async def write(backend: ClickHouseBackend, spans: Iterable[NewSpan]) -> None:
    """One OTLP request (a resource per service) through the clickhouse exporter's write path."""
    by_service: dict[str, list[Span]] = {}
    for s in spans:
        by_service.setdefault(s.service, []).append(
            Span(
                trace_id=bytes.fromhex(s.trace_id),
                span_id=bytes.fromhex(s.span_id),
                parent_span_id=bytes.fromhex(s.parent),
                name=s.name,
                kind=s.kind,  # type: ignore[arg-type]
                start_time_unix_nano=s.start_ns,
                end_time_unix_nano=s.start_ns + s.duration_ns,
                status=Status(code=2 if s.error else 0),  # type: ignore[arg-type]
            )
        )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={  # type: ignore[arg-type]
                    "attributes": [KeyValue(key="service.name", value=AnyValue(string_value=service))]
                },
                scope_spans=[ScopeSpans(spans=group)],
            )
            for service, group in by_service.items()
        ]
    )
    await traces.write(backend, "otel_traces", Batch.from_otlp(request))


class Events:
    """The SSE events of one open stream, parsed as they come (a task reads the lines, so a test's
    deadline never cancels a read of the HTTP stream itself)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        try:
            async for line in response.aiter_lines():
                self.lines.put_nowait(line)
        finally:
            self.lines.put_nowait(None)

    async def next(self) -> dict[str, str]:
        """The next event or comment ({"comment": text}); fails after DEADLINE_S."""
        fields: dict[str, str] = {}
        while True:
            async with asyncio.timeout(DEADLINE_S):
                line = await self.lines.get()
            if line is None:
                raise EOFError("the stream ended")
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")

    async def trace(self) -> dict[str, Any]:
        """The next trace event's summary, with its event id under "event_id" (comments and the retry
        hint skipped; any other event fails the test)."""
        while True:
            found = await self.next()
            if "data" in found:
                assert found["event"] == "trace", found
                data: dict[str, Any] = json.loads(found["data"])
                data["event_id"] = found["id"]
                return data

    async def idle(self) -> None:
        """Wait for a keep-alive comment: the stream has primed and polled at least once."""
        while "comment" not in await self.next():
            pass


@asynccontextmanager
async def live(port: int, *params: tuple[str, str], last_event_id: str = "") -> AsyncIterator[Events]:
    """An open live traces stream of the service on `port`."""
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE_S) as client,
        client.stream("GET", "/v1/traces/live", params=list(params), headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = Events(response)
        try:
            yield events
        finally:
            events.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events.reader


@asynccontextmanager
async def own_service(
    backend: ClickHouseBackend, config: TracesServiceConfig
) -> AsyncIterator[TracesService]:
    """A trace service of its own over `backend`."""
    service = TracesService(extension_settings("traces_service"), config)
    await service.start(BackendHost(backend))
    try:
        yield service
    finally:
        await service.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend() -> AsyncIterator[ClickHouseBackend]:
    """A started backend on a fresh database, shared by this module (each test has its own services)."""
    async with fresh_backend("live") as backend:
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(backend: ClickHouseBackend) -> AsyncIterator[TracesService]:
    """A trace service over `backend`, shared by this module."""
    async with own_service(backend, live_config()) as started:
        yield started


async def test_new_matching_traces_arrive_once_with_their_summary_and_others_do_not(
    backend: ClickHouseBackend, service: TracesService
) -> None:
    before = new_trace_id()
    await write(backend, [NewSpan(before, "live1")])
    async with live(service.port, ("service", "live1"), ("kind", "server")) as events:
        assert await events.next() == {"retry": "1000"}
        await events.idle()
        wanted, elsewhere, client_only = new_trace_id(), new_trace_id(), new_trace_id()
        root = NewSpan(wanted, "live1", "POST /checkout", duration_ns=100 * MS)
        await write(
            backend,
            [
                root,
                NewSpan(
                    wanted,
                    "payment",
                    "charge",
                    parent=root.span_id,
                    kind=CLIENT,
                    start_ns=root.start_ns + 10 * MS,
                    duration_ns=20 * MS,
                    error=True,
                ),
                NewSpan(elsewhere, "live1-other"),
                NewSpan(client_only, "live1", kind=CLIENT),
                NewSpan(before, "live1", "a later span of a trace matching before the stream"),
            ],
        )
        got = await events.trace()
        assert int(got.pop("event_id")) >= root.start_ns
        assert got == {
            "trace_id": wanted,
            "root_service": "live1",
            "root_name": "POST /checkout",
            "start_time_unix_nano": str(root.start_ns),
            "duration_ns": 100 * MS,
            "span_count": 2,
            "error_count": 1,
            "services": ["live1", "payment"],
        }
        marker = new_trace_id()
        await write(backend, [NewSpan(marker, "live1", "marker")])
        assert (await events.trace())["trace_id"] == marker


async def test_more_spans_of_a_sent_trace_do_not_send_it_again(
    backend: ClickHouseBackend, service: TracesService
) -> None:
    async with live(service.port, ("service", "live2")) as events:
        await events.idle()
        trace_id = new_trace_id()
        root = NewSpan(trace_id, "live2", "root")
        await write(backend, [root])
        assert (await events.trace())["span_count"] == 1
        for n in range(3):  # more matching spans, each in its own insert, polled between
            await write(backend, [NewSpan(trace_id, "live2", f"child {n}", parent=root.span_id)])
            await events.idle()
        marker = new_trace_id()
        await write(
            backend, [NewSpan(trace_id, "live2", "last child", parent=root.span_id), NewSpan(marker, "live2")]
        )
        assert (await events.trace())["trace_id"] == marker


async def test_late_spans_within_the_lateness_window_still_produce_the_trace(
    backend: ClickHouseBackend, service: TracesService
) -> None:
    async with live(service.port, ("service", "live3"), ("attr", "service.name:live3")) as events:
        await events.idle()
        late, started = new_trace_id(), now_ns() - 10 * NANOS  # stamped 10 s ago, landing now (lateness 30 s)
        await write(backend, [NewSpan(late, "live3", "late", start_ns=started)])
        got = await events.trace()
        assert (got["trace_id"], got["root_name"], got["start_time_unix_nano"]) == (
            late,
            "late",
            str(started),
        )
        too_late = new_trace_id()
        await write(backend, [NewSpan(too_late, "live3", start_ns=now_ns() - 60 * NANOS)])
        await events.idle()
        marker = new_trace_id()
        await write(backend, [NewSpan(marker, "live3", "marker")])
        assert (await events.trace())["trace_id"] == marker  # the span older than the window never came


async def test_duration_and_status_filters_choose_the_traces(
    backend: ClickHouseBackend, service: TracesService
) -> None:
    params = [("service", "live4"), ("status", "error"), ("min_duration", "50ms"), ("max_duration", "1s")]
    async with live(service.port, *params) as events:
        await events.idle()
        fast, ok, slow_error = new_trace_id(), new_trace_id(), new_trace_id()
        await write(
            backend,
            [
                NewSpan(fast, "live4", duration_ns=10 * MS, error=True),
                NewSpan(ok, "live4", duration_ns=100 * MS),
                NewSpan(slow_error, "live4", duration_ns=100 * MS, error=True),
            ],
        )
        assert (await events.trace())["trace_id"] == slow_error
        marker = new_trace_id()
        await write(backend, [NewSpan(marker, "live4", duration_ns=200 * MS, error=True)])
        assert (await events.trace())["trace_id"] == marker


async def test_a_client_resumes_after_its_last_event_id(
    backend: ClickHouseBackend, service: TracesService
) -> None:
    async with live(service.port, ("service", "live5")) as events:
        await events.idle()
        first = new_trace_id()
        await write(backend, [NewSpan(first, "live5")])
        last_id = (await events.trace())["event_id"]
    second = new_trace_id()
    await write(backend, [NewSpan(second, "live5")])
    async with live(service.port, ("service", "live5"), last_event_id=last_id) as events:
        assert (await events.trace())["trace_id"] == second  # the first trace, sent before, is not
        third = new_trace_id()
        await write(backend, [NewSpan(third, "live5")])
        assert (await events.trace())["trace_id"] == third


async def test_more_streams_than_allowed_are_refused_with_429(service: TracesService) -> None:
    async with live(service.port, ("service", "live6")) as one, live(service.port) as two:
        await one.idle()
        await two.idle()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            refused = await client.get("/v1/traces/live")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert refused.json() == {"error": "2 live traces streams are open, the most allowed"}


async def test_disconnecting_stops_the_stream_and_frees_its_slot(service: TracesService) -> None:
    hub = service.hub
    assert hub is not None
    async with live(service.port, ("service", "live7")) as events:
        await events.idle()
        [running] = hub.streams
        assert running.task is not None and not running.task.done()
    async with asyncio.timeout(DEADLINE_S):
        await hub.idle.wait()
    assert not hub.streams and running.task.done()
    polls = running.polls
    await asyncio.sleep(3 * service.traces_config.live_poll_interval.total_seconds())
    assert running.polls == polls
    async with live(service.port) as one, live(service.port) as two:  # both slots are free again
        await one.idle()
        await two.idle()


async def test_a_stream_over_its_rate_says_how_many_traces_it_dropped(backend: ClickHouseBackend) -> None:
    async with (
        own_service(backend, live_config(live_max_rate=1)) as service,
        live(service.port, ("service", "live8")) as events,
    ):
        await events.idle()
        burst = [new_trace_id() for _ in range(10)]
        await write(backend, [NewSpan(trace_id, "live8") for trace_id in burst])
        delivered: list[str] = []
        dropped = 0
        while len(delivered) + dropped < len(burst):  # each trace of the burst sent or counted, once
            found = await events.next()
            if found.get("event") == "dropped":
                dropped += json.loads(found["data"])["dropped"]
            elif found.get("event") == "trace":
                delivered.append(json.loads(found["data"])["trace_id"])
        assert dropped >= 1 and len(delivered) >= 1
        assert len(set(delivered)) == len(delivered) and set(delivered) <= set(burst)
        # Until the bucket refills (1 trace/s), each new trace is dropped too; the first one sent is the
        # newest: none of the burst's dropped traces came later.
        async with asyncio.timeout(DEADLINE_S):
            while True:
                after = new_trace_id()
                await write(backend, [NewSpan(after, "live8")])
                found = await events.next()
                while "comment" in found:
                    found = await events.next()
                if found["event"] == "trace":
                    break
                assert json.loads(found["data"]) == {"dropped": 1}
        assert json.loads(found["data"])["trace_id"] == after


async def test_shutdown_ends_open_streams(backend: ClickHouseBackend) -> None:
    async with own_service(backend, live_config()) as service:
        async with live(service.port, ("service", "live9")) as events:
            await events.idle()
            await service.shutdown()
            with pytest.raises(EOFError):
                while True:
                    await events.next()
        assert service.hub is None


async def test_bad_filters_and_event_ids_are_400s(service: TracesService) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        bad_kind = await client.get("/v1/traces/live", params={"kind": "sideways"})
        bad_attr = await client.get("/v1/traces/live", params={"attr": "nocolon"})
        bad_id = await client.get("/v1/traces/live", headers={"last-event-id": "yesterday"})
    assert (bad_kind.status_code, bad_kind.json()["error"]) == (
        400,
        "kind: 'sideways' is not a span kind (unspecified, internal, server, client, producer, consumer)",
    )
    assert (bad_attr.status_code, bad_attr.json()["error"]) == (400, "attr: 'nocolon' is not key:value")
    assert bad_id.status_code == 400
    assert bad_id.json()["error"] == "Last-Event-ID: 'yesterday' is not an event id this service sent"
    assert parse_event_id("1795000000000000000") == 1795000000000000000
    with pytest.raises(BadRequestError):
        parse_event_id("99999999999999999999")


async def test_live_config_keys_are_checked_with_their_paths() -> None:
    config = TracesServiceConfig()
    assert (config.live_poll_interval, config.live_lateness) == (timedelta(seconds=1), timedelta(seconds=30))
    assert (config.live_max_streams, config.live_max_rate) == (16, 100)
    assert config.live_keepalive == timedelta(seconds=15)
    with pytest.raises(ConfigError) as err:
        TracesServiceConfig(
            auth=no_auth(),
            live_poll_interval=timedelta(0),
            live_lateness=timedelta(seconds=-1),
            live_max_streams=0,
            live_max_rate=0,
            live_keepalive=timedelta(0),
        ).validate()
    assert {(p.path, p.message) for p in err.value.problems} == {
        ("live_poll_interval", "0s must be positive"),
        ("live_lateness", "-1s must be positive"),
        ("live_max_streams", "0 must be at least 1"),
        ("live_max_rate", "0 must be at least 1"),
        ("live_keepalive", "0s must be positive"),
    }
