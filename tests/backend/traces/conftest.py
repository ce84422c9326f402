"""Fixtures: a database holding `traces_data`'s spans (written through the clickhouse exporter) and clients.

The tests only read, so one database serves a whole module (a schema and an insert per test would
take most of its time); modules using `store` or `client` run in a module-scoped event loop
(`pytestmark = pytest.mark.asyncio(loop_scope="module")`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio

from backend.service import Store
from backend.traces.config import TracesServiceConfig
from backend.traces.reader import BY_ID_TABLE
from backend.traces.service import TracesService
from collector.pdata import Batch
from exporters.clickhouse import traces
from tests.backend.conftest import (
    backend_config,
    chdb_folder,
    clickhouse_backend,
    extension_settings,
    fresh_backend,
)
from tests.backend.traces import traces_data

__all__ = ["backend_config", "chdb_folder", "clickhouse_backend"]

CONFIG = TracesServiceConfig(max_limit=100, max_range=timedelta(days=7))
"""The service config of these tests: at most 100 items, 7 days per request."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def store() -> AsyncIterator[Store]:
    """A store (`CONFIG`) over a fresh database holding every span of `traces_data`."""
    async with fresh_backend("traces") as backend:
        await traces.write(backend, "otel_traces", Batch.from_otlp(traces_data.request()))
        yield Store(backend, CONFIG)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def older_store() -> AsyncIterator[Store]:
    """The data with the checkout trace only in otel_traces, as if stored before migration 0002."""
    async with fresh_backend("older") as backend:
        await traces.write(backend, "otel_traces", Batch.from_otlp(traces_data.request()))
        await backend.command(
            f"DELETE FROM {backend.table(BY_ID_TABLE)} WHERE TraceId = {{id:String}}",
            {"id": traces_data.CHECKOUT},
        )
        yield Store(backend, CONFIG)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the trace service's app over `store`."""
    app = TracesService(extension_settings("traces_service"), CONFIG).build(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://traces") as http:
        yield http
