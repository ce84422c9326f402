"""Storage at scale: millions of realistic, never repeated spans and log records in embedded ClickHouse.

`python -m bench.storage_scale [--spans 10000000] [--logs 2000000] [--folder PATH] [--query-only]
[--experiments SETTINGS ...]`

Every request is freshly made by bench/telemetry_data.py's `Generator` (its own seed per request, in
a pool of worker processes), its timestamps stretched so that all the data covers `--hours` of time
ending now, and written in-process through the clickhouse exporter (`exporters.clickhouse.traces`
and `.logs`, `--*-per-request` items per insert) into a chDB folder. Then, without OPTIMIZE (only
ClickHouse's own background merges, waited for until they settle): rows and bytes per table
(system.parts), bytes per span and per log record, where otel_traces' bytes go (columns, skip
indexes, marks), and trace-by-id latency with the query Grafana's ClickHouse data source runs in
OTel mode, through the backend (bound parameters) and through a raw chDB session (also its two
steps apart, and what ClickHouse read per lookup), checking that every trace comes back whole.
`--experiments` measures copies of otel_traces that differ by MergeTree settings, codecs or
projections (see `parse_overrides`), interleaved with the real table; the schema files are untouched.
One JSON document on stdout (and in `--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from bench.telemetry_data import Generator
from collector.pdata import Batch
from collector.signal import Signal

DB = "otel"
SPANS_PER_TRACE = 10  # Generator.traces makes whole traces of 10 spans
TABLES = ("otel_traces", "otel_traces_trace_id_ts", "otel_logs")


# Grafana's ClickHouse data source, trace-by-id in OTel mode (the query ClickHouse's observability
# docs show for "View Trace"): the trace's time range from otel_traces_trace_id_ts, then its spans.
def trace_by_id(database: str = DB, given_range: bool = False, lookup_database: str = DB) -> str:
    """The trace-by-id query, spans from `database`.otel_traces, range from `lookup_database`'s lookup table.

    `given_range`: the spans part alone, the range bound as {trace_start:DateTime}, {trace_end:DateTime}.
    """
    lookup = f'"{lookup_database}"."otel_traces_trace_id_ts" WHERE TraceId = trace_id'
    start, end = (
        ("{trace_start:DateTime}", "{trace_end:DateTime}")
        if given_range
        else (f"(SELECT min(Start) FROM {lookup})", f"(SELECT max(End) + 1 FROM {lookup})")
    )
    return f"""WITH {{trace_id:String}} AS trace_id, {start} AS trace_start, {end} AS trace_end
SELECT "TraceId" AS traceID, "SpanId" AS spanID, "ParentSpanId" AS parentSpanID,
  "ServiceName" AS serviceName, "SpanName" AS operationName, "Timestamp" AS startTime,
  multiply("Duration", 0.000001) AS duration,
  arrayMap(key -> map('key', key, 'value', "SpanAttributes"[key]), mapKeys("SpanAttributes")) AS tags,
  arrayMap(key -> map('key', key, 'value', "ResourceAttributes"[key]), mapKeys("ResourceAttributes"))
    AS serviceTags
FROM "{database}"."otel_traces"
WHERE traceID = trace_id AND startTime >= trace_start AND startTime <= trace_end
LIMIT 1000"""


def trace_range(lookup_database: str = DB) -> str:
    """Step 1 of the trace-by-id query alone (Grafana runs it as two scalar subqueries)."""
    return (
        f'SELECT min(Start), max(End) + 1 FROM "{lookup_database}"."otel_traces_trace_id_ts" '
        "WHERE TraceId = {trace_id:String}"
    )


TRACE_BY_ID = trace_by_id()


# ---------------------------------------------------------------------------------------------------
# Data: one fresh request per index, made in a worker process


def trace_request(index: int, spans: int, seed: int, start_ns: int, window_ns: int) -> bytes:
    """Request `index`: `spans` spans (whole traces) whose traces start within its slice of time.

    The Generator's clock advances ~1 ms per trace; the trace starts are stretched to fill
    [start_ns + index * window_ns, + window_ns) while each span keeps its offset within its trace
    and its duration.
    """
    gen = Generator(seed * 1_000_003 + index)
    begin = start_ns + index * window_ns
    gen.clock = begin
    request = gen.traces(spans)
    scale = window_ns / max(gen.clock - begin, 1)
    roots: dict[bytes, int] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if not span.parent_span_id:
                    roots[span.trace_id] = span.start_time_unix_nano
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                shift = int((roots[span.trace_id] - begin) * (scale - 1))
                span.start_time_unix_nano += shift
                span.end_time_unix_nano += shift
    return bytes(request.SerializeToString())


def log_request(index: int, records: int, seed: int, start_ns: int, window_ns: int) -> bytes:
    """Request `index`: `records` log records spread over its slice of time."""
    gen = Generator(seed * 1_000_003 + 500_000 + index)
    begin = start_ns + index * window_ns
    gen.clock = begin
    request = gen.logs(records)
    scale = window_ns / max(gen.clock - begin, 1)
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                record.time_unix_nano = begin + int((record.time_unix_nano - begin) * scale)
                record.observed_time_unix_nano = record.time_unix_nano + 1000
    return bytes(request.SerializeToString())


# ---------------------------------------------------------------------------------------------------
# Load


def cpu_seconds() -> float:
    """CPU time of this process (all its threads: Python, chDB's insert and merge threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(
    backend: ClickHouseBackend,
    signal: Signal,
    total: int,
    per_request: int,
    args: argparse.Namespace,
    start_ns: int,
    window_ns: int,
) -> dict[str, Any]:
    """Generate and write `total` items of `signal`, `per_request` per insert; rates and timings."""
    from exporters.clickhouse import logs, traces

    if signal is Signal.TRACES:
        per_request -= per_request % SPANS_PER_TRACE
        total -= total % SPANS_PER_TRACE
    make: Callable[[int, int, int, int, int], bytes] = (
        trace_request if signal is Signal.TRACES else log_request
    )
    write = traces.write if signal is Signal.TRACES else logs.write
    table = "otel_traces" if signal is Signal.TRACES else "otel_logs"
    requests = math.ceil(total / per_request)
    slice_ns = window_ns // requests
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=args.concurrency)
    insert_seconds: list[float] = []
    written = 0

    async def produce(pool: ProcessPoolExecutor) -> None:
        pending: list[asyncio.Future[bytes]] = []
        for index in range(requests):
            items = min(per_request, total - index * per_request)
            pending.append(loop.run_in_executor(pool, make, index, items, args.seed, start_ns, slice_ns))
            if len(pending) > args.workers:
                await queue.put(await pending.pop(0))
        for future in pending:
            await queue.put(await future)
        for _ in range(args.concurrency):
            await queue.put(None)

    async def consume() -> None:
        nonlocal written
        while (body := await queue.get()) is not None:
            batch = Batch.from_otlp_bytes(signal, body)
            count = len(batch)
            started = time.perf_counter()
            await write(backend, table, batch)
            insert_seconds.append(time.perf_counter() - started)
            written += count
            if len(insert_seconds) % 50 == 0:
                print(f"  {signal.value}: {written:,} written", flush=True)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        await loop.run_in_executor(pool, make, 0, SPANS_PER_TRACE, args.seed, start_ns, slice_ns)  # warm
        load_before, cpu0, started = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
        await asyncio.gather(produce(pool), *(consume() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    insert_seconds.sort()
    return {
        "items": written,
        "requests": requests,
        "items_per_request": per_request,
        "seconds": round(elapsed, 1),
        "items_per_s": round(written / elapsed),
        "insert_s_p50": round(statistics.median(insert_seconds), 3),
        "insert_s_max": round(insert_seconds[-1], 3),
        "items_per_insert_second": round(written / sum(insert_seconds) * args.concurrency),
        "writer_process_cpu_cores": round((cpu_seconds() - cpu0) / elapsed, 2),
        "loadavg_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


# ---------------------------------------------------------------------------------------------------
# Measurements


async def rows(backend: ClickHouseBackend, sql: str, **parameters: object) -> list[tuple[Any, ...]]:
    """The rows of `sql` with bound parameters."""
    return await backend.query_rows(sql, parameters=parameters or None)


async def settle(backend: ClickHouseBackend, limit_s: float, database: str = DB) -> dict[str, Any]:
    """Wait until no merge runs and the active part counts stay put for 20 s (at most `limit_s`)."""
    sql = (
        "SELECT (SELECT count() FROM system.merges WHERE database = {db:String}), "
        "(SELECT count() FROM system.parts WHERE database = {db:String} AND active)"
    )
    started = time.monotonic()
    first = await rows(backend, sql, db=database)
    quiet_since, last = time.monotonic(), first[0]
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(5)
        (now,) = await rows(backend, sql, db=database)
        if now[0] or now[1] != last[1]:
            quiet_since = time.monotonic()
        last = now
        if time.monotonic() - quiet_since >= 20:
            break
    return {
        "waited_s": round(time.monotonic() - started),
        "settled": time.monotonic() - quiet_since >= 20,
        "active_parts_before_after": [int(first[0][1]), int(last[1])],
    }


async def sizes(backend: ClickHouseBackend, database: str = DB) -> dict[str, Any]:
    """Per table: active parts, rows and bytes (system.parts)."""
    result = await rows(
        backend,
        "SELECT table, count(), countIf(part_type = 'Compact'), uniqExact(partition), sum(rows), "
        "sum(bytes_on_disk), sum(data_compressed_bytes), sum(data_uncompressed_bytes), "
        "sum(secondary_indices_compressed_bytes), sum(marks_bytes), sum(primary_key_size) "
        "FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
        db=database,
    )
    return {
        str(r[0]): {
            "parts": int(r[1]),
            "compact_parts": int(r[2]),
            "partitions": int(r[3]),
            "rows": int(r[4]),
            "bytes_on_disk": int(r[5]),
            "data_compressed_bytes": int(r[6]),
            "data_uncompressed_bytes": int(r[7]),
            "skip_index_bytes": int(r[8]),
            "marks_bytes": int(r[9]),
            "primary_key_bytes": int(r[10]),
        }
        for r in result
    }


async def columns(backend: ClickHouseBackend, table: str, items: int) -> dict[str, Any]:
    """Compressed bytes per column and per skip index of `table`, biggest first, with B/item.

    Compact parts (small, fresh ones) do not count bytes per column: what they hold is `in_compact_parts`.
    """
    cols = await rows(
        backend,
        "SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns "
        "WHERE database = {db:String} AND table = {t:String} ORDER BY data_compressed_bytes DESC",
        db=DB,
        t=table,
    )
    indexes = await rows(
        backend,
        "SELECT name, data_compressed_bytes FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = {t:String} ORDER BY data_compressed_bytes DESC",
        db=DB,
        t=table,
    )
    (compact,) = await rows(
        backend,
        "SELECT sum(data_compressed_bytes) FROM system.parts "
        "WHERE database = {db:String} AND table = {t:String} AND active AND part_type = 'Compact'",
        db=DB,
        t=table,
    )
    per = max(items, 1)
    return {
        "columns": {
            str(name): {
                "compressed": int(c),
                "uncompressed": int(u),
                "B_per_item": round(int(c) / per, 2),
                "ratio": round(int(u) / max(int(c), 1), 1),
            }
            for name, c, u in cols
        },
        "in_compact_parts": int(compact[0] or 0),
        "skip_indexes": {
            str(name): {"bytes": int(c), "B_per_item": round(int(c) / per, 2)} for name, c in indexes
        },
    }


def percentiles(timings: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of millisecond timings."""
    ordered = sorted(timings)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1], 1)}


async def trace_lookups(
    backend: ClickHouseBackend,
    folder: str,
    ids: list[str],
    databases: Sequence[str] = (DB,),
    lookups: Mapping[str, str] | None = None,
    warm: int = 10,
) -> dict[str, dict[str, Any]]:
    """Per database (spans read from its otel_traces): the trace-by-id query timed for each id via the
    backend, then via a raw chDB session, then its two steps apart; incomplete traces counted.

    With several databases the lookups are interleaved (each id in every database, in rotating
    order), so that a busy machine slows them all alike. `lookups`: the database whose
    otel_traces_trace_id_ts gives the time range, per database (otel by default).
    """
    from chdb import session as chdb_session

    open_session: Any = chdb_session.Session  # chDB's own API, untyped
    lookup = {database: (lookups or {}).get(database, DB) for database in databases}
    sqls = {database: trace_by_id(database, lookup_database=lookup[database]) for database in databases}
    spans_sqls = {database: trace_by_id(database, given_range=True) for database in databases}

    def rotated(n: int) -> list[str]:
        return [databases[(n + i) % len(databases)] for i in range(len(databases))]

    for trace_id in ids[:warm]:  # a few lookups first: opened files, loaded marks
        for database in databases:
            await backend.query_rows(sqls[database], parameters={"trace_id": trace_id})
    ids = ids[warm:]
    timings: dict[str, list[float]] = {database: [] for database in databases}
    wrong = dict.fromkeys(databases, 0)
    for n, trace_id in enumerate(ids):
        for database in rotated(n):
            started = time.perf_counter()
            found = await backend.query_rows(sqls[database], parameters={"trace_id": trace_id})
            timings[database].append((time.perf_counter() - started) * 1000)
            wrong[database] += len(found) != SPANS_PER_TRACE or any(row[0] != trace_id for row in found)
    raw: dict[str, list[float]] = {database: [] for database in databases}
    engine: dict[str, list[float]] = {database: [] for database in databases}
    events: dict[str, dict[str, int]] = {database: dict.fromkeys(PROFILE_EVENTS, 0) for database in databases}
    ranges: dict[str, list[float]] = {database: [] for database in databases}
    spans: dict[str, list[float]] = {database: [] for database in databases}
    session = open_session(folder)
    try:
        for n, trace_id in enumerate(ids):
            for database in rotated(n):
                before = _events(session)
                started = time.perf_counter()
                result = session.query(sqls[database], "Native", params={"trace_id": trace_id})
                result.bytes()
                raw[database].append((time.perf_counter() - started) * 1000)
                engine[database].append(result.elapsed() * 1000)
                after = _events(session)
                for name in PROFILE_EVENTS:
                    events[database][name] += after.get(name, 0) - before.get(name, 0)
        # The two steps apart: the time range from the lookup table, then the spans in that range.
        for n, trace_id in enumerate(ids):
            for database in rotated(n):
                started = time.perf_counter()
                query = trace_range(lookup[database])
                found = session.query(query, "TSV", params={"trace_id": trace_id}).bytes()
                ranges[database].append((time.perf_counter() - started) * 1000)
                start, end = found.decode().strip().split("\t")
                params = {"trace_id": trace_id, "trace_start": start, "trace_end": end}
                started = time.perf_counter()
                session.query(spans_sqls[database], "Native", params=params).bytes()
                spans[database].append((time.perf_counter() - started) * 1000)
    finally:
        session.close()
    return {
        database: {
            "backend_ms": percentiles(timings[database]),
            "raw_chdb_session_ms": percentiles(raw[database]),
            "raw_chdb_engine_elapsed_ms": percentiles(engine[database]),
            "raw_step_ms": {
                "time_range_lookup": percentiles(ranges[database]),
                "spans_in_range": percentiles(spans[database]),
            },
            "traces_not_whole": wrong[database],
            "profile_events_per_lookup": {
                name: round(value / len(ids), 1) for name, value in events[database].items()
            },
        }
        for database in databases
    }


PROFILE_EVENTS = (
    "SelectedParts",
    "SelectedRanges",
    "SelectedMarks",
    "SelectedRows",
    "CompressedReadBufferBlocks",
    "CompressedReadBufferBytes",
    "FileOpen",
)
"""ClickHouse's counters of what a lookup reads (process-wide: background merges count too)."""


def _events(session: Any) -> dict[str, int]:
    names = ", ".join(f"'{name}'" for name in PROFILE_EVENTS)
    text = session.query(f"SELECT event, value FROM system.events WHERE event IN ({names})", "TSV").bytes()
    return {name: int(value) for name, value in (line.split("\t") for line in text.decode().splitlines())}


async def explain(backend: ClickHouseBackend, trace_id: str, sql: str = TRACE_BY_ID) -> list[str]:
    """EXPLAIN indexes = 1 of the trace lookup for one id: which parts and granules it reads."""
    found = await backend.query_rows(f"EXPLAIN indexes = 1 {sql}", parameters={"trace_id": trace_id})
    return [str(row[0]) for row in found]


async def measure(backend: ClickHouseBackend, folder: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything measured on a loaded folder."""
    result: dict[str, Any] = {"merges": await settle(backend, args.settle_seconds)}
    tables = await sizes(backend)
    result["tables"] = tables
    spans = tables.get("otel_traces", {}).get("rows", 0)
    records = tables.get("otel_logs", {}).get("rows", 0)
    if spans:
        (check,) = await rows(
            backend,
            f"SELECT count(), uniqExact(TraceId), uniqExact(SpanId), min(Timestamp), max(Timestamp), "
            f"uniqExact(SpanAttributes['user.id']) FROM {DB}.otel_traces",
        )
        result["traces_check"] = {
            "spans": int(check[0]),
            "distinct_trace_ids": int(check[1]),
            "distinct_span_ids": int(check[2]),
            "first": str(check[3]),
            "last": str(check[4]),
            "distinct_user_ids": int(check[5]),
        }
        traces_bytes = tables["otel_traces"]["bytes_on_disk"]
        lookup_bytes = tables.get("otel_traces_trace_id_ts", {}).get("bytes_on_disk", 0)
        result["bytes_per_span"] = {
            "otel_traces": round(traces_bytes / spans, 1),
            "incl_otel_traces_trace_id_ts": round((traces_bytes + lookup_bytes) / spans, 1),
        }
        result["otel_traces_breakdown"] = await columns(backend, "otel_traces", spans)
        ids = [
            str(r[0])
            for r in await rows(
                backend,
                f"SELECT TraceId FROM {DB}.otel_traces WHERE ParentSpanId = '' ORDER BY rand() LIMIT {{n:UInt32}}",
                n=args.queries + 10,
            )
        ]
        experiments: dict[str, dict[str, Any]] = {}
        try:
            for number, overrides in enumerate(args.experiments):
                database = f"otel_experiment_{number}"
                experiments[database] = await build_experiment(backend, database, overrides, args)
            lookups = {database: built["lookup_database"] for database, built in experiments.items()}
            found = await trace_lookups(backend, folder, ids, [DB, *experiments], lookups)
            result["trace_by_id"] = found[DB]
            result["trace_by_id_explain"] = await explain(backend, ids[0])
            for number, (database, built) in enumerate(experiments.items()):
                built["trace_by_id"] = found[database]
                sql = trace_by_id(database, lookup_database=lookups[database])
                built["trace_by_id_explain"] = await explain(backend, ids[0], sql)
                result[f"experiment_{number}"] = built
        finally:
            for database in experiments:
                await backend.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    if records:
        (check,) = await rows(
            backend, f"SELECT count(), uniqExact(Body), min(Timestamp), max(Timestamp) FROM {DB}.otel_logs"
        )
        result["logs_check"] = {
            "records": int(check[0]),
            "distinct_bodies": int(check[1]),
            "first": str(check[2]),
            "last": str(check[3]),
        }
        result["bytes_per_log_record"] = round(tables["otel_logs"]["bytes_on_disk"] / records, 1)
        result["otel_logs_breakdown"] = await columns(backend, "otel_logs", records)
    return result


def with_settings(ddl: str, table: str, database: str, overrides: dict[str, str]) -> str:
    """`ddl` (SHOW CREATE TABLE otel.`table`) for `database`.`table` with MergeTree settings changed."""
    head = f"CREATE TABLE {DB}.{table}\n"
    body, sep, settings = ddl.rpartition("\nSETTINGS ")
    if not ddl.startswith(head) or not sep:
        raise RuntimeError(f"unexpected {table} DDL: {ddl}")
    merged = dict(item.split(" = ", 1) for item in settings.strip().split(", "))
    merged.update(overrides)
    listed = ", ".join(f"{key} = {value}" for key, value in merged.items())
    return f"CREATE TABLE {database}.{table}\n" + body[len(head) :] + f"\nSETTINGS {listed}"


async def build_experiment(
    backend: ClickHouseBackend, database: str, overrides: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """otel_traces copied into `database`.otel_traces, a table that differs only by `overrides`:
    MergeTree settings (`index_granularity`: `1024`), column codecs (`codec.SpanAttributes`:
    `ZSTD(3)`) and projections (`projection.by_trace`: `SELECT * ORDER BY TraceId`); `lookup.X`
    settings copy otel_traces_trace_id_ts too, with MergeTree setting X changed, for its time range.

    The copy is made in 20 slices of time, in time order, so that its parts cover successive time
    ranges as ingested parts do; its merges settle before it is measured.
    """
    codecs = {key[len("codec.") :]: value for key, value in overrides.items() if key.startswith("codec.")}
    projections = {
        key[len("projection.") :]: value for key, value in overrides.items() if key.startswith("projection.")
    }
    lookup = {key[len("lookup.") :]: value for key, value in overrides.items() if key.startswith("lookup.")}
    settings = {
        key: value
        for key, value in overrides.items()
        if not key.startswith(("codec.", "projection.", "lookup."))
    }
    (ddl,) = await rows(backend, f"SHOW CREATE TABLE {DB}.otel_traces")
    await backend.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    await backend.command(f"CREATE DATABASE {database}")
    await backend.command(with_settings(str(ddl[0]), "otel_traces", database, settings))
    if lookup:  # its own copy of the lookup table, with these settings
        table = "otel_traces_trace_id_ts"
        (lookup_ddl,) = await rows(backend, f"SHOW CREATE TABLE {DB}.{table}")
        await backend.command(with_settings(str(lookup_ddl[0]), table, database, lookup))
        await backend.command(f"INSERT INTO {database}.{table} SELECT * FROM {DB}.{table}")
    for column, codec in codecs.items():
        await backend.command(f"ALTER TABLE {database}.otel_traces MODIFY COLUMN `{column}` CODEC({codec})")
    for name, select in projections.items():
        await backend.command(f"ALTER TABLE {database}.otel_traces ADD PROJECTION {name} ({select})")
    ((first, last),) = await rows(
        backend,
        f"SELECT toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp)) + 1 "
        f"FROM {DB}.otel_traces",
    )
    started, slices = time.perf_counter(), 20
    step = (int(last) - int(first)) // slices + 1
    for n in range(slices):
        await backend.command(
            f"INSERT INTO {database}.otel_traces SELECT * FROM {DB}.otel_traces "
            "WHERE toUnixTimestamp64Nano(Timestamp) >= {a:Int64} AND toUnixTimestamp64Nano(Timestamp) < {b:Int64}",
            parameters={"a": int(first) + n * step, "b": int(first) + (n + 1) * step},
        )
    copied = time.perf_counter() - started
    merges = await settle(backend, args.settle_seconds, database)
    tables = await sizes(backend, database)
    traces = tables["otel_traces"]
    return {
        "settings": overrides or "as the schema",
        "copy_s": round(copied, 1),
        "merges": merges,
        "tables": tables,
        "bytes_per_span": round(traces["bytes_on_disk"] / max(traces["rows"], 1), 1),
        "lookup_database": database if lookup else DB,
    }


def parse_overrides(text: str) -> dict[str, str]:
    """`key=value;key=value` (or `-` for none): MergeTree settings, `codec.COLUMN=CODEC` column codecs,
    `projection.NAME=SELECT ...` projections, `lookup.SETTING=VALUE` for otel_traces_trace_id_ts."""
    if text in ("", "-"):
        return {}
    return dict(item.split("=", 1) for item in text.split(";"))


# ---------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = args.folder or tempfile.mkdtemp(prefix="airis-storage-scale-")
    data = str(Path(folder) / "chdb")
    backend = ClickHouseBackend.from_config(
        "main", BackendConfig(endpoint=f"chdb://{data}", database=DB, query_timeout=timedelta(hours=1))
    )
    await backend.start()
    result: dict[str, Any] = {"folder": data, "cpus": os.cpu_count()}
    try:
        if not args.query_only:
            end_ns = time.time_ns() // 10**9 * 10**9
            window_ns = int(args.hours * 3600 * 10**9)
            result["time_window"] = {"hours": args.hours, "end_unix_s": end_ns // 10**9}
            if args.spans:
                print(f"loading {args.spans:,} spans", flush=True)
                result["load_traces"] = await load(
                    backend,
                    Signal.TRACES,
                    args.spans,
                    args.spans_per_request,
                    args,
                    end_ns - window_ns,
                    window_ns,
                )
            if args.logs:
                print(f"loading {args.logs:,} log records", flush=True)
                result["load_logs"] = await load(
                    backend,
                    Signal.LOGS,
                    args.logs,
                    args.logs_per_request,
                    args,
                    end_ns - window_ns,
                    window_ns,
                )
        print("measuring", flush=True)
        result["loadavg_1m_at_measure"] = round(os.getloadavg()[0], 1)
        result.update(await measure(backend, data, args))
    finally:
        await backend.close()
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--logs", type=int, default=2_000_000)
    parser.add_argument("--folder", default="", help="keep the chDB data here (under FOLDER/chdb)")
    parser.add_argument("--query-only", action="store_true", help="measure a kept --folder again")
    parser.add_argument("--hours", type=float, default=2.0, help="time the data covers, ending now")
    parser.add_argument("--spans-per-request", type=int, default=15_000)
    parser.add_argument("--logs-per-request", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="processes generating requests")
    parser.add_argument("--concurrency", type=int, default=2, help="inserts in flight")
    parser.add_argument("--queries", type=int, default=300, help="trace-by-id lookups (random traces)")
    parser.add_argument("--settle-seconds", type=float, default=900, help="longest wait for merges")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--experiments",
        nargs="*",
        type=parse_overrides,
        default=[],
        help="copies of otel_traces to measure: key=value;key=value (- for none) of MergeTree settings, "
        "codec.COLUMN=CODEC, projection.NAME=SELECT..., lookup.SETTING=VALUE (otel_traces_trace_id_ts), "
        "e.g. - 'index_granularity=256;lookup.index_granularity=256' 'codec.SpanAttributes=ZSTD(3)'",
    )
    parser.add_argument("--out", default="", help="also write the JSON result here")
    args = parser.parse_args()
    if args.query_only and not args.folder:
        parser.error("--query-only needs --folder")
    data = Path(args.folder) / "chdb"
    if args.folder and not args.query_only and data.exists():
        parser.error(f"{data} exists: give an empty --folder, or --query-only to measure it again")
    if args.query_only and not data.exists():
        parser.error(f"{data} does not exist: nothing to query")
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
