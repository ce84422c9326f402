"""Trace service at 1 M spans: trace by id and trace search by attribute, through HTTP and at the SQL level.

`python -m bench.query_traces [--spans 1000000] [--folder PATH] [--queries 200] [--out FILE]`

Loads `--spans` realistic spans (bench/storage_scale.py's loader: bench/telemetry_data.py's
Generator through the clickhouse exporter, 10 spans per trace, 20 attributes per span, spread over
2 hours ending now) into a chDB folder (kept under PATH/chdb with `--folder`; a folder that already
holds data is measured as it is), waits for merges, starts the `traces_service` extension on a
free port and times random lookups, interleaved:

- trace by id: `GET /v1/traces/{id}` and Jaeger's `GET /api/traces/{id}` (HTTP, client in the same
  process), `reader.trace_spans` (query and mapping to `Span`s), the reader's SQL alone, and, for
  reference, Grafana's ClickHouse query (otel_traces via otel_traces_trace_id_ts);
- search by attribute: `GET /v1/traces?attr=user.id:...` (any service, whole 2 h, limit 20) and
  Jaeger's `GET /api/traces?service=...&tags={"session.id": ...}` (Grafana's search).

Every answer is checked (whole traces of 10 spans, matching traces found). One JSON document on
stdout (and in `--out`). The machine is shared, so figures are pessimistic: re-run on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig, ClickHouseStorageConfig
from backend.clickhouse.extension import ClickHouseStorage
from backend.service import Store
from backend.traces import reader
from backend.traces.config import TracesServiceConfig
from backend.traces.service import TracesService
from bench import storage_scale
from collector.auth.setting import AuthSetting
from collector.component import Component, ComponentId, Kind, ServiceStatus, Settings
from collector.signal import Signal
from collector.telemetry import MetricsRegistry

DB = storage_scale.DB
SEARCH_HOURS = 2.0


class _Host:
    """A running host holding one clickhouse_storage extension with `backend` as "main"."""

    status = ServiceStatus.RUNNING

    def __init__(self, backend: ClickHouseBackend) -> None:
        self.id = ComponentId("clickhouse_storage")
        settings = Settings(self.id, Kind.EXTENSION, MetricsRegistry(), logging.getLogger("bench.storage"))
        storage = ClickHouseStorage(settings, ClickHouseStorageConfig())
        storage.backends = {"main": backend}
        self.storage = storage

    def extension(self, id: ComponentId) -> Component:
        return self.storage

    def extensions(self) -> dict[ComponentId, Component]:
        return {self.id: self.storage}


async def timed(call: Awaitable[Any]) -> tuple[float, Any]:
    """Milliseconds awaiting `call` took, and its result."""
    started = time.perf_counter()
    result = await call
    return (time.perf_counter() - started) * 1000, result


async def load(backend: ClickHouseBackend, args: argparse.Namespace) -> dict[str, Any]:
    """`args.spans` spans over the last `SEARCH_HOURS`, written as storage_scale writes them."""
    end_ns = time.time_ns() // 10**9 * 10**9
    window_ns = int(SEARCH_HOURS * 3600 * 10**9)
    loader = argparse.Namespace(concurrency=2, workers=args.workers, seed=args.seed)
    return await storage_scale.load(
        backend, Signal.TRACES, args.spans, args.spans_per_request, loader, end_ns - window_ns, window_ns
    )


async def measure(backend: ClickHouseBackend, args: argparse.Namespace) -> dict[str, Any]:
    """Every timing, interleaved per random trace; sizes of the tables."""
    rows = await backend.query_rows(
        f"SELECT TraceId FROM {DB}.otel_traces_trace_id_ts ORDER BY cityHash64(TraceId) LIMIT {{n:UInt32}}",
        {"n": args.queries},
    )
    trace_ids = [str(r[0]) for r in rows]
    ((first, last),) = await backend.query_rows(
        f"SELECT toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp)) FROM {DB}.otel_traces"
    )
    config = TracesServiceConfig(
        endpoint="127.0.0.1:0", auth=AuthSetting("none"), max_range=timedelta(days=31)
    )
    store = Store(backend, config)
    service = TracesService(
        Settings(
            ComponentId("traces_service"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("bench")
        ),
        config,
    )
    await service.start(_Host(backend))  # type: ignore[arg-type]
    timings: dict[str, list[float]] = {}
    found: dict[str, list[int]] = {}

    def note(name: str, ms: float, count: int) -> None:
        timings.setdefault(name, []).append(ms)
        found.setdefault(name, []).append(count)

    span_sql = (
        f"SELECT {reader.SPAN_COLUMNS} FROM {DB}.otel_traces WHERE TraceId = {{trace_id:String}}"
        " AND Timestamp >= (SELECT min(Start) FROM "
        f"{DB}.otel_traces_trace_id_ts WHERE TraceId = {{trace_id:String}})"
        f" AND Timestamp <= (SELECT max(End) + 1 FROM {DB}.otel_traces_trace_id_ts WHERE TraceId = {{trace_id:String}})"
    )
    search_range = {"start": str(int(first) / 1e9), "end": str(int(last) / 1e9 + 1)}
    jaeger_range = {"start": str(int(first) // 1000), "end": str(int(last) // 1000 + 1)}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=120) as client:
            for trace_id in trace_ids[:3]:  # warm caches and connections
                await client.get(f"/v1/traces/{trace_id}")
            for trace_id in trace_ids:
                ms, answer = await timed(client.get(f"/v1/traces/{trace_id}"))
                note("trace_by_id_http_native", ms, len(answer.json()["spans"]))
                ms, answer = await timed(client.get(f"/api/traces/{trace_id}"))
                note("trace_by_id_http_jaeger", ms, len(answer.json()["data"][0]["spans"]))
                ms, spans = await timed(reader.trace_spans(store, trace_id))
                note("trace_by_id_reader", ms, len(spans))
                ms, result = await timed(backend.query_rows(span_sql, {"trace_id": trace_id}))
                note("trace_by_id_sql_otel_traces", ms, len(result))
                ms, result = await timed(
                    backend.query_rows(storage_scale.TRACE_BY_ID, {"trace_id": trace_id})
                )
                note("trace_by_id_grafana_clickhouse_query", ms, len(result))
            pairs = await backend.query_rows(
                f"SELECT ServiceName, SpanAttributes['user.id'], SpanAttributes['session.id'] FROM {DB}.otel_traces "
                "ORDER BY cityHash64(SpanId) LIMIT {n:UInt32}",
                {"n": max(args.queries // 4, 10)},
            )
            for service_name, user, session in pairs:
                params = {**search_range, "attr": f"user.id:{user}", "limit": "20"}
                ms, answer = await timed(client.get("/v1/traces", params=params))
                note("search_attr_http_native_any_service", ms, len(answer.json()["traces"]))
                tags = json.dumps({"session.id": session})
                jaeger = {
                    **jaeger_range,
                    "service": service_name,
                    "tags": tags,
                    "limit": "20",
                    "lookback": "custom",
                }
                ms, answer = await timed(client.get("/api/traces", params=jaeger))
                note("search_attr_http_jaeger_grafana", ms, len(answer.json()["data"]))
    finally:
        await service.shutdown()
    result: dict[str, Any] = {}
    for name, values in timings.items():
        counts = found[name]
        result[name] = {
            **storage_scale.percentiles(values),
            "results_min_max": [min(counts), max(counts)],
        }
    incomplete = [
        n for n, c in found.items() if n.startswith("trace_by_id") and min(c) != storage_scale.SPANS_PER_TRACE
    ]
    result["traces_not_whole"] = incomplete
    result["searches_without_match"] = {
        n: sum(1 for c in counts if c == 0) for n, counts in found.items() if n.startswith("search")
    }
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = args.folder or tempfile.mkdtemp(prefix="airis-query-traces-")
    data = Path(folder) / "chdb"
    backend = ClickHouseBackend.from_config(
        "main", BackendConfig(endpoint=f"chdb://{data}", database=DB, query_timeout=timedelta(hours=1))
    )
    result: dict[str, Any] = {"folder": str(data), "cpus": os.cpu_count()}
    await backend.start()
    try:
        ((spans,),) = await backend.query_rows(f"SELECT count() FROM {DB}.otel_traces")
        if int(spans) == 0:
            print(f"loading {args.spans:,} spans", flush=True)
            result["load_traces"] = await load(backend, args)
        result["merges"] = await storage_scale.settle(backend, args.settle_seconds)
        tables = await storage_scale.sizes(backend)
        result["tables"] = {
            name: tables[name] for name in tables if name.startswith(("otel_traces", "airis_traces"))
        }
        rows_traces = max(tables["otel_traces"]["rows"], 1)
        result["bytes_per_span"] = {
            name: round(size["bytes_on_disk"] / rows_traces, 1) for name, size in result["tables"].items()
        }
        result["loadavg_1m_at_measure"] = round(os.getloadavg()[0], 1)
        print("measuring", flush=True)
        result.update(await measure(backend, args))
    finally:
        await backend.close()
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument(
        "--folder", default="", help="chDB data under FOLDER/chdb: loaded if empty, else reused"
    )
    parser.add_argument(
        "--queries", type=int, default=200, help="random traces looked up (searches: a quarter)"
    )
    parser.add_argument("--spans-per-request", type=int, default=15_000)
    parser.add_argument("--workers", type=int, default=2, help="processes generating requests")
    parser.add_argument("--settle-seconds", type=float, default=300, help="longest wait for merges")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="", help="also write the JSON result here")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
