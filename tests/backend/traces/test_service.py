"""The service runs a bounded number of queries at once, so reads never take every storage worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from backend.service import QueryTimeoutError, Store
from backend.traces.config import TracesServiceConfig
from backend.traces.service import LimitedStore


class _HeldBackend:
    """A backend whose queries wait until released, counting how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def query_rows(self, sql: str, parameters: object = None, settings: object = None) -> list[Any]:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        return [(sql,)]


async def test_at_most_the_limit_runs_and_the_rest_wait_their_turn() -> None:
    backend = _HeldBackend()
    store = LimitedStore(Store(backend, TracesServiceConfig()), 2)  # type: ignore[arg-type]
    queries = [asyncio.create_task(store.rows(f"q{i}")) for i in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert backend.running == 2
    backend.release.set()
    assert [await q for q in queries] == [[(f"q{i}",)] for i in range(5)]
    assert backend.most == 2


async def test_waiting_longer_than_the_query_timeout_is_a_timeout() -> None:
    backend = _HeldBackend()
    backend.release.set()
    config = TracesServiceConfig(query_timeout=timedelta(milliseconds=50))
    store = LimitedStore(Store(backend, config), 1)  # type: ignore[arg-type]
    await store.slots.acquire()  # another query holds the only slot
    with pytest.raises(QueryTimeoutError, match="busy with other queries"):
        await store.rows("waits")
    store.slots.release()
    assert await store.rows("now") == [("now",)]
    assert backend.most == 1
