"""The owned schema: contrib's tables, rendered for one node or a cluster, applied for real on chDB."""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stdout
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from backend.clickhouse.schema import (
    SchemaTarget,
    load_migrations,
    main,
    render_all,
    render_statements,
    ttl_clause,
)
from tests.backend.conftest import unique_database

GOLDEN = Path(__file__).parent / "golden"
SQL = Path(__file__).resolve().parents[2] / "backend" / "sql"
CONTRIB_TABLES = [
    "otel_logs",
    "otel_metrics_exponential_histogram",
    "otel_metrics_gauge",
    "otel_metrics_histogram",
    "otel_metrics_sum",
    "otel_metrics_summary",
    "otel_traces",
    "otel_traces_trace_id_ts",
]


def check_golden(name: str, text: str) -> None:
    """Compare with golden/NAME; AIRIS_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if os.environ.get("AIRIS_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def declared_columns(statement: str) -> tuple[str, list[tuple[str, str]]]:
    """(table, [(column, type)]) of a rendered CREATE TABLE, Nested columns flattened as ClickHouse does."""
    table = re.search(r"CREATE TABLE IF NOT EXISTS `\w+`\.`(\w+)`", statement)
    assert table
    body = statement[statement.index("(") + 1 : statement.rindex(") ENGINE")]
    columns: list[tuple[str, str]] = []
    nested = ""
    for raw in body.splitlines():
        line = raw.strip().rstrip(",")
        if not line or line.startswith("INDEX "):
            continue
        if nested:
            if line.startswith(")"):
                nested = ""
            else:
                name, type_ = line.split(" ", 1)
                columns.append((f"{nested}.{name}", f"Array({type_})"))
            continue
        if line.endswith("Nested ("):
            nested = line.split(" ", 1)[0]
            continue
        name, rest = line.split(" ", 1)
        type_ = re.split(r" (?:CODEC|DEFAULT|ALIAS|MATERIALIZED)\b", rest)[0]
        columns.append((name, {"Boolean": "Bool"}.get(type_, type_)))
    return table.group(1), columns


def test_single_node_ddl_matches_golden() -> None:
    check_golden("schema_single_node.sql", render_all(SchemaTarget("otel", ttl=timedelta(hours=72))))


def test_cluster_ddl_matches_golden() -> None:
    check_golden(
        "schema_cluster.sql", render_all(SchemaTarget("otel", cluster="prod", ttl=timedelta(hours=72)))
    )


def test_cluster_ddl_has_local_replicated_tables_under_distributed_standard_names() -> None:
    statements = load_migrations()[0].render(SchemaTarget("otel", cluster="prod"))
    assert all(" ON CLUSTER `prod`" in s for s in statements)
    distributed = sorted(
        m.group(1)
        for s in statements
        if (
            m := re.search(
                r"`otel`\.`(\w+)` ON CLUSTER `prod`\nAS `otel`\.`\1_local`\nENGINE = Distributed", s
            )
        )
    )
    assert distributed == CONTRIB_TABLES
    replicated = [
        s for s in statements if "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}'" in s
    ]
    assert len(replicated) == len(CONTRIB_TABLES)
    view = next(s for s in statements if "MATERIALIZED VIEW" in s)
    assert "TO `otel`.`otel_traces_trace_id_ts_local`" in view
    assert "FROM `otel`.`otel_traces_local`" in view


def test_ttl_follows_contribs_largest_whole_unit_rule() -> None:
    assert (
        ttl_clause(timedelta(hours=72), "toDateTime(Timestamp)")
        == "TTL toDateTime(Timestamp) + toIntervalDay(3)"
    )
    assert ttl_clause(timedelta(hours=36), "TimestampTime") == "TTL TimestampTime + toIntervalHour(36)"
    assert ttl_clause(timedelta(minutes=90), "X") == "TTL X + toIntervalMinute(90)"
    assert ttl_clause(timedelta(seconds=45), "X") == "TTL X + toIntervalSecond(45)"
    assert ttl_clause(timedelta(0), "X") == ""


def test_no_ttl_leaves_no_ttl_line() -> None:
    script = render_all(SchemaTarget("otel"))
    assert "TTL " not in script
    assert "\n\n\n" not in script


@pytest.mark.parametrize("database", ["otel; DROP TABLE x", "1otel", "ot-el", "`otel`", ""])
def test_database_must_be_a_plain_identifier(database: str) -> None:
    with pytest.raises(ValueError, match="is not a plain identifier"):
        SchemaTarget(database)


def test_cluster_must_be_a_plain_identifier() -> None:
    with pytest.raises(ValueError, match="cluster 'a b' is not a plain identifier"):
        SchemaTarget("otel", cluster="a b")


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown or malformed placeholder"):
        render_statements("SELECT {{nope x}};", SchemaTarget("otel"))


def test_migrations_are_numbered_files_applied_in_order() -> None:
    migrations = load_migrations([("0002_b.sql", "SELECT 2;"), ("0001_a.sql", "SELECT 1;")])
    assert [(m.version, m.name, m.label) for m in migrations] == [(1, "a", "0001_a"), (2, "b", "0002_b")]
    with pytest.raises(ValueError, match=r"is not named NNNN_name\.sql"):
        load_migrations([("1_a.sql", "")])
    with pytest.raises(ValueError, match="two migrations have version 1"):
        load_migrations([("0001_a.sql", ""), ("0001_b.sql", "")])


def test_shipped_migrations_start_at_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert load_migrations()[0].label == "0001_otel_tables"


def test_every_contrib_statement_names_the_commit_it_was_read_at() -> None:
    text = (SQL / "0001_otel_tables.sql").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=-- \w+\.sql @ )", text)[1:]:
        assert re.match(r"-- \w+\.sql @ [0-9a-f]{40}\n", block)
    assert len(re.findall(r"^-- \w+\.sql @ [0-9a-f]{40}$", text, re.MULTILINE)) == 9


def test_schema_cli_prints_the_ddl_with_version_rows() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--database", "obs", "--cluster", "c1", "--ttl", "24h"]) == 0
    text = out.getvalue()
    assert text.startswith("CREATE DATABASE IF NOT EXISTS `obs` ON CLUSTER `c1`;\n")
    assert (
        "INSERT INTO `obs`.`airis_schema_versions` (version, name, applied_at)\nVALUES (1, 'otel_tables', now64(3));"
        in text
    )
    assert "toIntervalDay(1)" in text


async def test_applied_tables_have_contribs_columns_and_types(clickhouse_backend: ClickHouseBackend) -> None:
    target = SchemaTarget(clickhouse_backend.database)
    expected = dict(
        declared_columns(s) for s in load_migrations()[0].render(target) if s.startswith("CREATE TABLE")
    )
    assert sorted(expected) == CONTRIB_TABLES
    rows = await clickhouse_backend.query_rows(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} ORDER BY table, position",
        {"db": clickhouse_backend.database},
    )
    actual: dict[str, list[tuple[str, str]]] = {}
    for table, name, type_ in rows:
        actual.setdefault(str(table), []).append((str(name), str(type_)))
    contrib = {table: columns for table, columns in actual.items() if table in expected}
    assert contrib == expected
    assert expected["otel_traces"][:3] == [
        ("Timestamp", "DateTime64(9)"),
        ("TraceId", "String"),
        ("SpanId", "String"),
    ]
    assert ("Events.Attributes", "Array(Map(LowCardinality(String), String))") in expected["otel_traces"]
    assert ("TimestampTime", "DateTime") in expected["otel_logs"]


async def test_tables_keep_contribs_sorting_partitioning_and_indexes(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    rows = await clickhouse_backend.query_rows(
        "SELECT name, engine, partition_key, sorting_key, primary_key FROM system.tables "
        "WHERE database = {db:String} ORDER BY name",
        {"db": clickhouse_backend.database},
    )
    tables = {str(r[0]): r[1:] for r in rows}
    assert tables["otel_traces"] == (
        "MergeTree",
        "toDate(Timestamp)",
        "ServiceName, SpanName, toDateTime(Timestamp)",
        "ServiceName, SpanName, toDateTime(Timestamp)",
    )
    assert tables["otel_logs"] == (
        "MergeTree",
        "toDate(TimestampTime)",
        "ServiceName, TimestampTime, Timestamp",
        "ServiceName, TimestampTime",
    )
    assert (
        tables["otel_metrics_sum"][2]
        == "ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix)"
    )
    assert tables["otel_traces_trace_id_ts"][2] == "TraceId, Start"
    assert tables["otel_traces_trace_id_ts_mv"][0] == "MaterializedView"
    indexes = await clickhouse_backend.query_rows(
        "SELECT name, type_full FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = 'otel_traces' ORDER BY name",
        {"db": clickhouse_backend.database},
    )
    assert indexes == [
        ("idx_duration", "minmax"),
        ("idx_res_attr_key", "bloom_filter(0.01)"),
        ("idx_res_attr_value", "bloom_filter(0.01)"),
        ("idx_span_attr_key", "bloom_filter(0.01)"),
        ("idx_span_attr_value", "bloom_filter(0.01)"),
        ("idx_trace_id", "bloom_filter(0.001)"),
    ]


async def test_trace_id_ts_view_fills_when_spans_arrive(clickhouse_backend: ClickHouseBackend) -> None:
    traces = clickhouse_backend.table("otel_traces")
    await clickhouse_backend.command(
        f"INSERT INTO {traces} (Timestamp, TraceId, SpanId, ServiceName, SpanName) VALUES "
        "('2030-01-02 03:04:05.000000001', 't1', 's1', 'api', 'GET'), "
        "('2030-01-02 03:04:09.5', 't1', 's2', 'db', 'query'), "
        "('2030-01-02 04:00:00', 't2', 's3', 'api', 'POST'), "
        "('2030-01-02 04:00:00', '', 's4', 'api', 'orphan')"
    )
    rows = await clickhouse_backend.query_rows(
        f"SELECT TraceId, min(Start), max(End) FROM {clickhouse_backend.table('otel_traces_trace_id_ts')} "
        "GROUP BY TraceId ORDER BY TraceId"
    )
    assert rows == [
        ("t1", datetime(2030, 1, 2, 3, 4, 5), datetime(2030, 1, 2, 3, 4, 9)),
        ("t2", datetime(2030, 1, 2, 4, 0, 0), datetime(2030, 1, 2, 4, 0, 0)),
    ]


async def test_ttl_is_applied_to_every_table(chdb_folder: Path) -> None:
    backend = ClickHouseBackend(
        "ttl", BackendConfig(f"chdb://{chdb_folder}", unique_database(), ttl=timedelta(days=3))
    )
    await backend.start()
    try:
        rows = await backend.query_rows(
            "SELECT name, create_table_query FROM system.tables WHERE database = {db:String} "
            "AND engine LIKE '%MergeTree' ORDER BY name",
            {"db": backend.database},
        )
        ttl = {str(name): re.search(r"TTL (.*?) SETTINGS", str(q)) for name, q in rows}
        assert {n: m.group(1) if m else None for n, m in ttl.items()} == {
            "otel_logs": "TimestampTime + toIntervalDay(3)",
            "otel_metrics_exponential_histogram": "toDateTime(TimeUnix) + toIntervalDay(3)",
            "otel_metrics_gauge": "toDateTime(TimeUnix) + toIntervalDay(3)",
            "otel_metrics_histogram": "toDateTime(TimeUnix) + toIntervalDay(3)",
            "otel_metrics_sum": "toDateTime(TimeUnix) + toIntervalDay(3)",
            "otel_metrics_summary": "toDateTime(TimeUnix) + toIntervalDay(3)",
            "otel_traces": "toDateTime(Timestamp) + toIntervalDay(3)",
            "otel_traces_trace_id_ts": "toDateTime(Start) + toIntervalDay(3)",
            "airis_traces_by_id": "toDateTime(Timestamp) + toIntervalDay(3)",
            **{
                f"otel_metrics_{kind}_{level}": "Bucket + toIntervalDay(3)"
                for kind in ("gauge", "sum", "histogram")
                for level in ("1m", "1h")
            },
            "airis_schema_versions": None,  # kept forever
        }
    finally:
        await backend.command(f"DROP DATABASE IF EXISTS `{backend.database}` SYNC")
        await backend.close()
