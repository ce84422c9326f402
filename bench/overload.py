"""Overload benchmark: downstream slowed to 10,000 spans/s, load at 50,000 spans/s, memory_limiter at 300 MiB.

Shows that RSS stays under the limit, clients get retryable refusals, everything accepted is
delivered, and throughput recovers when the load drops. `python bench/overload.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.passthrough import cpu_seconds, rss_mib, sink_count, start_sink_and_agent

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def load(target: str, rate: float, seconds: float) -> dict[str, object]:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            PY,
            str(ROOT / "bench/otlp_load.py"),
            "--target",
            target,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit-mib", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    port, sink_port, metrics = 34317, 35317, 34888
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = work / "agent.yaml"
        config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
processors:
  memory_limiter: {{check_interval: 100ms, limit_mib: {args.limit_mib}}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_port}"
    tls: {{insecure: true}}
    compression: none
    retry_on_failure: {{max_elapsed_time: 0s}}
service:
  telemetry: {{logs: {{level: warn}}, metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [otlp]}}}}
""")
        count = work / "count"
        sink, agent = start_sink_and_agent(config, sink_port, count, max_rate=10_000)
        peak = [0.0]
        running = [True]

        def sample() -> None:
            while running[0]:
                peak[0] = max(peak[0], rss_mib(agent.pid))
                time.sleep(0.2)

        try:
            time.sleep(3)
            threading.Thread(target=sample, daemon=True).start()
            cpu0 = cpu_seconds(agent.pid)
            overload = load(f"127.0.0.1:{port}", 50_000, args.seconds)
            overload_peak = peak[0]
            recovery = load(f"127.0.0.1:{port}", 5_000, 10)
            accepted = int(overload["ok_spans"]) + int(recovery["ok_spans"])  # type: ignore[call-overload]
            started = time.monotonic()
            while sink_count(count) < accepted and time.monotonic() - started < 180:
                time.sleep(0.5)
            delivered = sink_count(count)
            running[0] = False
            cpu = cpu_seconds(agent.pid) - cpu0
        finally:
            agent.terminate()
            agent.wait(60)
            sink.kill()
        print(
            json.dumps(
                {
                    "limit_mib": args.limit_mib,
                    "overload_offered_per_s": 50_000,
                    "overload_accepted_per_s": overload["ok_spans_per_s"],
                    "overload_refused_spans": overload["refused_spans"],
                    "overload_errors": overload["errors"],
                    "peak_rss_mib": round(overload_peak, 1),
                    "recovery_offered_per_s": 5_000,
                    "recovery_accepted_per_s": recovery["ok_spans_per_s"],
                    "recovery_refused_spans": recovery["refused_spans"],
                    "accepted_spans": accepted,
                    "delivered_spans": delivered,
                    "lost": max(0, accepted - delivered),
                    "agent_cpu_s": round(cpu, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
