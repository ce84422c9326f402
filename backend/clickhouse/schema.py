"""The owned schema: numbered migrations (`backend/sql/NNNN_name.sql`) and their rendering.

A migration file is a template (its header in `0001_otel_tables.sql` lists the placeholders); this
module fills in the database, cluster, engine and TTL. Only identifiers that match
`^[A-Za-z_][A-Za-z0-9_]*$` reach the SQL, always backquoted; no other user text does.

Cluster scheme (`cluster: name`): every statement gets `ON CLUSTER name`; each storage table is a
shard-local `Replicated*MergeTree` named `<table>_local` (ZooKeeper path
`/clickhouse/tables/{shard}/{database}/{table}`, replica `{replica}`: the server's macros), and a
`Distributed(name, db, <table>_local, key)` table takes the standard name, so readers (Grafana, the
query services) and writers use the standard names everywhere. Materialized views read and write
the local tables of their shard. `airis_schema_versions` is one replica set spanning every node.

To add a migration, add `backend/sql/NNNN_name.sql` with the next number: statements must be safe to
run again (`IF NOT EXISTS`), since a migration interrupted half-way is run again whole.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VERSIONS_TABLE = "airis_schema_versions"
LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)(?:\s+([^}]*?))?\s*\}\}")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_ENGINE_FAMILY = re.compile(r"^[A-Za-z]*MergeTree$")


def check_identifier(value: str, what: str) -> str:
    """`value` if it is a plain ClickHouse identifier; ValueError naming `what` otherwise."""
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} is not a plain identifier (letters, digits and '_', not starting with a digit)"
        )
    return value


def quote(identifier: str) -> str:
    """A checked identifier in backquotes."""
    return f"`{check_identifier(identifier, 'identifier')}`"


def ttl_clause(ttl: timedelta, time_expr: str) -> str:
    """contrib's TTL rule: the largest whole unit of days, hours, minutes, seconds; '' for no TTL."""
    seconds = int(ttl.total_seconds())
    if seconds <= 0:
        return ""
    for unit, size in (("Day", 86400), ("Hour", 3600), ("Minute", 60)):
        if seconds % size == 0:
            return f"TTL {time_expr} + toInterval{unit}({seconds // size})"
    return f"TTL {time_expr} + toIntervalSecond({seconds})"


@dataclass(frozen=True)
class SchemaTarget:
    """Where and how the DDL lands: database, optional cluster and retention."""

    database: str
    cluster: str = ""
    ttl: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        check_identifier(self.database, "database")
        if self.cluster:
            check_identifier(self.cluster, "cluster")

    def name(self, table: str) -> str:
        """The fully qualified, quoted name `db`.`table`."""
        return f"{quote(self.database)}.{quote(table)}"

    def storage_table(self, table: str) -> str:
        """Where rows of `table` are stored: the table itself, or `<table>_local` on a cluster."""
        return table + LOCAL_SUFFIX if self.cluster else table

    @property
    def on_cluster(self) -> str:
        """` ON CLUSTER `name`` or ''."""
        return f" ON CLUSTER {quote(self.cluster)}" if self.cluster else ""

    def engine(self, family: str) -> str:
        """`Family()` or, on a cluster, `ReplicatedFamily(path, replica)` with the server's macros."""
        if not _ENGINE_FAMILY.match(family):
            raise ValueError(f"engine {family!r} is not a MergeTree family engine")
        if self.cluster:
            return f"Replicated{family}('{REPLICA_PATH}', '{{replica}}')"
        return f"{family}()"

    def distributed(self, table: str, sharding_key: str) -> str:
        """The Distributed table under the standard name over the local tables ('' without a cluster)."""
        if not self.cluster:
            return ""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name(table)}{self.on_cluster}\n"
            f"AS {self.name(self.storage_table(table))}\n"
            f"ENGINE = Distributed({quote(self.cluster)}, {quote(self.database)}, "
            f"{quote(self.storage_table(table))}, {sharding_key})"
        )


@dataclass(frozen=True)
class Migration:
    """One numbered migration: `version` and `name` from its file name, `template` its text."""

    version: int
    name: str
    template: str

    @property
    def label(self) -> str:
        """`0001_otel_tables`, as the file is named."""
        return f"{self.version:04d}_{self.name}"

    def render(self, target: SchemaTarget) -> list[str]:
        """The statements of this migration for `target`, in order, without trailing ';'."""
        return render_statements(self.template, target)


def render_statements(template: str, target: SchemaTarget) -> list[str]:
    """Fill the placeholders of `template` and split it into statements (empty ones dropped)."""
    lines = [line for line in template.splitlines() if not line.lstrip().startswith("--")]
    statements: list[str] = []
    for chunk in _STATEMENT_END.split("\n".join(lines)):
        rendered = []
        for line in chunk.splitlines():
            out = _PLACEHOLDER.sub(lambda m: _fill(m.group(1), m.group(2) or "", target), line)
            if out.strip() or not _PLACEHOLDER.search(line):
                rendered.append(out.rstrip())
        statement = "\n".join(rendered).strip()
        if statement:
            statements.append(statement)
    return statements


def _fill(kind: str, argument: str, target: SchemaTarget) -> str:
    args = argument.split(None, 1)
    if kind == "table" and len(args) == 1:
        return target.name(target.storage_table(args[0]))
    if kind == "view" and len(args) == 1:
        return target.name(args[0])
    if kind == "on_cluster" and not args:
        return target.on_cluster
    if kind == "engine" and len(args) == 1:
        return target.engine(args[0])
    if kind == "ttl" and args:
        return ttl_clause(target.ttl, argument.strip())
    if kind == "distributed" and len(args) == 2:
        return target.distributed(args[0], args[1])
    raise ValueError(f"unknown or malformed placeholder {{{{{kind} {argument}}}}}")


def versions_table_ddl(target: SchemaTarget) -> str:
    """DDL of `airis_schema_versions` (on a cluster: one replica set across every node)."""
    if target.cluster:
        engine = (
            f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{database}}/{VERSIONS_TABLE}', '{{replica}}')"
        )
    else:
        engine = "ReplacingMergeTree()"
    return (
        f"CREATE TABLE IF NOT EXISTS {target.name(VERSIONS_TABLE)}{target.on_cluster} (\n"
        "    version UInt32,\n"
        "    name String,\n"
        "    applied_at DateTime64(3)\n"
        f") ENGINE = {engine}\n"
        "ORDER BY version"
    )


def database_ddl(target: SchemaTarget) -> str:
    """`CREATE DATABASE IF NOT EXISTS` for the target."""
    return f"CREATE DATABASE IF NOT EXISTS {quote(target.database)}{target.on_cluster}"


def load_migrations(texts: Iterable[tuple[str, str]] | None = None) -> list[Migration]:
    """Every migration, oldest first: from `backend/sql` or, for tests, (file name, text) pairs."""
    if texts is None:
        folder = resources.files("backend.sql")
        texts = [(f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir() if f.name.endswith(".sql")]
    migrations: dict[int, Migration] = {}
    for file_name, text in texts:
        m = _MIGRATION_FILE.match(file_name)
        if not m:
            raise ValueError(f"migration file {file_name!r} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in migrations:
            raise ValueError(
                f"two migrations have version {version}: {migrations[version].label}, {file_name}"
            )
        migrations[version] = Migration(version, m.group(2), text)
    return [migrations[v] for v in sorted(migrations)]


def render_all(target: SchemaTarget, migrations: list[Migration] | None = None) -> str:
    """The whole schema for `target` as one script: database, versions table, every migration."""
    statements = [database_ddl(target), versions_table_ddl(target)]
    for migration in load_migrations() if migrations is None else migrations:
        statements.extend(migration.render(target))
        statements.append(
            f"INSERT INTO {target.name(VERSIONS_TABLE)} (version, name, applied_at)\n"
            f"VALUES ({migration.version}, '{migration.name}', now64(3))"
        )
    return "".join(f"{s};\n\n" for s in statements).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m backend.clickhouse.schema --database otel [--cluster c] [--ttl 72h]`: print the DDL."""
    import argparse

    from collector.configstruct import parse_duration

    parser = argparse.ArgumentParser(description="Print airis's ClickHouse DDL, to apply by hand.")
    parser.add_argument("--database", default="otel")
    parser.add_argument("--cluster", default="")
    parser.add_argument("--ttl", default="0", help="a duration such as 72h; 0 keeps data forever")
    args = parser.parse_args(argv)
    target = SchemaTarget(args.database, args.cluster, parse_duration(args.ttl))
    sys.stdout.write(render_all(target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
