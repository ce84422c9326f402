"""One clickhouse exporter insert, timed: realistic spans (20 attributes) or log records into chDB.

`python -m bench.clickhouse_insert [--signal traces|logs] [--items 10000]`: prints seconds per insert
of `--items` items (3 runs after a warm-up) and the fixed cost of a 10-item insert.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from bench.telemetry_data import Generator
from collector.pdata import Batch
from collector.signal import Signal


async def run(signal: str, items: int) -> None:
    from exporters.clickhouse import logs, traces

    module = traces if signal == "traces" else logs
    table = "otel_traces" if signal == "traces" else "otel_logs"
    with tempfile.TemporaryDirectory() as tmp:
        backend = ClickHouseBackend.from_config(
            "main", BackendConfig(endpoint=f"chdb://{tmp}/data", database="otel")
        )
        await backend.start()
        gen = Generator(3)
        make = gen.traces if signal == "traces" else gen.logs
        requests = [make(items).SerializeToString() for _ in range(4)]
        await module.write(backend, table, Batch.from_otlp_bytes(Signal(signal), requests[0]))
        for body in requests[1:]:
            started = time.perf_counter()
            await module.write(backend, table, Batch.from_otlp_bytes(Signal(signal), body))
            took = time.perf_counter() - started
            print(f"{signal}: {items} items in {took:.3f} s ({items / took:,.0f}/s)")
        small = make(10).SerializeToString()
        started = time.perf_counter()
        await module.write(backend, table, Batch.from_otlp_bytes(Signal(signal), small))
        print(f"{signal}: 10 items in {time.perf_counter() - started:.3f} s (fixed cost)")
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signal", choices=["traces", "logs"], default="traces")
    parser.add_argument("--items", type=int, default=10000)
    args = parser.parse_args()
    asyncio.run(run(args.signal, args.items))


if __name__ == "__main__":
    main()
