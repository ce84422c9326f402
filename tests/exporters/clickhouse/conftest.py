"""The chDB fixtures of tests/backend (one folder per pytest process, a fresh database per test)."""

from tests.backend.conftest import backend_config, chdb_folder, clickhouse_backend

__all__ = ["backend_config", "chdb_folder", "clickhouse_backend"]
