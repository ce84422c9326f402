"""chDB fixtures for backend and exporter tests: ONE chDB folder per pytest process, one database per test.

chDB opens one data folder per process, so every test in this process shares `chdb_folder` and is
isolated by a fresh database. Other test packages use these fixtures by importing them in their
conftest: `from tests.backend.conftest import backend_config, chdb_folder, clickhouse_backend`.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from backend.clickhouse.extension import ClickHouseStorage
from collector.component import Component, ComponentId, Kind, ServiceStatus, Settings
from collector.telemetry import MetricsRegistry

_FOLDER: list[Path] = []
_DATABASES = itertools.count(1)


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
    """A running host whose `clickhouse_storage` extension holds `backend` under the name "main"."""

    status = ServiceStatus.RUNNING

    def __init__(self, backend: ClickHouseBackend) -> None:
        id = ComponentId("clickhouse_storage")
        settings = Settings(id, Kind.EXTENSION, MetricsRegistry(), logging.getLogger("test.storage"))
        storage = ClickHouseStorage(settings, ClickHouseStorageConfig())
        storage.backends = {"main": backend}
        self._extensions: dict[ComponentId, Component] = {id: storage}

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return self._extensions


def extension_settings(type_: str) -> Settings:
    """Settings of an extension `type_` for tests."""
    return Settings(ComponentId(type_), Kind.EXTENSION, MetricsRegistry(), logging.getLogger(f"test.{type_}"))
