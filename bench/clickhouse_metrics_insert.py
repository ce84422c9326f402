"""The clickhouse exporter's metrics path, step by step: realistic gauges, sums and histograms into chDB.

`python -m bench.clickhouse_metrics_insert [--points 10000] [--runs 5] [--profile]`: per request of
`--points` data points, the best and median seconds of (a) parsing the OTLP bytes, (b)
`metrics_to_arrow`, (c) `metrics_tables` (the five tables' columns) and (d) their inserts (concurrent, as `write` runs them), then the
whole `write` from bytes. `--profile` prints a cProfile of (b) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from bench.telemetry_data import Generator
from collector.pdata import Batch
from collector.pdata.otlp_to_arrow import metrics_to_arrow
from collector.signal import Signal


def _parse(body: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    return request


def _line(step: str, times: list[float], points: int) -> None:
    best, median = min(times), statistics.median(times)
    print(
        f"{step:<22} best {best * 1e3:7.1f} ms  median {median * 1e3:7.1f} ms  ({points / median:,.0f} points/s)"
    )


async def run(points: int, runs: int) -> None:
    from exporters.clickhouse.metrics import MetricsTables, metrics_tables, write

    tables = MetricsTables()
    gen = Generator(3)
    bodies = [gen.metrics(points).SerializeToString() for _ in range(runs + 1)]
    n = len(metrics_to_arrow(_parse(bodies[0])))
    print(f"{n} points per request, {len(bodies[0]):,} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        backend = ClickHouseBackend.from_config(
            "main", BackendConfig(endpoint=f"chdb://{tmp}/data", database="otel")
        )
        await backend.start()
        await write(backend, tables, Batch.from_otlp_bytes(Signal("metrics"), bodies[0]))  # warm-up
        steps: dict[str, list[float]] = {
            k: [] for k in ("parse", "metrics_to_arrow", "metrics_tables", "insert")
        }
        whole: list[float] = []
        for body in bodies[1:]:
            started = time.perf_counter()
            request = _parse(body)
            steps["parse"].append(time.perf_counter() - started)
            started = time.perf_counter()
            table = metrics_to_arrow(request)
            steps["metrics_to_arrow"].append(time.perf_counter() - started)
            started = time.perf_counter()
            out = metrics_tables(table)
            steps["metrics_tables"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await asyncio.gather(*(backend.insert_arrow(tables.name(k), rows) for k, rows in out.items()))
            steps["insert"].append(time.perf_counter() - started)
        for body in bodies[1:]:
            started = time.perf_counter()
            await write(backend, tables, Batch.from_otlp_bytes(Signal("metrics"), body))
            whole.append(time.perf_counter() - started)
        for step, times in steps.items():
            _line(step, times, n)
        _line("write (bytes -> chDB)", whole, n)
        await backend.close()


def profile(points: int) -> None:
    request = _parse(Generator(3).metrics(points).SerializeToString())
    metrics_to_arrow(request)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        metrics_to_arrow(request)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.profile:
        profile(args.points)
    else:
        asyncio.run(run(args.points, args.runs))


if __name__ == "__main__":
    main()
