"""Agent pass-through benchmark: load -> airis (otlp -> otlp, pinned to one core) -> sink.

The agent runs alone on core 0; the load generator and the sink share core 1. Prints spans/s that
reached the sink, the agent's CPU share and RSS. Usage:
`python bench/passthrough.py [--compression none|gzip] [--persistent] [--protocol grpc|http] [--rate N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def sink_count(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def start_sink_and_agent(
    config: Path, sink_port: int, count: Path, max_rate: float = 0
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The sink on core 1 (counting into `count`, at most `max_rate` spans/s), then airis alone on core 0."""
    sink = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            PY,
            str(ROOT / "bench/otlp_sink.py"),
            "--port",
            str(sink_port),
            "--max-rate",
            str(max_rate),
            "--count-file",
            str(count),
        ]
    )
    agent = subprocess.Popen(
        ["taskset", "-c", "0", PY, "-m", "collector.cli", "--config", str(config)], cwd=ROOT
    )
    return sink, agent


def agent_config(work: Path, args: argparse.Namespace) -> Path:
    storage = "\n      storage: file_storage" if args.persistent else ""
    extensions = f"extensions:\n  file_storage:\n    directory: {work / 'queue'}\n" if args.persistent else ""
    processors = "processors:\n  batch:\n" if args.batch else ""
    pipeline_processors = "[batch]" if args.batch else "[]"
    config = work / "agent.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{args.port}"}}
      http: {{endpoint: "127.0.0.1:{args.port + 1}"}}
{processors}exporters:
  otlp:
    endpoint: "127.0.0.1:{args.sink_port}"
    tls: {{insecure: true}}
    compression: {args.compression}
    sending_queue:
      queue_size: 1000{storage}
{extensions}service:
  extensions: [{"file_storage" if args.persistent else ""}]
  telemetry: {{logs: {{level: warn}}, metrics: {{address: "127.0.0.1:{args.port + 2}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: {pipeline_processors}, exporters: [otlp]}}
""")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--persistent", action="store_true")
    parser.add_argument("--batch", action="store_true", help="put a batch processor in the pipeline")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--rate", type=float, default=0, help="offered spans/s (0: as fast as possible)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--port", type=int, default=24317)
    parser.add_argument("--sink-port", type=int, default=25317)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        count = work / "count"
        sink, agent = start_sink_and_agent(agent_config(work, args), args.sink_port, count)
        try:
            time.sleep(3)
            before, cpu_before = sink_count(count), cpu_seconds(agent.pid)
            started = time.monotonic()
            target = f"127.0.0.1:{args.port if args.protocol == 'grpc' else args.port + 1}"
            load = subprocess.run(
                [
                    "taskset",
                    "-c",
                    "1",
                    PY,
                    str(ROOT / "bench/otlp_load.py"),
                    "--target",
                    target,
                    "--protocol",
                    args.protocol,
                    "--seconds",
                    str(args.seconds),
                    "--rate",
                    str(args.rate),
                    "--concurrency",
                    str(args.concurrency),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(agent.pid) - cpu_before
            rss = rss_mib(agent.pid)
            time.sleep(2)  # let the queue drain into the sink
            delivered = sink_count(count) - before
        finally:
            agent.terminate()
            agent.wait(30)
            sink.kill()
        offered = json.loads(load.stdout)
        print(
            json.dumps(
                {
                    "protocol": args.protocol,
                    "compression": args.compression,
                    "persistent": args.persistent,
                    "batch": args.batch,
                    "offered_rate": args.rate or "max",
                    "accepted_spans_per_s": offered["ok_spans_per_s"],
                    "refused_spans": offered["refused_spans"],
                    "delivered_spans_per_s": round(delivered / elapsed),
                    "agent_cpu_share": round(cpu / elapsed, 3),
                    "agent_rss_mib": round(rss, 1),
                    "bytes_per_span": offered["bytes_per_span"],
                }
            )
        )


if __name__ == "__main__":
    main()
