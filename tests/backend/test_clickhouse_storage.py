"""The clickhouse_storage extension and ClickHouseBackend: config, migrations, chDB folder rules, concurrency."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from backend.clickhouse.backend import BackendStartError, ClickHouseBackend, SchemaVersionError
from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from backend.clickhouse.extension import ClickHouseStorage, backend_in
from backend.clickhouse.factory import FACTORY
from backend.clickhouse.schema import Migration, load_migrations
from collector.component import Component, ComponentId, Kind, ServiceStatus, Settings
from collector.configstruct import decode
from collector.folderlock import LOCK_FILE
from collector.telemetry import MetricsRegistry
from tests.backend.conftest import unique_database
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import timedelta
    from backend.clickhouse.backend import ClickHouseBackend
    from backend.clickhouse.config import BackendConfig

    async def main(endpoint: str, action: str) -> None:
        config = BackendConfig(endpoint=endpoint, database="otel", connect_timeout=timedelta(seconds=0.3))
        backend = ClickHouseBackend.from_config("main", config)
        try:
            await backend.start()
        except OSError as err:
            print("error:", err, flush=True)
            sys.exit(3)
        if action == "hold":
            print("ready", flush=True)
            sys.stdin.readline()
        elif action == "write":
            await backend.command(
                "INSERT INTO otel_logs (Timestamp, ServiceName, Body) "
                "SELECT now64(9), 'svc', toString(number) FROM numbers(1000)"
            )
        elif action == "count":
            print("count", (await backend.query_rows("SELECT count() FROM otel_logs"))[0][0], flush=True)
        await backend.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def run_child(endpoint: str, action: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", CHILD, endpoint, action],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class FakeHost:
    """A host whose extensions are given."""

    status = ServiceStatus.RUNNING

    def __init__(self, extensions: dict[ComponentId, Any] | None = None) -> None:
        self._extensions: dict[ComponentId, Component] = extensions or {}

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return self._extensions


def real_path(path: str | Path) -> str:
    return os.path.realpath(path)


def settings(name: str = "") -> Settings:
    return Settings(
        ComponentId("clickhouse_storage", name), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("ch")
    )


async def versions(backend: ClickHouseBackend) -> list[tuple[object, ...]]:
    return await backend.query_rows(
        f"SELECT version, name FROM {backend.table('airis_schema_versions')} FINAL ORDER BY version"
    )


# --- config ---------------------------------------------------------------------------------------


def test_defaults_are_the_all_in_one_chdb_folder() -> None:
    config = FACTORY.default_config()
    assert config.backends == {}
    backend = BackendConfig()
    assert (backend.endpoint, backend.database, backend.create_schema, backend.ttl) == (
        "chdb://./data",
        "otel",
        True,
        timedelta(0),
    )
    assert backend.chdb_path() == os.path.join(os.getcwd(), "data")
    assert BackendConfig(endpoint="chdb:///var/lib/airis").chdb_path() == "/var/lib/airis"


def test_a_full_config_decodes() -> None:
    raw = {
        "backends": {
            "main": {
                "endpoint": "chdb://./data",
                "database": "otel",
                "create_schema": True,
                "ttl": "72h",
                "cluster": "",
                "username": "",
                "password": "",
                "connect_timeout": "10s",
                "query_timeout": "30s",
            },
            "remote": {"endpoint": "https://ch.example:8443", "database": "obs", "cluster": "prod"},
        }
    }
    config, problems = decode(ClickHouseStorageConfig, raw, "extensions::clickhouse_storage")
    assert problems == []
    assert config is not None
    assert config.backends["main"].ttl == timedelta(hours=72)
    assert config.backends["remote"].cluster == "prod"


def test_config_mistakes_are_reported_with_their_paths() -> None:
    raw = {
        "backends": {
            "main": {"endpoint": "tcp://host:9000", "database": "ot-el", "ttl": "-1h"},
            "other": {"endpoint": "chdb://./data", "cluster": "prod", "query_timeout": "0s"},
            "third": {"endpoint": "http://u:p@host:8123"},
            "fourth": {"endpoint": "https://host:99999"},
        }
    }
    _, problems = decode(ClickHouseStorageConfig, raw, "extensions::clickhouse_storage")
    assert [str(p) for p in problems] == [
        "extensions::clickhouse_storage::backends::main::endpoint: 'tcp://host:9000' must be chdb://PATH "
        "or http(s)://host:port",
        "extensions::clickhouse_storage::backends::main::database: 'ot-el' is not a plain identifier",
        "extensions::clickhouse_storage::backends::main::ttl: -1h must not be negative",
        "extensions::clickhouse_storage::backends::other::cluster: 'prod' needs a server endpoint, not chDB",
        "extensions::clickhouse_storage::backends::other::query_timeout: 0s must be positive",
        "extensions::clickhouse_storage::backends::third::endpoint: must not hold credentials: set username "
        "and password instead",
        "extensions::clickhouse_storage::backends::fourth::endpoint: 'https://host:99999' has an invalid port",
    ]


def test_at_least_one_backend_is_required() -> None:
    _, problems = decode(ClickHouseStorageConfig, {}, "extensions::clickhouse_storage")
    assert [str(p) for p in problems] == [
        "extensions::clickhouse_storage::backends: define at least one backend (e.g. main: {})"
    ]


def test_two_chdb_folders_in_one_config_are_refused() -> None:
    raw = {"backends": {"a": {"endpoint": "chdb:///x/a"}, "b": {"endpoint": "chdb:///x/b"}}}
    _, problems = decode(ClickHouseStorageConfig, raw, "extensions::clickhouse_storage")
    assert [str(p) for p in problems] == [
        "extensions::clickhouse_storage::backends: chDB opens one data folder per process, these name "
        "several: a: /x/a, b: /x/b"
    ]


def test_the_factory_imports_no_heavy_library() -> None:
    code = (
        "import sys, backend.clickhouse.factory\n"
        "print(sorted(m for m in ('chdb', 'clickhouse_connect', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the backend on chDB --------------------------------------------------------------------------


async def test_migrations_are_recorded_once_and_a_restart_is_idempotent(
    backend_config: BackendConfig,
) -> None:
    first = ClickHouseBackend.from_config("main", backend_config)
    await first.start()
    await first.start()  # already started: nothing happens
    assert await versions(first) == [
        (1, "otel_tables"),
        (2, "traces_by_id"),
        (3, "metric_rollups"),
        (4, "logs_search_indexes"),
    ]
    applied_at = (await first.query_rows("SELECT applied_at FROM airis_schema_versions ORDER BY version"))[0][
        0
    ]
    assert isinstance(applied_at, datetime)
    await first.close()
    await first.close()

    again = ClickHouseBackend.from_config("main", backend_config)
    await again.start()
    try:
        assert await again.query_rows("SELECT count() FROM airis_schema_versions") == [(4,)]
        assert (await again.query_rows("SELECT applied_at FROM airis_schema_versions ORDER BY version"))[
            0
        ] == (applied_at,)
    finally:
        await again.command(f"DROP DATABASE `{again.database}` SYNC")
        await again.close()


async def test_a_new_migration_file_is_applied_alone_on_the_next_start(backend_config: BackendConfig) -> None:
    first = ClickHouseBackend.from_config("main", backend_config)
    await first.start()
    await first.close()
    known = load_migrations()
    later = known[-1].version + 1
    extra = Migration(
        later,
        "rollups",
        "-- a later issue's migration\n"
        "CREATE TABLE IF NOT EXISTS {{table otel_rollups}}{{on_cluster}} (x UInt8)\n"
        "ENGINE = {{engine MergeTree}} ORDER BY x;\n",
    )
    upgraded = ClickHouseBackend("main", backend_config, migrations=[*known, extra])
    await upgraded.start()
    try:
        assert await versions(upgraded) == [*((m.version, m.name) for m in known), (later, "rollups")]
        assert await upgraded.query_rows("EXISTS TABLE otel_rollups") == [(1,)]
    finally:
        await upgraded.command(f"DROP DATABASE `{upgraded.database}` SYNC")
        await upgraded.close()


async def test_a_database_newer_than_this_airis_is_refused(clickhouse_backend: ClickHouseBackend) -> None:
    newest = load_migrations()[-1].version
    await clickhouse_backend.command(
        "INSERT INTO airis_schema_versions (version, name, applied_at) VALUES (77, 'future_tables', now64(3))"
    )
    older = ClickHouseBackend.from_config("old", clickhouse_backend.config)
    with pytest.raises(SchemaVersionError) as caught:
        await older.start()
    assert str(caught.value) == (
        f"clickhouse backend 'old': database '{clickhouse_backend.database}' is at schema version 77 "
        f"(0077_future_tables), but this airis knows migrations up to version {newest}: this airis is "
        "too old for this data; upgrade airis"
    )
    assert not older.started


async def test_missing_migrations_without_create_schema_are_listed(backend_config: BackendConfig) -> None:
    config = replace(backend_config, create_schema=False)
    backend = ClickHouseBackend.from_config("main", config)
    with pytest.raises(SchemaVersionError) as caught:
        await backend.start()
    assert str(caught.value) == (
        f"clickhouse backend 'main': database '{config.database}' lacks schema migrations "
        f"{', '.join(m.label for m in load_migrations())}; "
        "set create_schema: true on this backend, or apply them by hand "
        f"(python -m backend.clickhouse.schema --database {config.database} prints the DDL)"
    )
    assert not backend.started


async def test_create_schema_false_accepts_an_up_to_date_database(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    reader = ClickHouseBackend.from_config("reader", replace(clickhouse_backend.config, create_schema=False))
    await reader.start()
    try:
        assert await reader.query_rows("SELECT count() FROM otel_traces") == [(0,)]
    finally:
        await reader.close()


async def test_queries_bind_parameters_and_carry_the_query_timeout(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    rows = await clickhouse_backend.query_rows(
        "SELECT {s:String}, {n:UInt32}, getSetting('max_execution_time')", {"s": "it's; DROP", "n": 7}
    )
    assert rows == [("it's; DROP", 7, 30)]


async def test_arrow_and_raw_inserts_land_in_the_backends_database(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    data = pa.table(
        {
            "Timestamp": pa.array([now, now], pa.timestamp("ns", "UTC")),
            "ServiceName": ["api", "db"],
            "Body": ["hello", "world"],
            "LogAttributes": pa.array([[("k", "v")], []], pa.map_(pa.string(), pa.string())),
        }
    )
    await clickhouse_backend.insert_arrow("otel_logs", data)
    await clickhouse_backend.raw_insert(
        "otel_logs",
        b"2030-05-06 07:08:10\tcache\tthird\n",
        "TabSeparated",
        ["Timestamp", "ServiceName", "Body"],
    )
    table = await clickhouse_backend.query_arrow(
        "SELECT ServiceName, Body, LogAttributes['k'] AS k, TimestampTime FROM otel_logs ORDER BY Body"
    )
    assert table.column("Body").to_pylist() == ["hello", "third", "world"]
    assert table.column("k").to_pylist() == ["v", "", ""]
    assert table.column("ServiceName").to_pylist() == ["api", "cache", "db"]
    assert clickhouse_backend.table("otel_logs") == f"`{clickhouse_backend.database}`.`otel_logs`"


async def test_concurrent_inserts_and_queries_all_succeed(clickhouse_backend: ClickHouseBackend) -> None:
    def batch(i: int) -> pa.Table:
        return pa.table(
            {
                "Timestamp": pa.array([datetime(2030, 1, 1, tzinfo=UTC)] * 1000, pa.timestamp("ns", "UTC")),
                "TraceId": [f"t{i}-{j}" for j in range(1000)],
                "ServiceName": [f"svc{i}"] * 1000,
            }
        )

    async def insert(i: int) -> None:
        for _ in range(3):
            await clickhouse_backend.insert_arrow("otel_traces", batch(i))

    async def query() -> list[int]:
        counts = []
        for _ in range(5):
            rows = await clickhouse_backend.query_rows("SELECT count() FROM otel_traces")
            counts.append(int(str(rows[0][0])))
        return counts

    _, seen = await asyncio.gather(
        asyncio.gather(*(insert(i) for i in range(8))), asyncio.gather(*(query() for _ in range(8)))
    )
    for counts in seen:  # every query answered, with a count of whole batches that never goes down
        assert counts == sorted(counts)
        assert all(n % 1000 == 0 and n <= 24_000 for n in counts)
    assert await clickhouse_backend.query_rows("SELECT count(), uniq(ServiceName) FROM otel_traces") == [
        (24_000, 8)
    ]
    # The view writes one lookup row per trace and insert block; readers take min(Start), max(End).
    assert await clickhouse_backend.query_rows("SELECT uniq(TraceId) FROM otel_traces_trace_id_ts") == [
        (8000,)
    ]


async def test_an_unreachable_server_fails_start_naming_the_backend() -> None:
    port = free_port()
    config = BackendConfig(
        endpoint=f"http://127.0.0.1:{port}", password="secret", connect_timeout=timedelta(seconds=1)
    )
    backend = ClickHouseBackend.from_config("remote", config)
    with pytest.raises(BackendStartError) as caught:
        await backend.start()
    message = str(caught.value)
    assert message.startswith(
        f"clickhouse backend 'remote' (http://127.0.0.1:{port}, database 'otel') failed to start: "
    )
    assert "Connection refused" in message
    assert "secret" not in message.split("failed to start", maxsplit=1)[0]
    assert not backend.started


async def test_calls_before_start_or_after_close_are_refused(backend_config: BackendConfig) -> None:
    backend = ClickHouseBackend.from_config("main", backend_config)
    with pytest.raises(RuntimeError, match="clickhouse backend 'main' is not started"):
        await backend.query_rows("SELECT 1")
    await backend.close()  # safe without start


async def test_a_second_chdb_folder_in_this_process_is_refused(
    clickhouse_backend: ClickHouseBackend, tmp_path: Path
) -> None:
    other = ClickHouseBackend.from_config("other", BackendConfig(endpoint=f"chdb://{tmp_path}/data"))
    open_folder, asked = real_path(clickhouse_backend.config.chdb_path()), real_path(tmp_path / "data")
    with pytest.raises(RuntimeError) as caught:
        await other.start()
    assert str(caught.value) == (
        f"backend 'other' cannot open chDB data folder {asked}: this process "
        f"already has {open_folder} open, and chDB opens one data folder per process"
    )
    assert await clickhouse_backend.query_rows("SELECT 1") == [(1,)]


async def test_two_backends_share_one_folder_with_different_databases(
    clickhouse_backend: ClickHouseBackend, backend_config: BackendConfig
) -> None:
    second = ClickHouseBackend.from_config("second", replace(backend_config, database=unique_database()))
    await second.start()
    try:
        await second.command("INSERT INTO otel_logs (Timestamp, Body) VALUES (now64(9), 'x')")
        assert await second.query_rows("SELECT count() FROM otel_logs") == [(1,)]
        assert await clickhouse_backend.query_rows("SELECT count() FROM otel_logs") == [(0,)]
        await second.command(f"DROP DATABASE `{second.database}` SYNC")
        await second.close()
        assert await clickhouse_backend.query_rows("SELECT 1") == [(1,)]  # the folder stays open
    finally:
        await second.close()


def test_a_second_process_on_the_same_folder_gets_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"chdb://{folder}", "hold"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        assert (folder / LOCK_FILE).read_text().strip() == str(holder.pid)
        second = run_child(f"chdb://{folder}", "count")
        assert second.returncode == 3, second.stderr
        assert second.stdout.strip() == (
            f"error: chDB data folder {os.path.realpath(folder)} is in use by another process "
            f"(pid {holder.pid}); one process per folder"
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    assert (folder / LOCK_FILE).read_text() == ""  # released on close


def test_data_survives_a_restart_of_the_process(tmp_path: Path) -> None:
    writer = run_child("chdb://./data", "write", cwd=tmp_path)  # relative to the working folder
    assert writer.returncode == 0, writer.stderr
    assert (tmp_path / "data" / LOCK_FILE).exists()
    reader = run_child(f"chdb://{tmp_path}/data", "count")
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.strip() == "count 1000"


# --- the extension --------------------------------------------------------------------------------


async def test_the_extension_starts_its_backends_and_looks_them_up_by_name(
    backend_config: BackendConfig,
) -> None:
    config = ClickHouseStorageConfig(backends={"main": backend_config})
    storage = FACTORY.create(settings(), config)
    assert isinstance(storage, ClickHouseStorage)
    await storage.start(FakeHost())
    try:
        main = storage.backend("main")
        assert main.started
        assert await main.query_rows("SELECT count() FROM otel_metrics_sum") == [(0,)]
        with pytest.raises(
            KeyError, match=r"extension clickhouse_storage has no backend 'nope' \(defined: main\)"
        ):
            storage.backend("nope")
        host = FakeHost({ComponentId("clickhouse_storage"): storage, ComponentId("health_check"): object()})
        assert backend_in(host.extensions(), "main") is main
        with pytest.raises(
            KeyError,
            match=r"no clickhouse_storage backend named 'x' \(defined: main \(in clickhouse_storage\)\)",
        ):
            backend_in(host.extensions(), "x")
    finally:
        await storage.backend("main").command(f"DROP DATABASE `{backend_config.database}` SYNC")
        await storage.shutdown()
    assert not storage.backend("main").started
    await storage.shutdown()


async def test_no_backend_extension_is_named_in_the_lookup_error() -> None:
    with pytest.raises(KeyError, match=r"add a clickhouse_storage extension to service\.extensions"):
        backend_in({}, "main")


async def test_a_new_extension_reopens_the_same_folder_after_shutdown(backend_config: BackendConfig) -> None:
    config = ClickHouseStorageConfig(backends={"main": backend_config})
    first = ClickHouseStorage(settings(), config)
    await first.start(FakeHost())
    await first.backend("main").command("INSERT INTO otel_logs (Timestamp, Body) VALUES (now64(9), 'kept')")
    await first.shutdown()

    second = ClickHouseStorage(settings(), config)  # a config reload in the same process
    await second.start(FakeHost())
    try:
        assert await second.backend("main").query_rows("SELECT Body FROM otel_logs") == [("kept",)]
    finally:
        await second.backend("main").command(f"DROP DATABASE `{backend_config.database}` SYNC")
        await second.shutdown()


async def test_a_failing_backend_closes_those_already_started(backend_config: BackendConfig) -> None:
    broken = replace(backend_config, database=backend_config.database + "_x", create_schema=False)
    storage = ClickHouseStorage(
        settings(), ClickHouseStorageConfig(backends={"ok": backend_config, "bad": broken})
    )
    with pytest.raises(SchemaVersionError, match="lacks schema migrations 0001_otel_tables"):
        await storage.start(FakeHost())
    assert not storage.backend("ok").started
    cleanup = ClickHouseBackend.from_config("cleanup", backend_config)
    await cleanup.start()
    await cleanup.command(f"DROP DATABASE `{backend_config.database}` SYNC")
    await cleanup.close()
