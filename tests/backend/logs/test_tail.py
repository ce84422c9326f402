"""GET /v1/logs/tail over real HTTP: new matching records arrive as SSE events, once, within seconds.

Every test waits with a deadline (a liveness bound, not a measurement) and proves that something
did *not* arrive by ordering: a later marker record arrives and the unwanted one never came first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from backend.clickhouse.backend import ClickHouseBackend
from backend.logs.config import LogsServiceConfig
from backend.logs.service import LogsService
from backend.logs.tail import parse_event_id
from backend.service import NANOS, BadRequestError, now_ns
from tests.backend.conftest import BackendHost, extension_settings
from tests.backend.logs.conftest import service_config
from tests.backend.logs.fixtures import Record, write

pytestmark = pytest.mark.asyncio(loop_scope="module")
DEADLINE_S = 10.0
"""How long a test waits for an event before failing (the service polls every 200 ms)."""


class Events:
    """The SSE events of one open tail, parsed as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self) -> dict[str, str]:
        """The next event or comment ({"comment": text}); fails after DEADLINE_S."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE_S):
            async for line in self.lines:
                if line.startswith(":"):
                    return {"comment": line[1:].strip()}
                if line == "":
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    async def record(self) -> dict[str, Any]:
        """The next record event (comments and the retry hint skipped)."""
        while True:
            found = await self.next()
            if "data" in found and "event" not in found:
                data: dict[str, Any] = json.loads(found["data"])
                assert found["id"] == data["id"]
                return data
            assert "event" not in found, found

    async def idle(self) -> None:
        """Wait for a keep-alive comment: the tail has primed and polled at least once."""
        while "comment" not in await self.next():
            pass


@asynccontextmanager
async def tail(port: int, **params: str) -> AsyncIterator[Events]:
    """An open live tail of the service on `port`."""
    headers = {"last-event-id": params.pop("last_event_id")} if "last_event_id" in params else {}
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE_S) as client,
        client.stream("GET", "/v1/logs/tail", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        yield Events(response)


@asynccontextmanager
async def own_service(backend: ClickHouseBackend, config: LogsServiceConfig) -> AsyncIterator[LogsService]:
    """A log service of its own over `backend`."""
    service = LogsService(extension_settings("logs_service"), config)
    await service.start(BackendHost(backend))
    try:
        yield service
    finally:
        await service.shutdown()


async def test_new_matching_records_arrive_and_others_do_not(
    module_backend: ClickHouseBackend, module_service: LogsService
) -> None:
    await write(module_backend, [Record("payment before the tail", now_ns(), service="tail1")])
    async with tail(module_service.port, q="payment", service="tail1") as events:
        first = await events.next()
        assert first == {"retry": "1000"}
        await events.idle()
        await write(
            module_backend,
            [
                Record("payment accepted", now_ns(), service="tail1", attributes={"n": "1"}),
                Record("payment elsewhere", now_ns(), service="tail1-other"),
                Record("refund accepted", now_ns(), service="tail1"),
            ],
        )
        got = await events.record()
        assert (got["body"], got["service"], got["attributes"]) == ("payment accepted", "tail1", {"n": "1"})
        await write(module_backend, [Record("payment marker", now_ns(), service="tail1")])
        assert (await events.record())["body"] == "payment marker"


async def test_late_records_within_the_lateness_window_arrive_once(
    module_backend: ClickHouseBackend, module_service: LogsService
) -> None:
    async with tail(module_service.port, service="tail2") as events:
        await events.idle()
        await write(module_backend, [Record("on time", now_ns(), service="tail2")])
        assert (await events.record())["body"] == "on time"
        await events.idle()  # the on-time record is now behind the tail
        late = now_ns() - 5 * NANOS  # stamped 5 s ago, landing now (lateness is 10 s)
        await write(module_backend, [Record("late", late, service="tail2")])
        got = await events.record()
        assert (got["body"], got["time_unix_nano"]) == ("late", str(late))
        await events.idle()
        await events.idle()  # several polls see both records again
        await write(module_backend, [Record("marker", now_ns(), service="tail2")])
        assert (await events.record())["body"] == "marker"  # neither came twice


async def test_a_client_resumes_after_its_last_event_id(
    module_backend: ClickHouseBackend, module_service: LogsService
) -> None:
    async with tail(module_service.port, service="tail3") as events:
        await events.idle()
        await write(module_backend, [Record("one", now_ns(), service="tail3")])
        one = await events.record()
    await write(module_backend, [Record("two", now_ns(), service="tail3")])
    async with tail(module_service.port, service="tail3", last_event_id=one["id"]) as events:
        assert (await events.record())["body"] == "two"
        await write(module_backend, [Record("three", now_ns(), service="tail3")])
        assert (await events.record())["body"] == "three"


async def test_disconnecting_stops_the_poller(module_service: LogsService) -> None:
    hub = module_service.hub
    assert hub is not None
    async with tail(module_service.port, service="tail4") as events:
        await events.idle()
        [running] = hub.streams
        assert running.task is not None and not running.task.done()
    async with asyncio.timeout(DEADLINE_S):
        await hub.idle.wait()
    assert not hub.streams
    assert running.task.done()
    polls = running.polls
    await asyncio.sleep(3 * module_service.logs_config.tail_poll_interval.total_seconds())
    assert running.polls == polls


async def test_more_tails_than_allowed_are_refused_with_429(module_service: LogsService) -> None:
    async with tail(module_service.port, service="tail5") as one, tail(module_service.port) as two:
        await one.idle()
        await two.idle()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{module_service.port}") as client:
            refused = await client.get("/v1/logs/tail")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert refused.json() == {"error": "2 live tails are open, the most allowed"}


async def test_bad_filters_and_event_ids_are_400s(module_service: LogsService) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{module_service.port}") as client:
        bad_q = await client.get("/v1/logs/tail", params={"q": '"open'})
        bad_id = await client.get("/v1/logs/tail", headers={"last-event-id": "yesterday"})
    assert (bad_q.status_code, bad_q.json()["error"]) == (400, 'q: has an unbalanced quote (")')
    assert bad_id.status_code == 400
    assert bad_id.json()["error"] == "Last-Event-ID: 'yesterday' is not an event id this service sent"
    assert parse_event_id("1795000000000000000-00000000000000ff") == (1795000000000000000, 255)
    with pytest.raises(BadRequestError):
        parse_event_id("99999999999999999999-00000000000000ff")


async def test_shutdown_ends_open_tails(module_backend: ClickHouseBackend) -> None:
    async with own_service(module_backend, service_config()) as service:
        async with tail(service.port, service="tail6") as events:
            await events.idle()
            await service.shutdown()
            with pytest.raises(EOFError):
                while True:
                    await events.next()
        assert service.hub is None


async def test_a_tail_over_its_rate_skips_ahead_and_says_how_many_it_dropped(
    module_backend: ClickHouseBackend,
) -> None:
    config = service_config()
    config.tail_max_rate = 5  # one record per 200 ms poll
    config.tail_lateness = timedelta(seconds=1)
    config.tail_max_lag = timedelta(seconds=1)
    async with own_service(module_backend, config) as service, tail(service.port, service="tail7") as events:
        await events.idle()
        start = now_ns()
        await write(module_backend, [Record(f"burst {i}", start + i, service="tail7") for i in range(50)])
        delivered: list[str] = []
        while True:
            found = await events.next()
            if found.get("event") == "dropped":
                dropped = json.loads(found["data"])["dropped"]
                break
            if "data" in found:
                delivered.append(json.loads(found["data"])["body"])
        assert delivered == [f"burst {i}" for i in range(len(delivered))]  # oldest first, one per poll
        assert 1 <= len(delivered) < 50
        assert dropped == 50 - len(delivered)
        await write(module_backend, [Record("after the burst", now_ns(), service="tail7")])
        assert (await events.record())["body"] == "after the burst"
