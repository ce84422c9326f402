"""`ClickHouseBackend`: one named ClickHouse database (chDB folder or server) behind an asyncio API.

Every blocking call runs on the backend's own worker threads, each with its own clickhouse-connect
client (chDB: one session per thread on the same folder is safe and parallel, a shared one is not).
chDB allows one data folder per process and one process per folder: the folder is claimed with an
flock on `<folder>/.airis.lock` (holding our pid) before chDB opens it, shared by every backend of
this process on that folder, and released when the last of them closes, so a config reload can
reopen it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from backend.clickhouse.config import BackendConfig
from backend.clickhouse.schema import (
    VERSIONS_TABLE,
    Migration,
    SchemaTarget,
    database_ddl,
    load_migrations,
    versions_table_ddl,
)
from collector.errors import AirisError
from collector.folderlock import lock_folder, unlock_folder

if TYPE_CHECKING:
    import pyarrow as pa

WORKERS = 8
T = TypeVar("T")


class SchemaVersionError(AirisError):
    """The database's schema does not match this airis's migrations (too new, or some missing)."""


class BackendStartError(AirisError):
    """A backend could not connect or create its schema; the cause is chained."""


@dataclass
class _ChdbFolder:
    path: str
    fd: int
    users: int


_FOLDER_GUARD = threading.Lock()
_OPEN_FOLDER: list[_ChdbFolder] = []  # at most one: the chDB folder this process has open


def _claim_chdb_folder(folder: str, timeout: float, backend: str) -> str:
    """Count one more user of chDB folder `folder` in this process (flock'ed on first use); its real path."""
    path = os.path.realpath(folder)
    with _FOLDER_GUARD:
        if _OPEN_FOLDER:
            current = _OPEN_FOLDER[0]
            if current.path != path:
                raise RuntimeError(
                    f"backend {backend!r} cannot open chDB data folder {path}: this process already has "
                    f"{current.path} open, and chDB opens one data folder per process"
                )
            current.users += 1
            return path
        os.makedirs(path, mode=0o750, exist_ok=True)
        fd = lock_folder(
            path,
            timeout,
            lambda pid: (
                f"chDB data folder {path} is in use by another process (pid {pid}); one process per folder"
            ),
        )
        _OPEN_FOLDER.append(_ChdbFolder(path, fd, 1))
        return path


def _release_chdb_folder(path: str) -> None:
    """Count one user fewer; the last one releases the flock."""
    with _FOLDER_GUARD:
        if not _OPEN_FOLDER or _OPEN_FOLDER[0].path != path:
            return
        current = _OPEN_FOLDER[0]
        current.users -= 1
        if current.users == 0:
            _OPEN_FOLDER.clear()
            unlock_folder(current.fd)


class ClickHouseBackend:
    """One database on chDB or a ClickHouse server: schema on start, async queries and inserts."""

    def __init__(self, name: str, config: BackendConfig, migrations: list[Migration] | None = None) -> None:
        self.name = name
        self.config = config
        self.database = config.database
        self.target = SchemaTarget(config.database, config.cluster, config.ttl)
        self.migrations = load_migrations() if migrations is None else migrations
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()
        self._use_database = False
        self._chdb_folder: str | None = None
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, name: str, config: BackendConfig) -> ClickHouseBackend:
        """A backend named `name` (not started)."""
        return cls(name, config)

    def __repr__(self) -> str:
        return f"ClickHouseBackend({self.name!r}, {self.config.endpoint!r}, database={self.database!r})"

    def table(self, name: str) -> str:
        """The fully qualified, quoted name of table `name` in this backend's database."""
        return self.target.name(name)

    @property
    def where(self) -> str:
        """The endpoint without credentials: the chDB folder or scheme://host:port."""
        if self.config.is_chdb:
            return f"chDB folder {self.config.chdb_path()}"
        parts = urlsplit(self.config.endpoint)
        return (
            f"{parts.scheme}://{parts.hostname}:{parts.port or (8443 if parts.scheme == 'https' else 8123)}"
        )

    @property
    def started(self) -> bool:
        """Whether the backend is open."""
        return self._executor is not None

    async def start(self) -> None:
        """Connect (chDB: claim the folder first), then apply or check the migrations."""
        async with self._start_lock:
            if self._executor is None:
                await self._start()

    async def _start(self) -> None:
        if self.config.is_chdb:
            self._chdb_folder = await asyncio.to_thread(
                _claim_chdb_folder,
                self.config.chdb_path(),
                self.config.connect_timeout.total_seconds(),
                self.name,
            )
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"clickhouse-{self.name}")
        try:
            await self._run(self._prepare_schema)
        except BaseException as err:
            await self.close()
            if isinstance(err, Exception) and not isinstance(err, AirisError):
                raise BackendStartError(
                    f"clickhouse backend {self.name!r} ({self.where}, database {self.database!r}) "
                    f"failed to start: {err}"
                ) from err
            raise

    async def close(self) -> None:
        """Wait for running calls, close every client and release the chDB folder; idempotent."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):  # best effort: the engine goes with the last client
                client.close()
        self._use_database = False
        if self._chdb_folder is not None:
            folder, self._chdb_folder = self._chdb_folder, None
            _release_chdb_folder(folder)

    async def command(self, sql: str, parameters: dict[str, object] | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, ...), with bound parameters."""
        await self._run(lambda: self._client().command(sql, parameters=parameters))

    async def query_rows(
        self,
        sql: str,
        parameters: dict[str, object] | None = None,
        settings: dict[str, object] | None = None,
    ) -> list[tuple[object, ...]]:
        """The rows of a query, as tuples (`settings`: ClickHouse settings of this query only)."""
        result = await self._run(lambda: self._client().query(sql, parameters=parameters, settings=settings))
        return [tuple(row) for row in result.result_rows]

    async def query_arrow(
        self,
        sql: str,
        parameters: dict[str, object] | None = None,
        settings: dict[str, object] | None = None,
    ) -> pa.Table:
        """The result of a query as an Arrow table (`settings`: ClickHouse settings of this query only)."""
        table: pa.Table = await self._run(
            lambda: self._client().query_arrow(sql, parameters=parameters, settings=settings)
        )
        return table

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table into `table` (a bare name in this database)."""
        self.table(table)  # checks the name
        await self._run(lambda: self._client().insert_arrow(table, data, database=self.database))

    async def raw_insert(
        self,
        table: str,
        data: bytes,
        fmt: str,
        column_names: list[str] | None = None,
        settings: dict[str, object] | None = None,
    ) -> None:
        """Insert bytes already in ClickHouse format `fmt` (ArrowStream, Native, ...) into `table`."""
        qualified = self.table(table)
        await self._run(
            lambda: self._client().raw_insert(
                qualified, column_names, insert_block=data, settings=settings, fmt=fmt
            )
        )

    async def _run(self, call: Callable[[], T]) -> T:
        executor = self._executor
        if executor is None:
            raise RuntimeError(f"clickhouse backend {self.name!r} is not started")
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    def _client(self) -> Any:
        """This worker thread's client, created on first use."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._connect()
            with self._clients_lock:
                self._clients.append(client)
            self._local.client = client
        if self._use_database and client.database != self.database:
            client.database = self.database
        return client

    def _connect(self) -> Any:
        import clickhouse_connect

        config = self.config
        settings = {"max_execution_time": max(1, round(config.query_timeout.total_seconds()))}
        database = self.database if self._use_database else None
        if config.is_chdb:
            assert self._chdb_folder is not None
            return clickhouse_connect.get_client(
                dsn=f"chdb://{self._chdb_folder}", database=database, settings=settings
            )
        parts = urlsplit(config.endpoint)
        secure = parts.scheme == "https"
        return clickhouse_connect.get_client(
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            username=config.username or None,
            password=config.password,
            database=database,
            secure=secure,
            connect_timeout=config.connect_timeout.total_seconds(),
            send_receive_timeout=config.query_timeout.total_seconds() + 5,
            settings=settings,
        )

    def _prepare_schema(self) -> None:
        """Create the database and apply missing migrations (create_schema), or check none is missing."""
        client = self._client()
        target = self.target
        if self.config.create_schema:
            client.command(database_ddl(target))
            client.command(versions_table_ddl(target))
        applied = self._applied_versions(client)
        newest_known = max((m.version for m in self.migrations), default=0)
        if applied and max(applied) > newest_known:
            newest = max(applied)
            raise SchemaVersionError(
                f"clickhouse backend {self.name!r}: database {self.database!r} is at schema version "
                f"{newest} ({newest:04d}_{applied[newest]}), but this airis knows migrations up to "
                f"version {newest_known}: this airis is too old for this data; upgrade airis"
            )
        missing = [m for m in self.migrations if m.version not in applied]
        if missing and not self.config.create_schema:
            labels = ", ".join(m.label for m in missing)
            raise SchemaVersionError(
                f"clickhouse backend {self.name!r}: database {self.database!r} lacks schema migrations "
                f"{labels}; set create_schema: true on this backend, or apply them by hand "
                f"(python -m backend.clickhouse.schema --database {self.database} prints the DDL)"
            )
        for migration in missing:
            for statement in migration.render(target):
                client.command(statement)
            client.insert(
                VERSIONS_TABLE,
                [[migration.version, migration.name, datetime.now(UTC)]],
                column_names=["version", "name", "applied_at"],
                database=self.database,
            )
        self._use_database = True
        client.database = self.database

    def _applied_versions(self, client: Any) -> dict[int, str]:
        exists = client.command(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": self.database, "t": VERSIONS_TABLE},
        )
        if not int(exists):
            return {}
        rows = client.query(
            f"SELECT version, any(name) FROM {self.table(VERSIONS_TABLE)} GROUP BY version"
        ).result_rows
        return {int(version): str(name) for version, name in rows}


__all__ = ["BackendStartError", "ClickHouseBackend", "SchemaVersionError"]
