"""chDB fixtures for backend and exporter tests: ONE chDB folder per pytest process, one database per test.

chDB opens one data folder per process, so every test in this process shares `chdb_folder` and is
isolated by a fresh database. Other test packages use these fixtures by importing them in their
conftest: `from tests.backend.conftest import backend_config, chdb_folder, clickhouse_backend`.

With `AIRIS_TEST_TENANT_SCOPE=1` the query-service tests run as a caller restricted to one tenant
(`PROBE_SCOPE`: the rows without `tenant.id`, which is all the tests write), and every OTLP request
they write is also stored under another tenant (`OTHER_TENANT`). So every service query runs with
subqueries in place of tables (`backend.service.Store.table`), and a leak of the other tenant's rows
changes the answers the tests assert:
`AIRIS_TEST_TENANT_SCOPE=1 pytest tests/backend/traces tests/backend/logs tests/backend/metrics`.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from backend.clickhouse.extension import ClickHouseStorage
from collector.auth.principal import Principal, Role, TenantScope, current_scope
from collector.auth.setting import AuthSetting
from collector.component import Component, ComponentId, Host, Kind, ServiceStatus, Settings
from collector.pdata import Batch
from collector.telemetry import MetricsRegistry

_FOLDER: list[Path] = []
_DATABASES = itertools.count(1)

PROBE = os.environ.get("AIRIS_TEST_TENANT_SCOPE") == "1"
"""Whether the service tests run restricted to `PROBE_SCOPE`, next to another tenant's copy of their data."""
PROBE_SCOPE = TenantScope("tenant.id", ("",))
"""The rows without a `tenant.id` resource attribute (a missing map key reads as '')."""
OTHER_TENANT = "intruder"
PROBE_ID = ComponentId("tenancy_probe")


def no_auth() -> AuthSetting:
    """`auth: {authenticator: none}` for a test not about authentication (the probe's when `PROBE`)."""
    return AuthSetting(authenticator=str(PROBE_ID) if PROBE else "none")


class ProbeAuthenticator:
    """An `Authenticator` admitting every request as a viewer restricted to `PROBE_SCOPE`."""

    tenant_attribute = PROBE_SCOPE.attribute
    tenant_header = "X-Scope-OrgID"

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        return Principal("probe", Role.VIEWER, frozenset(PROBE_SCOPE.tenants or ()), "probe")

    def scope(self, principal: Principal, headers: Mapping[str, str]) -> TenantScope:
        return PROBE_SCOPE

    async def check_rate(self, principal: Principal, surface: str) -> None:
        return None


def with_other_tenant(request: Message) -> Message:
    """A copy of an OTLP export request holding each resource twice: as is, and under `OTHER_TENANT`."""
    copy = type(request)()
    copy.CopyFrom(request)
    for name in ("resource_spans", "resource_logs", "resource_metrics"):
        if name in copy.DESCRIPTOR.fields_by_name:
            items: Any = getattr(copy, name)
            for item in list(items):
                twin = items.add()
                twin.CopyFrom(item)
                tenant = twin.resource.attributes.add()
                tenant.key = PROBE_SCOPE.attribute
                tenant.value.string_value = OTHER_TENANT
    return copy


def pytest_configure(config: pytest.Config) -> None:
    if not PROBE:
        return
    current_scope.set(PROBE_SCOPE)  # before any event loop exists: every task copies this context
    from_otlp = Batch.from_otlp.__func__  # type: ignore[attr-defined]

    def from_otlp_with_other_tenant(cls: type[Batch], request: Message) -> Batch:
        return from_otlp(cls, with_other_tenant(request))  # type: ignore[no-any-return]

    Batch.from_otlp = classmethod(from_otlp_with_other_tenant)  # type: ignore[method-assign, assignment]


def session_chdb_folder() -> Path:
    """This pytest process's chDB folder, made on first use and removed at exit."""
    if not _FOLDER:
        root = Path(tempfile.mkdtemp(prefix="airis-chdb-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _FOLDER.append(root / "data")
    return _FOLDER[0]


def unique_database() -> str:
    """A database name no other test of this run uses."""
    return f"test_{os.getpid()}_{next(_DATABASES)}"


@contextlib.asynccontextmanager
async def fresh_backend(name: str = "test") -> AsyncIterator[ClickHouseBackend]:
    """A started backend on a new database of this process's chDB folder, with the whole schema and no
    TTL (old test rows stay); the database is dropped afterwards. For fixtures a module shares:
    creating the schema is the slow part of a test."""
    config = BackendConfig(
        endpoint=f"chdb://{session_chdb_folder()}",
        database=unique_database(),
        create_schema=True,
        ttl=timedelta(0),
    )
    backend = ClickHouseBackend.from_config(name, config)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.command(f"DROP DATABASE IF EXISTS `{backend.database}` SYNC")
        await backend.close()


@pytest.fixture(scope="session")
def chdb_folder() -> Path:
    """The one chDB data folder of this pytest process."""
    return session_chdb_folder()


@pytest.fixture
def backend_config(chdb_folder: Path) -> BackendConfig:
    """A backend config on the shared folder and a fresh database, with no TTL (old test rows stay)."""
    return BackendConfig(
        endpoint=f"chdb://{chdb_folder}",
        database=unique_database(),
        create_schema=True,
        ttl=timedelta(0),
    )


@pytest.fixture
async def clickhouse_backend(backend_config: BackendConfig) -> AsyncIterator[ClickHouseBackend]:
    """A started backend on a fresh database with the whole schema; the database is dropped after."""
    backend = ClickHouseBackend.from_config("test", backend_config)
    await backend.start()
    try:
        yield backend
    finally:
        if backend.started:
            await backend.command(f"DROP DATABASE IF EXISTS `{backend.database}` SYNC")
        await backend.close()


class BackendHost:
    """A running host whose `clickhouse_storage` extension holds `backend` under the name "main"
    (and whose other extensions are `extensions`, e.g. a started `auth`)."""

    status = ServiceStatus.RUNNING

    def __init__(
        self, backend: ClickHouseBackend, extensions: Mapping[ComponentId, Component] | None = None
    ) -> None:
        id = ComponentId("clickhouse_storage")
        settings = Settings(id, Kind.EXTENSION, MetricsRegistry(), logging.getLogger("test.storage"))
        storage = ClickHouseStorage(settings, ClickHouseStorageConfig())
        storage.backends = {"main": backend}
        self._extensions: dict[ComponentId, Component] = {id: storage, **(extensions or {})}
        if PROBE:
            self._extensions.setdefault(PROBE_ID, ProbeAuthenticator())

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return self._extensions


def extension_settings(type_: str) -> Settings:
    """Settings of an extension `type_` for tests."""
    return Settings(ComponentId(type_), Kind.EXTENSION, MetricsRegistry(), logging.getLogger(f"test.{type_}"))
