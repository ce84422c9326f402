"""Throughput of the file_storage durable log: appends/s and MB/s by record size, fsync and appenders.

Run: .venv/bin/python bench/durable_log.py [seconds per case] [directory]
Each appender loops append -> ack (so fully acked segments are deleted as they would be in use) for the
given time in a fresh folder. Also printed: fsyncs per append (grouping), the p50/p99 latency of an
append, and the event loop thread's CPU share (the Python work the hot path costs the loop).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from extensions.file_storage.log import FileLog

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

SIZES = [("0.5 MB", 512 * 1024), ("10 KB", 10 * 1024)]


async def case(folder: Path, size: int, fsync: bool, appenders: int, seconds: float) -> str:
    shutil.rmtree(folder, ignore_errors=True)
    log = FileLog(folder, fsync=fsync)
    record = os.urandom(size)
    latencies: list[float] = []
    fsyncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: FileDescriptorLike) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    os.fsync = counting_fsync
    stop = time.perf_counter() + seconds

    async def appender() -> None:
        while (now := time.perf_counter()) < stop:
            seq = await log.append(record)
            latencies.append(time.perf_counter() - now)
            await log.ack(seq)

    try:
        cpu, start = time.thread_time(), time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(appenders)))
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
        await log.close()
    finally:
        os.fsync = real_fsync
    n = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100) if n > 1 else [latencies[0]] * 99
    return (
        f"{n / elapsed:10.0f} {n * size / elapsed / 1e6:9.1f} {fsyncs / n:8.2f}"
        f" {quantiles[49] * 1e3:8.2f} {quantiles[98] * 1e3:8.2f} {cpu / elapsed * 100:8.0f}%"
    )


async def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    base = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix="airis-bench-log-", dir=base))
    print(f"{seconds:g}s per case in {folder}")
    print(
        f"{'record':>7} {'fsync':>5} {'tasks':>5} {'append/s':>10} {'MB/s':>9} {'fsync/ap':>8} {'p50 ms':>8} {'p99 ms':>8} {'loop cpu':>9}"
    )
    try:
        for label, size in SIZES:
            for fsync in (True, False):
                for appenders in (1, 10):
                    figures = await case(folder / "log", size, fsync, appenders, seconds)
                    print(f"{label:>7} {fsync!s:>5} {appenders:>5} {figures}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
