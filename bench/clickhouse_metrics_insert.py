"""The clickhouse exporter's metrics path: realistic gauges, sums and histograms into chDB, one insert each.

`python -m bench.clickhouse_metrics_insert [--points 10000] [--runs 7]`: per request of `--points`
data points (`bench.telemetry_data.Generator.metrics`), the best and median wall and CPU time
(process time: Python plus chDB's threads) of `metrics.write` (ClickHouse decodes the request and
its views fill the five tables), then the same for a 9-point request: the fixed cost of an insert
(the views' queries are analysed on every insert, and each table written gets a part). Timings on
a shared machine are noisy: compare best figures, or runs made side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from bench.telemetry_data import Generator
from collector.pdata import Batch
from collector.signal import Signal
from exporters.clickhouse.metrics import MetricsTables, ingest, write


def _line(label: str, wall: list[float], cpu: list[float], points: int) -> None:
    print(
        f"{label:<26} wall best {min(wall) * 1e3:6.1f} ms  median {statistics.median(wall) * 1e3:6.1f} ms"
        f"   cpu best {min(cpu) * 1e3:6.1f} ms  median {statistics.median(cpu) * 1e3:6.1f} ms"
        f"   ({points / statistics.median(wall):,.0f} points/s)"
    )


async def _timed(
    backend: ClickHouseBackend, tables: MetricsTables, bodies: list[bytes]
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `write` per request (each checked first, as the receiver does)."""
    wall, cpu = [], []
    for body in bodies:
        batch = Batch.from_otlp_bytes(Signal.METRICS, body)
        batch.check()
        started, started_cpu = time.perf_counter(), time.process_time()
        await write(backend, tables, batch)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


async def run(points: int, runs: int) -> None:
    """Print the figures of `runs` inserts of `points` points and of `runs` tiny inserts."""
    tables = MetricsTables()
    gen = Generator(3)
    bodies = [gen.metrics(points).SerializeToString() for _ in range(runs)]
    tiny = [gen.metrics(9).SerializeToString() for _ in range(runs)]
    checked = Batch.from_otlp_bytes(Signal.METRICS, bodies[0])
    started = time.perf_counter()
    n = checked.check()
    print(
        f"{n} points per request, {len(bodies[0]):,} bytes (receiver's check: {(time.perf_counter() - started) * 1e3:.1f} ms)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        backend = ClickHouseBackend.from_config(
            "main", BackendConfig(endpoint=f"chdb://{tmp}/data", database="otel")
        )
        await backend.start()
        await ingest(backend, tables).cheap.prepare(backend)
        await _timed(backend, tables, bodies[:1] + tiny[:1])  # warm-up
        _line(f"write, {n} points", *await _timed(backend, tables, bodies), n)
        _line("write, 9 points (fixed)", *await _timed(backend, tables, tiny), 9)
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.points, args.runs))


if __name__ == "__main__":
    main()
