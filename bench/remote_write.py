"""Remote-write ingest benchmark: airis's `prometheusremotewrite` receiver against VictoriaMetrics.

Both servers get the same pre-compressed remote write 1.0 requests (1 sample per series, `--series`
series per request) from a load generator on core 1, each server pinned to core 0 (`taskset`), one
at a time. Prints JSON: samples/s each accepted (wall clock, all requests answered 204) and the
server's CPU seconds per million samples, as medians of `--repeats` runs.

Targets: `airis-receiver` is the receiver alone with a null consumer (HTTP, snappy, parse, OTLP
out); `airis-pipeline` is `airis --config` with the receiver feeding the `debug` exporter (queue,
parse of the OTLP batch); `victoria-metrics` is the Debian package's single-node server.

Modes: `steady` re-sends the same series with new timestamps and values (what Prometheus does every
scrape); `churn` sends new series in every request (the receiver's first-sight path).

Usage: `python bench/remote_write.py [--series 10000] [--requests 30] [--repeats 5] [--mode both]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cramjam  # noqa: E402
import httpx  # noqa: E402

from collector import prompb  # noqa: E402

PY = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
METRICS = 100
INSTANCES = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (airis runs under `taskset`, VictoriaMetrics too)."""
    total = 0.0
    for child in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            total += cpu_seconds(child)
    return total


def _children(pid: int) -> list[int]:
    try:
        direct = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [g for c in direct for g in _children(c)]


# --- payloads --------------------------------------------------------------------------------------


def payload(series: int, index: int, churn: bool, now_ms: int) -> bytes:
    """One snappy-compressed WriteRequest: `series` series of 1 sample, a scrape's worth of timestamps."""
    request = prompb.WriteRequest()
    rng = random.Random(index)
    for i in range(series):  # every series distinct: (metric, cpu) pairs
        instance = (i // METRICS) % INSTANCES
        ts = request.timeseries.add()
        ts.labels.add(name="__name__", value=f"bench_metric_{i % METRICS}_total")
        ts.labels.add(name="cpu", value=str(i // METRICS + (index * series if churn else 0)))
        ts.labels.add(name="instance", value=f"host-{instance}:9100")
        ts.labels.add(name="job", value="node")
        ts.labels.add(name="mode", value=("idle", "user", "system", "iowait")[i % 4])
        ts.samples.add(value=rng.random() * 1000, timestamp=now_ms + index * 15_000 + instance * 7)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


# --- servers ---------------------------------------------------------------------------------------


def serve_airis_receiver(port: int) -> None:
    """The receiver alone with a consumer that drops everything (the `--serve-airis` sub-mode)."""
    import logging

    from collector.component import ComponentId, Kind, Settings
    from collector.telemetry import MetricsRegistry
    from receivers.prometheusremotewrite.config import PrometheusRemoteWriteReceiverConfig
    from receivers.prometheusremotewrite.factory import PrometheusRemoteWriteReceiver

    class Null:
        async def consume(self, batch: Any) -> None:
            return None

    async def run() -> None:
        settings = Settings(
            ComponentId("prometheusremotewrite"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger()
        )
        config = PrometheusRemoteWriteReceiverConfig(endpoint=f"127.0.0.1:{port}")
        receiver = PrometheusRemoteWriteReceiver(settings, config, Null())
        await receiver.start(None)  # type: ignore[arg-type]
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await receiver.shutdown()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


class Target:
    """A server under test: started pinned to core 0, answering remote write at `url`."""

    def __init__(self, name: str, work: Path) -> None:
        self.name, self.work = name, work
        self.port = free_port()
        self.metrics_port = free_port()  # airis-clickhouse's internal telemetry
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def command(self) -> list[str]:
        if self.name == "airis-receiver":
            return [PY, str(Path(__file__).resolve()), "--serve-airis", str(self.port)]
        if self.name == "airis-pipeline":
            config = self.work / "airis.yaml"
            config.write_text(f"""
receivers:
  prometheusremotewrite: {{endpoint: "127.0.0.1:{self.port}"}}
exporters:
  debug: {{verbosity: basic, sampling_initial: 1, sampling_thereafter: 1000000}}
service:
  telemetry: {{logs: {{level: warn}}, metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [prometheusremotewrite], exporters: [debug]}}
""")
            return [PY, "-m", "collector.cli", "--config", str(config)]
        if self.name == "airis-clickhouse":
            config = self.work / "airis.yaml"
            config.write_text(f"""
receivers:
  prometheusremotewrite: {{endpoint: "127.0.0.1:{self.port}"}}
exporters:
  clickhouse:
    endpoint: "chdb://{self.work}/chdb"
    timeout: 60s
    sending_queue: {{queue_size: 5000, batch: {{min_size: 20000, max_size: 40000, flush_timeout: 1s}}}}
service:
  telemetry: {{logs: {{level: warn}}, metrics: {{address: "127.0.0.1:{self.metrics_port}"}}}}
  pipelines:
    metrics: {{receivers: [prometheusremotewrite], exporters: [clickhouse]}}
""")
            return [PY, "-m", "collector.cli", "--config", str(config)]
        data = self.work / f"vm-{self.port}"
        return [
            shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics",
            f"-storageDataPath={data}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-loggerLevel=ERROR",
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["taskset", "-c", "0", *self.command()],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}") from None
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rows_inserted(self) -> float | None:
        """VictoriaMetrics's own count of remote-write rows, airis-clickhouse's points stored (None otherwise)."""
        if self.name == "airis-clickhouse":
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
            return sum(
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith("otelcol_exporter_sent_metric_points_total")
            )
        if self.name != "victoria-metrics":
            return None
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith('vm_rows_inserted_total{type="promremotewrite"}'):
                return float(line.split()[-1])
        return 0.0


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Post every body (`concurrency` in flight); the wall seconds it took. Raises on a non-204."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(url, content=body, headers=HEADERS)
                if response.status_code != 204:
                    raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _settled(target: Target) -> float | None:
    """VictoriaMetrics's row count once it stops moving (it counts rows as it flushes them)."""
    rows = target.rows_inserted()
    if rows is None:
        return None
    while True:
        time.sleep(2.0)
        again = target.rows_inserted()
        if again == rows:
            return rows
        rows = again


def measure(
    target: Target, warmup: bytes, bodies: list[bytes], samples: int, concurrency: int
) -> dict[str, float]:
    assert target.process is not None
    asyncio.run(post_all(target.url, [warmup], 1))
    rows_before = _settled(target)
    cpu_before = tree_cpu_seconds(target.process.pid)
    posted_at = time.perf_counter()
    elapsed = asyncio.run(post_all(target.url, bodies, concurrency))
    cpu = tree_cpu_seconds(target.process.pid) - cpu_before
    result = {
        "samples_per_s": round(samples / elapsed),
        "server_cpu_s_per_million_samples": round(cpu / samples * 1e6, 3),
    }
    if rows_before is not None:
        deadline = time.monotonic() + (600 if target.name == "airis-clickhouse" else 10)
        while (target.rows_inserted() or 0) - rows_before < samples and time.monotonic() < deadline:
            time.sleep(0.2)
        if target.name == "airis-clickhouse":  # stored, not only accepted: the rate includes the drain
            stored_after = time.perf_counter() - posted_at
            result["stored_samples_per_s"] = round(samples / stored_after)
        result["rows_inserted"] = (target.rows_inserted() or 0) - rows_before  # a check: all arrived
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=10_000, help="series (= samples) per request")
    parser.add_argument("--requests", type=int, default=30, help="requests per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mode", choices=["steady", "churn", "both"], default="both")
    parser.add_argument(
        "--targets", default="airis-receiver,airis-pipeline,victoria-metrics", help="comma-separated"
    )
    parser.add_argument("--serve-airis", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_airis:
        serve_airis_receiver(args.serve_airis)
        return
    os.sched_setaffinity(0, {1})  # the load generator stays off the servers' core
    modes = ["steady", "churn"] if args.mode == "both" else [args.mode]
    targets = args.targets.split(",")
    now_ms = int(time.time() * 1000) - 3_600_000  # an hour ago: room for every request's timestamps
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores shared with other agents (noisy); servers pinned to core 0, load on core 1",
        "series_per_request": args.series,
        "samples_per_series": 1,
        "requests_per_run": args.requests,
        "repeats": args.repeats,
        "concurrency": args.concurrency,
        "bytes_per_request_snappy": None,
        "results": {},
    }
    for mode in modes:
        churn = mode == "churn"
        # Run r uses its own requests (fresh timestamps, and fresh series when churning).
        runs = [
            [payload(args.series, 1 + r * args.requests + i, churn, now_ms) for i in range(args.requests)]
            for r in range(args.repeats)
        ]
        warmup = payload(args.series, 0, churn, now_ms)
        report["bytes_per_request_snappy"] = len(warmup)
        samples = args.series * args.requests
        results: dict[str, Any] = {}
        for name in targets:
            with tempfile.TemporaryDirectory() as tmp:
                target = Target(name, Path(tmp))
                target.start()
                try:
                    measured = [measure(target, warmup, bodies, samples, args.concurrency) for bodies in runs]
                finally:
                    target.stop()
            results[name] = {
                "median_samples_per_s": statistics.median(m["samples_per_s"] for m in measured),
                "median_server_cpu_s_per_million_samples": statistics.median(
                    m["server_cpu_s_per_million_samples"] for m in measured
                ),
                "runs": measured,
            }
        report["results"][mode] = results
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
