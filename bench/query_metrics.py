"""Prometheus `query_range` over stored OTel metrics: 1 M points in embedded ClickHouse, timed through the HTTP API.

`python -m bench.query_metrics [--points 1000000] [--folder PATH] [--query-only] [--runs 30]`

Loads `--points` data points (bench/telemetry_data.py's services and routes: per service and
instance, a cumulative `http.server.requests` counter and an `http.server.duration` histogram (ms,
8 bounds) per route, and a `process.memory.usage` gauge; one point every 15 s per series, the
series covering as many hours as the points need, ending now) through the clickhouse exporter
(`--per-insert` points per insert) into a chDB folder. Then serves the metrics service's Prometheus
API (backend.metrics.prometheus_api) on a local port and times `/api/v1/query_range` over the last
hour at 15 s and 60 s steps (first call apart: it fills the name catalog), `--runs` calls each:
rate of 100 counter series, sum by route of it, and histogram_quantile over the histograms
(100 stored series, 900 bucket series): wall time and the process's CPU time per call (the
server, chDB's threads and the client share the process). One JSON document on stdout (and in
`--out`). Timings on a shared machine are pessimistic; re-run on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from backend.metrics.prometheus_api import prometheus_routes
from backend.service import ServiceConfig, Store, service_app
from bench.storage_scale import percentiles, settle
from bench.telemetry_data import ROUTES, SERVICES
from collector.httpserver import HttpServer
from collector.pdata import Batch
from exporters.clickhouse.metrics import MetricsTables, write

DB = "otel"
STEP_NS = 15 * 1_000_000_000
INSTANCES = 2
BOUNDS = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]
QUERIES = {
    "rate": "rate(http_server_requests_total[5m])",
    "sum_by_rate": "sum by (http_route) (rate(http_server_requests_total[5m]))",
    "histogram_quantile": (
        "histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_duration_milliseconds_bucket[5m])))"
    ),
}


class Series:
    """The state of the generated series: running counters and histogram buckets."""

    def __init__(self, routes: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.keys = [
            (service, f"{service}-{i}")
            for service in SERVICES[: max(1, 100 // (routes * INSTANCES))]
            for i in range(INSTANCES)
        ]
        self.routes = ROUTES[:routes]
        self.counters = {(k, r): 0 for k in self.keys for r in self.routes}
        self.buckets = {(k, r): [0] * (len(BOUNDS) + 1) for k in self.keys for r in self.routes}
        self.sums = dict.fromkeys(self.buckets, 0.0)

    @property
    def per_step(self) -> int:
        """Points written per time step."""
        return len(self.counters) + len(self.buckets) + len(self.keys)

    def request(self, first_ns: int, steps: int) -> ExportMetricsServiceRequest:
        """`steps` time steps of every series from `first_ns`."""
        rng = self.rng
        out = ExportMetricsServiceRequest()
        for key in self.keys:
            service, instance = key
            rm = out.resource_metrics.add()
            for name, value in (("service.name", service), ("service.instance.id", instance)):
                rm.resource.attributes.add(key=name).value.string_value = value
            sm = rm.scope_metrics.add()
            memory = sm.metrics.add(name="process.memory.usage", unit="By").gauge
            requests = sm.metrics.add(name="http.server.requests", unit="{request}").sum
            requests.aggregation_temporality, requests.is_monotonic = 2, True
            duration = sm.metrics.add(name="http.server.duration", unit="ms").histogram
            duration.aggregation_temporality = 2
            for step in range(steps):
                at = first_ns + step * STEP_NS
                memory.data_points.add(time_unix_nano=at, as_double=rng.uniform(2e8, 9e8))
                for route in self.routes:
                    self.counters[(key, route)] += rng.randint(0, 40)
                    point = requests.data_points.add(time_unix_nano=at, as_int=self.counters[(key, route)])
                    point.attributes.add(key="http.route").value.string_value = route
                    counts = self.buckets[(key, route)]
                    for _ in range(rng.randint(0, 30)):
                        counts[min(int(rng.expovariate(0.5)), len(BOUNDS))] += 1
                        self.sums[(key, route)] += rng.uniform(1, 1000)
                    hp = duration.data_points.add(
                        time_unix_nano=at,
                        count=sum(counts),
                        sum=self.sums[(key, route)],
                        bucket_counts=list(counts),
                        explicit_bounds=BOUNDS,
                    )
                    hp.attributes.add(key="http.route").value.string_value = route
        return out


async def load(backend: ClickHouseBackend, points: int, per_insert: int, end_ns: int) -> dict[str, Any]:
    """Write `points` points ending at `end_ns`; what was written and how fast."""
    series = Series(routes=10)
    steps = max(1, points // series.per_step)
    first_ns = end_ns - (steps - 1) * STEP_NS
    steps_per_insert = max(1, per_insert // series.per_step)
    started = time.perf_counter()
    written = 0
    for first in range(0, steps, steps_per_insert):
        count = min(steps_per_insert, steps - first)
        await write(
            backend, MetricsTables(), Batch.from_otlp(series.request(first_ns + first * STEP_NS, count))
        )
        written += count * series.per_step
    seconds = time.perf_counter() - started
    return {
        "points": written,
        "series": series.per_step,
        "hours": round((steps - 1) * STEP_NS / 3.6e12, 1),
        "load_s": round(seconds, 1),
        "points_per_s": round(written / seconds),
    }


async def time_queries(url: str, end_s: float, runs: int) -> dict[str, Any]:
    """p50/p99 of query_range over the last hour per query and step, with the result's size."""
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=120) as client:
        for name, query in QUERIES.items():
            for step in (15, 60):
                params = {"query": query, "start": end_s - 3600, "end": end_s, "step": step}
                started = time.perf_counter()
                first = await client.get(f"{url}/api/v1/query_range", params=params)
                first_ms = (time.perf_counter() - started) * 1000
                body = first.json()
                assert body["status"] == "success", body
                timings, cpu = [], []
                for _ in range(runs):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    answer = await client.get(f"{url}/api/v1/query_range", params=params)
                    timings.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
                    assert answer.status_code == 200
                results[f"{name}@{step}s"] = {
                    "query": query,
                    "series": len(body["data"]["result"]),
                    "points": sum(len(s["values"]) for s in body["data"]["result"]),
                    "first_call_ms": round(first_ms, 1),
                    "ms": percentiles(timings),
                    "cpu_ms": percentiles(cpu),
                }
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = args.folder or tempfile.mkdtemp(prefix="airis-bench-query-metrics-")
    config = BackendConfig(endpoint=f"chdb://{folder}", database=DB, create_schema=True, ttl=timedelta(0))
    backend = ClickHouseBackend.from_config("bench", config)
    await backend.start()
    report: dict[str, Any] = {"folder": str(folder)}
    try:
        if args.query_only:
            rows = await backend.query_rows(f"SELECT max(TimeUnix) FROM {backend.table('otel_metrics_sum')}")
            end_ns = int(rows[0][0].timestamp() * 1e9)
        else:
            end_ns = time.time_ns() // STEP_NS * STEP_NS
            report["load"] = await load(backend, args.points, args.per_insert, end_ns)
            report["settle"] = await settle(backend, args.settle_s, DB)
        rows = await backend.query_rows(
            "SELECT sum(rows) FROM system.parts WHERE database = {db:String} AND active "
            "AND table LIKE 'otel_metrics_%' AND table NOT LIKE '%_1m' AND table NOT LIKE '%_1h'",
            parameters={"db": DB},
        )
        report["stored_points"] = int(rows[0][0] or 0)
        service_config = ServiceConfig()
        store = Store(backend, service_config)
        server = HttpServer(
            service_app("metrics", prometheus_routes(store, service_config)), "127.0.0.1:0", "bench"
        )
        await server.start()
        try:
            report["query_range_1h"] = await time_queries(
                f"http://127.0.0.1:{server.port}", end_ns / 1e9, args.runs
            )
        finally:
            await server.shutdown()
    finally:
        await backend.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--per-insert", type=int, default=30_000)
    parser.add_argument("--folder", help="chDB folder (default: a new temporary one)")
    parser.add_argument("--query-only", action="store_true", help="query an already loaded --folder")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--settle-s", type=float, default=120.0, help="the longest wait for merges to settle")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
