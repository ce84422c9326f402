"""Prometheus receiver benchmark: CPU seconds per scrape of a 100,000-series target.

A separate process (pinned to core 1) serves a static text-format body; this process (pinned to
core 0) scrapes it with the receiver's own code path (`TargetScraper.scrape_once`: HTTP fetch, parse,
convert to OTLP) and hands each result to a null consumer. CPU is this process's (all threads).
Prints the cold first scrape, then the median and spread of steady-state scrapes over several rounds,
and the parse+convert share alone. With `--prometheus`, also measures the real Prometheus server
scraping the same target (its process CPU per scrape, TSDB ingestion included).

Usage: `python bench/prometheus_scrape.py [--series 100000] [--scrapes 10] [--rounds 5] [--gzip] [--prometheus]`
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")
PROMETHEUS_CPU_PER_SCRAPE = 0.17  # the figure the issue quotes for Prometheus itself


def make_body(series: int) -> str:
    """A realistic exposition: counters and gauges with 3-4 labels, 10 % of samples in histograms."""
    lines: list[str] = []
    per_family = 100
    histogram_samples = series // 10
    bounds = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
    n = family = 0
    while n < histogram_samples:
        name = f"http_server_request_duration_seconds_{family}"
        lines += [f"# HELP {name} Request latency.", f"# TYPE {name} histogram"]
        for i in range(per_family // 10):
            labels = f'method="GET",route="/api/v1/resource/{i}",code="200"'
            for j, le in enumerate(bounds):
                lines.append(f'{name}_bucket{{{labels},le="{le}"}} {(j + 1) * 17 + i}')
            lines += [f"{name}_sum{{{labels}}} {i * 3.25}", f"{name}_count{{{labels}}} {10 * 17 + i}"]
            n += len(bounds) + 2
        family += 1
    while n < series:
        counter = family % 2 == 0
        name = f"app_operations_{family}_total" if counter else f"app_queue_depth_{family}"
        lines += [f"# HELP {name} Family {family}.", f"# TYPE {name} {'counter' if counter else 'gauge'}"]
        for i in range(min(per_family, series - n)):
            lines.append(
                f'{name}{{instance_zone="zone-{i % 3}",pod="app-{i % 50}-7d9f8",shard="{i}",status="ok"}} {i * 1.5 + family}'
            )
            n += 1
        family += 1
    return "\n".join(lines) + "\n"


def serve(port: int, body_path: str, compress: bool) -> None:
    """Serve the body forever (the target process)."""
    body = Path(body_path).read_bytes()
    zipped = gzip.compress(body, 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            data = body
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            if compress and "gzip" in self.headers.get("Accept-Encoding", ""):
                data = zipped
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class NullConsumer:
    """Takes every batch and drops it."""

    async def consume(self, batch: object) -> None:
        return None


async def measure_receiver(address: str, scrapes: int, rounds: int) -> dict[str, object]:
    from collector.telemetry import MetricsRegistry, ReceiverTelemetry
    from receivers.prometheus.config import PrometheusReceiverConfig
    from receivers.prometheus.scrape import ScrapeJob, TargetScraper

    config = PrometheusReceiverConfig(
        config={
            "scrape_configs": [
                {"job_name": "bench", "scrape_interval": "10s", "static_configs": [{"targets": [address]}]}
            ]
        }
    ).prometheus()
    telemetry = ReceiverTelemetry(MetricsRegistry(), "prometheus", "http")
    job = ScrapeJob(
        config.scrape_configs[0],
        config.global_,
        NullConsumer(),
        telemetry,
        logging.getLogger("bench"),
        "bench",
    )
    job.client = None
    import httpx

    from receivers.prometheus.scrape import ssl_context

    job.client = httpx.AsyncClient(verify=ssl_context(job.config, "bench"), trust_env=False)
    (target,) = job.targets()
    scraper = TargetScraper(job, target)

    async def one() -> tuple[float, float, int]:
        cpu, wall = time.process_time(), time.perf_counter()
        result = await scraper.scrape_once()
        await job.deliver(result)
        assert result.up, result.error
        return time.process_time() - cpu, time.perf_counter() - wall, result.points

    cold_cpu, cold_wall, points = await one()
    per_round: list[float] = []
    all_cpu: list[float] = []
    walls: list[float] = []
    for _ in range(rounds):
        cpus = []
        for _ in range(scrapes):
            cpu, wall, _ = await one()
            cpus.append(cpu)
            walls.append(wall)
        per_round.append(statistics.median(cpus))
        all_cpu += cpus
    # parse + convert alone, on the body already in memory
    body, content_type = await job.fetch(target)
    convert_cpu = []
    for i in range(scrapes):
        start = time.process_time()
        scraper.converter.convert(body, content_type, int(time.time() * 1000) + i, 0.1)
        convert_cpu.append(time.process_time() - start)
    await job.client.aclose()
    return {
        "points_per_scrape": points,
        "body_bytes": len(body.encode()),
        "first_scrape_cpu_s": round(cold_cpu, 3),
        "first_scrape_wall_s": round(cold_wall, 3),
        "median_cpu_s_per_scrape": round(statistics.median(all_cpu), 3),
        "round_medians_cpu_s": [round(x, 3) for x in per_round],
        "p90_cpu_s": round(sorted(all_cpu)[int(0.9 * (len(all_cpu) - 1))], 3),
        "median_wall_s_per_scrape": round(statistics.median(walls), 3),
        "median_parse_convert_cpu_s": round(statistics.median(convert_cpu), 3),
    }


def measure_prometheus(address: str, seconds: float) -> dict[str, object]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    workdir = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    port = free_port()
    (workdir / "p.yml").write_text(
        json.dumps(
            {
                "scrape_configs": [
                    {"job_name": "bench", "scrape_interval": "5s", "static_configs": [{"targets": [address]}]}
                ]
            }
        )
    )
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            binary,
            f"--config.file={workdir / 'p.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    def scrapes_done() -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("prometheus_target_interval_length_seconds_count")
        )

    try:
        deadline = time.time() + 60
        while True:
            try:
                if scrapes_done() >= 2:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("prometheus did not scrape")
            time.sleep(0.5)
        cpu0, n0 = proc_cpu(process.pid), scrapes_done()
        time.sleep(seconds)
        cpu1, n1 = proc_cpu(process.pid), scrapes_done()
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "prometheus_cpu_s_per_scrape": round((cpu1 - cpu0) / max(1.0, n1 - n0), 3),
        "prometheus_scrapes": n1 - n0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=10, help="scrapes per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gzip", action="store_true", help="the target compresses (as client libraries do)")
    parser.add_argument("--prometheus", action="store_true", help="also measure the real Prometheus server")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.gzip)
        return
    body = make_body(args.series)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(body)
    port = free_port()
    server_cmd = [sys.executable, __file__, "--serve", str(port), f.name, *(["--gzip"] if args.gzip else [])]
    server = subprocess.Popen(["taskset", "-c", "1", *server_cmd])
    try:
        os.sched_setaffinity(0, {0})
        time.sleep(1.0)
        results = asyncio.run(measure_receiver(f"127.0.0.1:{port}", args.scrapes, args.rounds))
        results["samples_in_body"] = args.series
        results["gzip"] = args.gzip
        results["prometheus_reference_cpu_s_per_scrape"] = PROMETHEUS_CPU_PER_SCRAPE
        if args.prometheus:
            results.update(measure_prometheus(f"127.0.0.1:{port}", 60.0))
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait()
        os.unlink(f.name)


if __name__ == "__main__":
    main()
