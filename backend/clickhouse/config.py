"""Config of the `clickhouse_storage` extension: named backends, each a chDB folder or a ClickHouse server."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from collector.configstruct import format_duration
from collector.errors import ConfigError, Problem

CHDB_SCHEME = "chdb://"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class BackendConfig:
    """One storage backend: where ClickHouse is, which database, and how the schema is managed."""

    # chdb://PATH (embedded; `chdb://./data` relative to the working folder, `chdb:///var/lib/airis`
    # absolute) or http(s)://host:port (a ClickHouse server).
    endpoint: str = "chdb://./data"
    # The database holding every table; created (with the tables) when create_schema is true.
    database: str = "otel"
    # Create the database and apply pending migrations at start; false only checks they are applied.
    create_schema: bool = True
    # How long rows are kept (contrib's TTL rule); 0 keeps them forever.
    ttl: timedelta = timedelta(0)
    # A server cluster: ON CLUSTER DDL, Replicated*MergeTree `<table>_local` tables, Distributed tables.
    cluster: str = ""
    # Credentials for a server (ignored by chDB).
    username: str = ""
    password: str = ""
    # How long connecting to a server, or waiting for a chDB folder's lock, may take.
    connect_timeout: timedelta = timedelta(seconds=10)
    # max_execution_time of every query and command.
    query_timeout: timedelta = timedelta(seconds=30)

    @property
    def is_chdb(self) -> bool:
        """Whether the endpoint is an embedded chDB folder."""
        return self.endpoint.startswith(CHDB_SCHEME)

    def chdb_path(self) -> str:
        """The absolute chDB data folder (relative paths resolve against the working folder)."""
        if not self.is_chdb:
            raise ValueError(f"endpoint {self.endpoint!r} is not a chdb:// endpoint")
        return os.path.abspath(self.endpoint[len(CHDB_SCHEME) :])

    def validate(self) -> None:
        problems: list[Problem] = []
        if self.is_chdb:
            if not self.endpoint[len(CHDB_SCHEME) :].strip():
                problems.append(Problem("endpoint", f"{self.endpoint!r} names no folder (chdb://./data)"))
        else:
            parts = urlsplit(self.endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(
                    Problem(
                        "endpoint",
                        f"{self.endpoint!r} must be chdb://PATH or http(s)://host:port",
                    )
                )
            elif parts.username or parts.password:
                problems.append(
                    Problem("endpoint", "must not hold credentials: set username and password instead")
                )
            else:
                try:
                    parts.port  # noqa: B018 (raises on a bad port)
                except ValueError:
                    problems.append(Problem("endpoint", f"{self.endpoint!r} has an invalid port"))
        if not _IDENTIFIER.match(self.database):
            problems.append(Problem("database", f"{self.database!r} is not a plain identifier"))
        if self.cluster and not _IDENTIFIER.match(self.cluster):
            problems.append(Problem("cluster", f"{self.cluster!r} is not a plain identifier"))
        if self.cluster and self.is_chdb:
            problems.append(Problem("cluster", f"{self.cluster!r} needs a server endpoint, not chDB"))
        if self.ttl < timedelta(0):
            problems.append(Problem("ttl", f"{format_duration(self.ttl)} must not be negative"))
        for name in ("connect_timeout", "query_timeout"):
            if getattr(self, name) <= timedelta(0):
                problems.append(Problem(name, f"{format_duration(getattr(self, name))} must be positive"))
        if problems:
            raise ConfigError(problems)


@dataclass
class ClickHouseStorageConfig:
    """Named backends, looked up by name by the clickhouse exporter and the query services."""

    backends: dict[str, BackendConfig] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.backends:
            raise ConfigError([Problem("backends", "define at least one backend (e.g. main: {})")])
        problems: list[Problem] = []
        folders = {name: b.chdb_path() for name, b in self.backends.items() if b.is_chdb}
        if len(set(folders.values())) > 1:
            listed = ", ".join(f"{name}: {path}" for name, path in folders.items())
            problems.append(
                Problem("backends", f"chDB opens one data folder per process, these name several: {listed}")
            )
        for name in self.backends:
            if not name.strip():
                problems.append(Problem("backends", "a backend name must not be empty"))
        if problems:
            raise ConfigError(problems)
