"""Log full-text search at 1 M records: latency through the log service's HTTP API and at SQL level.

`python -m bench.query_logs [--records 1000000] [--folder PATH] [--query-only] [--queries 40]
[--ingest-ab]`

Loads `--records` log records of bench/telemetry_data.py (bodies from five templates, ~150 B, with
order numbers, user ids, hosts, durations) through the clickhouse exporter into its own chDB folder
with bench/storage_scale.py's loader, waits for merges to settle, then times `GET /v1/logs` (the
newest 100 over the whole data) for words of three frequencies: rare (an order number, in one
record), medium (a user id, in ~40 records spread over all the data: no granule index can skip
much), common (a template word, in ~20 % of records); also phrases, exact-case words, a second page,
facets and a histogram. Each search uses a different word where the data allows (the query
condition cache remembers granules without a match, so repeating a word is faster). The same kinds
of searches, with other words, are timed at SQL level: the service's search function without HTTP,
and its query in a chDB session (ClickHouse's elapsed and CPU time, query condition cache off; CPU
time is what a quiet machine's latency follows, about CPU time / cores). EXPLAIN shows the
granules the skip indexes leave. `--ingest-ab` instead measures what migration 0004's indexes cost:
the same requests inserted, interleaved, into otel_logs without and with them, merges stopped (wall
and process CPU seconds per insert; CPU is less disturbed by a busy machine), then the CPU of merging
each table into one part, and bytes per record after it.
One JSON document on stdout (and in `--out`). Figures from a busy machine are pessimistic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from backend.clickhouse.extension import ClickHouseStorage
from backend.clickhouse.schema import Migration, load_migrations
from backend.logs.config import LogsServiceConfig
from backend.logs.filters import LogFilter
from backend.logs.search import newest_sql, search
from backend.logs.service import LogsService
from backend.logs.text_query import TextQuery
from backend.service import NANOS, Store
from bench.storage_scale import cpu_seconds, load, percentiles, settle, sizes
from bench.telemetry_data import Generator
from collector.auth.setting import AuthSetting
from collector.component import Component, ComponentId, Kind, ServiceStatus, Settings
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry

DB = "otel"
COMMON_WORDS = ["request", "completed", "cache", "payment", "stripe", "replica", "retrying", "database"]
PHRASES = ['"connection reset by peer"', '"cache miss"', '"slow query detected"', '"payment authorization"']


class _Host:
    """A running host whose clickhouse_storage extension holds one backend as "main"."""

    status = ServiceStatus.RUNNING

    def __init__(self, backend: ClickHouseBackend) -> None:
        id = ComponentId("clickhouse_storage")
        settings = Settings(id, Kind.EXTENSION, MetricsRegistry(), logging.getLogger("bench.storage"))
        storage = ClickHouseStorage(settings, ClickHouseStorageConfig())
        storage.backends = {"main": backend}
        self._extensions: dict[ComponentId, Component] = {id: storage}

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return self._extensions


async def words(backend: ClickHouseBackend, count: int) -> dict[str, list[str]]:
    """Search words by frequency, drawn from the stored bodies."""
    table = backend.table("otel_logs")
    rare = await backend.query_rows(
        f"SELECT extract(Body, 'order (\\\\d+)') AS w FROM {table} WHERE hasToken(Body, 'order') "
        "ORDER BY rand() LIMIT {n:UInt32}",
        {"n": count},
    )
    medium = await backend.query_rows(
        f"SELECT extract(Body, 'user (\\\\d+)') AS w FROM {table} WHERE hasToken(Body, 'user') "
        "GROUP BY w ORDER BY rand() LIMIT {n:UInt32}",
        {"n": count},
    )
    return {
        "rare": [str(r[0]) for r in rare],
        "medium": [str(r[0]) for r in medium],
        "common": [COMMON_WORDS[i % len(COMMON_WORDS)] for i in range(count)],
        "phrase": [PHRASES[i % len(PHRASES)] for i in range(count)],
        "exact_case_rare": [str(r[0]) for r in reversed(rare)],
        "upper_case_common": [COMMON_WORDS[i % len(COMMON_WORDS)].upper() for i in range(count)],
    }


async def timed(call: Awaitable[Any]) -> float:
    """Milliseconds awaiting `call` took."""
    started = time.perf_counter()
    await call
    return (time.perf_counter() - started) * 1000


async def through_http(
    client: httpx.AsyncClient, terms: dict[str, list[str]], window: dict[str, str]
) -> dict[str, Any]:
    """GET /v1/logs per term (newest 100 over `window`); for common words also the second page."""
    result: dict[str, Any] = {}
    for kind, queries in terms.items():
        timings: list[float] = []
        found: list[int] = []
        for q in queries:
            params = {**window, "q": q, "limit": "100"}
            if kind == "exact_case_rare":
                params["match_case"] = "true"
            started = time.perf_counter()
            response = await client.get("/v1/logs", params=params)
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            found.append(len(response.json()["records"]))
        result[kind] = {"ms": percentiles(timings), "records_per_answer_median": statistics.median(found)}
    pages: list[float] = []
    for q in terms["common"]:
        params = {**window, "q": q, "limit": "100"}
        cursor = (await client.get("/v1/logs", params=params)).json()["next_cursor"]
        pages.append(await timed(client.get("/v1/logs", params={**params, "cursor": cursor})))
    result["common_second_page"] = {"ms": percentiles(pages)}
    facet = [await timed(client.get("/v1/logs/facets", params={**window, "field": "service"}))]
    facet += [await timed(client.get("/v1/logs/facets", params={**window, "field": "attr.logger"}))]
    result["facets_service_and_attr_ms"] = [round(v, 1) for v in facet]
    histogram = await timed(client.get("/v1/logs/histogram", params={**window, "by": "severity"}))
    result["histogram_by_severity_ms"] = round(histogram, 1)
    return result


async def at_sql_level(
    store: Store, folder: str, terms: dict[str, list[str]], start_ns: int, end_ns: int
) -> dict[str, Any]:
    """Per kind: the service's search function without HTTP, and the bare query's engine time in a
    chDB session with the query condition cache off."""
    from chdb import session as chdb_session

    open_session: Any = chdb_session.Session  # chDB's own API, untyped
    session = open_session(folder)
    result: dict[str, Any] = {}
    try:
        for kind, queries in terms.items():
            function: list[float] = []
            engine: list[float] = []
            engine_cpu: list[float] = []
            for q in queries:
                where = LogFilter(start_ns, end_ns, TextQuery.parse(q, match_case=kind == "exact_case_rare"))
                function.append(await timed(search(store, where, 100)))
                sql, params = newest_sql(store, where, 101)
                before = _cpu_us(session)
                query = session.query(
                    sql + " SETTINGS use_query_condition_cache = 0",
                    "Native",
                    params={k: str(v) for k, v in params.items()},
                )
                query.bytes()
                engine.append(query.elapsed() * 1000)
                engine_cpu.append((_cpu_us(session) - before) / 1000)
            result[kind] = {
                "search_function_ms": percentiles(function),
                "engine_ms": percentiles(engine),
                "engine_cpu_ms": percentiles(engine_cpu),
            }
    finally:
        session.close()
    return result


def _cpu_us(session: Any) -> int:
    """CPU microseconds ClickHouse's threads have used in this process (user + system)."""
    text = session.query(
        "SELECT sum(value) FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')",
        "TSV",
    ).bytes()
    return int(text.decode().strip() or 0)


async def explain(backend: ClickHouseBackend, store: Store, q: str, match_case: bool) -> list[str]:
    """What the skip indexes leave of the table for `q` (EXPLAIN indexes = 1, skip index lines)."""
    sql, params = newest_sql(store, LogFilter(0, 2**62, TextQuery.parse(q, match_case)), 101)
    rows = await backend.query_rows(f"EXPLAIN indexes = 1 {sql}", params)
    lines = [str(r[0]).lstrip("│├└─ ").strip() for r in rows]
    keep = ("Name:", "Description:", "Parts:", "Granules:")
    start = next((i for i, line in enumerate(lines) if line == "Skip"), len(lines))
    return [line for line in lines[start:] if line.startswith(keep)]


async def measure(backend: ClickHouseBackend, folder: str, args: argparse.Namespace) -> dict[str, Any]:
    """Sizes and search timings of a loaded folder."""
    result: dict[str, Any] = {"merges": await settle(backend, args.settle_seconds)}
    table = (await sizes(backend)).get("otel_logs", {})
    records = table.get("rows", 0)
    result["otel_logs"] = table
    result["bytes_per_record"] = round(table.get("bytes_on_disk", 0) / max(records, 1), 1)
    indexes = await backend.query_rows(
        "SELECT name, data_compressed_bytes FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = 'otel_logs' AND name LIKE 'idx_body%'",
        {"db": DB},
    )
    result["body_index_bytes_per_record"] = {str(n): round(int(b) / max(records, 1), 2) for n, b in indexes}
    [(first, last)] = await backend.query_rows(
        f"SELECT toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp)) "
        f"FROM {backend.table('otel_logs')}"
    )
    start_ns, end_ns = int(first), int(last)
    window = {"start": str(start_ns // NANOS), "end": str(end_ns // NANOS + 1)}
    terms = await words(backend, 2 * args.queries)  # the first half over HTTP, the second at SQL level
    http_terms = {kind: queries[: args.queries] for kind, queries in terms.items()}
    sql_terms = {kind: queries[args.queries :] for kind, queries in terms.items()}
    config = LogsServiceConfig(
        endpoint="127.0.0.1:0", auth=AuthSetting("none"), query_timeout=timedelta(minutes=5)
    )
    settings = Settings(
        ComponentId("logs_service"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("bench")
    )
    service = LogsService(settings, config)
    await service.start(_Host(backend))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=300) as client:
            for q in ("warmup", *COMMON_WORDS):
                await client.get("/v1/logs", params={**window, "q": q})
            result["loadavg_1m_at_http"] = round(os.getloadavg()[0], 1)
            result["http"] = await through_http(client, http_terms, window)
        assert service.store is not None
        result["loadavg_1m_at_sql"] = round(os.getloadavg()[0], 1)
        result["sql"] = await at_sql_level(service.store, folder, sql_terms, start_ns, end_ns + NANOS)
        result["explain_rare_word"] = await explain(backend, service.store, terms["rare"][0], False)
        result["explain_rare_word_exact_case"] = await explain(backend, service.store, terms["rare"][0], True)
        result["explain_common_word"] = await explain(backend, service.store, "stripe", False)
    finally:
        await service.shutdown()
    result["examples"] = {kind: queries[:3] for kind, queries in terms.items()}
    return result


async def ingest_ab(args: argparse.Namespace) -> dict[str, Any]:
    """Log inserts into otel_logs without and with migration 0004's indexes, interleaved; B/record."""
    folder = tempfile.mkdtemp(prefix="airis-logs-ingest-")
    migrations = load_migrations()
    variants: dict[str, list[Migration]] = {
        "without_0004": [m for m in migrations if m.version != 4],
        "with_0004": migrations,
    }
    backends: dict[str, ClickHouseBackend] = {}
    try:
        for name, chosen in variants.items():
            config = BackendConfig(
                endpoint=f"chdb://{folder}/chdb", database=name, query_timeout=timedelta(hours=1)
            )
            backends[name] = ClickHouseBackend("main", config, chosen)
            await backends[name].start()
        from exporters.clickhouse import logs

        for name, backend in backends.items():  # inserts alone: merges are measured after
            await backend.command(f"SYSTEM STOP MERGES `{name}`.otel_logs")
        generator = Generator(3)
        bodies = [
            generator.logs(args.ingest_items).SerializeToString() for _ in range(args.ingest_inserts + 1)
        ]
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for number, body in enumerate(bodies):
            order = list(variants) if number % 2 else list(reversed(variants))
            for name in order:
                batch = Batch.from_otlp_bytes(Signal.LOGS, body)
                cpu0, started = cpu_seconds(), time.perf_counter()
                await logs.write(backends[name], "otel_logs", batch)
                if number:  # the first insert of each warms up
                    seconds[name].append(time.perf_counter() - started)
                    cpu[name].append(cpu_seconds() - cpu0)
        result: dict[str, Any] = {"items_per_insert": args.ingest_items, "inserts": args.ingest_inserts}
        merge_cpu: dict[str, float] = {}
        for name, backend in backends.items():
            await backend.command(f"SYSTEM START MERGES `{name}`.otel_logs")
            cpu0 = cpu_seconds()
            await backend.command(f"OPTIMIZE TABLE `{name}`.otel_logs FINAL")
            merge_cpu[name] = cpu_seconds() - cpu0
        for name, backend in backends.items():
            table = (await sizes(backend, name))["otel_logs"]
            median = statistics.median(seconds[name])
            result[name] = {
                "insert_s_median": round(median, 3),
                "insert_cpu_s_median": round(statistics.median(cpu[name]), 3),
                "merge_all_into_one_cpu_s": round(merge_cpu[name], 2),
                "records_per_s": round(args.ingest_items / median),
                "bytes_per_record_after_merge": round(table["bytes_on_disk"] / table["rows"], 2),
                "skip_index_bytes_per_record": round(table["skip_index_bytes"] / table["rows"], 2),
            }
        for what in ("insert_s_median", "insert_cpu_s_median", "merge_all_into_one_cpu_s"):
            added = result["with_0004"][what] / result["without_0004"][what] - 1
            result[f"{what}_added_by_0004"] = f"{added:+.0%}"
        return result
    finally:
        for backend in backends.values():
            await backend.close()
        shutil.rmtree(folder, ignore_errors=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.ingest_ab:
        return {"cpus": os.cpu_count(), "ingest_ab": await ingest_ab(args)}
    folder = args.folder or tempfile.mkdtemp(prefix="airis-query-logs-")
    data = str(Path(folder) / "chdb")
    backend = ClickHouseBackend.from_config(
        "main", BackendConfig(endpoint=f"chdb://{data}", database=DB, query_timeout=timedelta(hours=1))
    )
    await backend.start()
    result: dict[str, Any] = {"folder": data, "cpus": os.cpu_count()}
    try:
        if not args.query_only:
            end_ns = time.time_ns() // NANOS * NANOS
            window_ns = int(args.hours * 3600 * NANOS)
            print(f"loading {args.records:,} log records", flush=True)
            loader = argparse.Namespace(workers=args.workers, concurrency=args.concurrency, seed=args.seed)
            result["load"] = await load(
                backend, Signal.LOGS, args.records, args.per_request, loader, end_ns - window_ns, window_ns
            )
        print("measuring", flush=True)
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
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--folder", default="", help="keep the chDB data here (under FOLDER/chdb)")
    parser.add_argument("--query-only", action="store_true", help="measure a kept --folder again")
    parser.add_argument("--hours", type=float, default=2.0, help="time the data covers, ending now")
    parser.add_argument("--per-request", type=int, default=20_000, help="records per insert")
    parser.add_argument("--workers", type=int, default=2, help="processes generating requests")
    parser.add_argument("--concurrency", type=int, default=2, help="inserts in flight")
    parser.add_argument("--queries", type=int, default=40, help="searches per kind of word")
    parser.add_argument("--settle-seconds", type=float, default=300, help="longest wait for merges")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ingest-ab", action="store_true", help="measure migration 0004's ingest cost")
    parser.add_argument("--ingest-items", type=int, default=20_000, help="records per insert (--ingest-ab)")
    parser.add_argument(
        "--ingest-inserts", type=int, default=15, help="timed inserts per variant (--ingest-ab)"
    )
    parser.add_argument("--out", default="", help="also write the JSON result here")
    args = parser.parse_args()
    data = Path(args.folder) / "chdb"
    if args.query_only and not (args.folder and data.exists()):
        parser.error("--query-only needs a --folder holding loaded data")
    if args.folder and not args.query_only and data.exists():
        parser.error(f"{data} exists: give an empty --folder, or --query-only to measure it again")
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
