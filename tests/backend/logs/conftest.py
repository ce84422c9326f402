"""A started log service (real HTTP on 127.0.0.1, port 0) over a fresh database, and a client for it.

`client` gets its own database per test; `module_client` (with `module_service` and
`module_backend`) one per test module, for modules whose tests mark `loop_scope="module"` and keep to their own time windows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.logs.config import LogsServiceConfig
from backend.logs.service import LogsService
from tests.backend.conftest import (
    BackendHost,
    extension_settings,
    fresh_backend,
    no_auth,
)


def service_config() -> LogsServiceConfig:
    """The service's config in tests: fast tail polls and keep-alives, two tails at most."""
    return LogsServiceConfig(
        endpoint="127.0.0.1:0",
        tail_poll_interval=timedelta(milliseconds=200),
        tail_keepalive=timedelta(milliseconds=200),
        tail_max_streams=2,
        auth=no_auth(),
    )


@pytest.fixture
def logs_config() -> LogsServiceConfig:
    """The config `logs_service` starts with (override it in a module to change it)."""
    return service_config()


@pytest.fixture
async def logs_service(
    clickhouse_backend: ClickHouseBackend, logs_config: LogsServiceConfig
) -> AsyncIterator[LogsService]:
    """The log service, started on its own port over `clickhouse_backend`."""
    service = LogsService(extension_settings("logs_service"), logs_config)
    await service.start(BackendHost(clickhouse_backend))
    try:
        yield service
    finally:
        await service.shutdown()


@pytest.fixture
async def client(logs_service: LogsService) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `logs_service`."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{logs_service.port}", timeout=10) as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_backend() -> AsyncIterator[ClickHouseBackend]:
    """A started backend on a fresh database with the whole schema, shared by one test module."""
    async with fresh_backend("test") as backend:
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_service(module_backend: ClickHouseBackend) -> AsyncIterator[LogsService]:
    """A log service over `module_backend`, shared by one test module."""
    service = LogsService(extension_settings("logs_service"), service_config())
    await service.start(BackendHost(module_backend))
    try:
        yield service
    finally:
        await service.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_client(module_service: LogsService) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `module_service`."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{module_service.port}", timeout=10) as http:
        yield http
