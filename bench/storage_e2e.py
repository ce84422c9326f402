"""End-to-end OTLP/gRPC -> airis -> embedded ClickHouse (chDB), sustained, then checked and measured.

Sends realistic data (bench/telemetry_data.py) for `--seconds`, waits until airis has written
everything it accepted, stops it, then opens the chDB folder and reports rows stored (must equal
accepted), bytes per row on disk, and trace-by-id latency. `python -m bench.storage_e2e --signal traces`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.passthrough import cpu_seconds, rss_mib

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TABLES = {
    "traces": ["otel_traces"],
    "logs": ["otel_logs"],
    "metrics": ["otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram"],
}
SENT_METRIC = {
    "traces": "otelcol_exporter_sent_spans_total",
    "logs": "otelcol_exporter_sent_log_records_total",
    "metrics": "otelcol_exporter_sent_metric_points_total",
}


def metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return -1
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signal", choices=list(TABLES), default="traces")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--items-per-request", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=300, help="distinct requests generated up front")
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument(
        "--batch", default="20000-40000", help="min-max items per insert (sending_queue.batch)"
    )
    parser.add_argument("--persistent", action="store_true")
    parser.add_argument("--keep", default="", help="keep the chDB folder here (for later queries)")
    args = parser.parse_args()
    port, metrics_port = 44317, 44888
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = work / "chdb"
        storage = "\n      storage: file_storage" if args.persistent else ""
        batch_min, batch_max = args.batch.split("-")
        config = work / "airis.yaml"
        config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 64}}}}}}}}
exporters:
  clickhouse:
    storage: main
    sending_queue:
      num_consumers: 4
      queue_size: 200{storage}
      batch: {{min_size: {batch_min}, max_size: {batch_max}, flush_timeout: 1s}}
    timeout: 60s
    retry_on_failure: {{max_elapsed_time: 0s}}
extensions:
  clickhouse_storage: {{backends: {{main: {{endpoint: "chdb://{data}", database: otel}}}}}}
  file_storage: {{directory: "{work / "queue"}"}}
service:
  extensions: [clickhouse_storage{", file_storage" if args.persistent else ""}]
  telemetry: {{logs: {{level: warn}}, metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  pipelines: {{{args.signal}: {{receivers: [otlp], exporters: [clickhouse]}}}}
""")
        agent = subprocess.Popen([PY, "-m", "collector.cli", "--config", str(config)], cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while metric(metrics_port, "otelcol_process_uptime") < 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            cpu0, started = cpu_seconds(agent.pid), time.monotonic()
            load = subprocess.run(
                [
                    PY,
                    "-m",
                    "bench.otlp_load",
                    "--target",
                    f"127.0.0.1:{port}",
                    "--data",
                    args.signal,
                    "--pool",
                    str(args.pool),
                    "--spans-per-request",
                    str(args.items_per_request),
                    "--seconds",
                    str(args.seconds),
                    "--rate",
                    str(args.rate),
                    "--concurrency",
                    "4",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            offered = json.loads(load.stdout.strip().splitlines()[-1])
            accepted = int(offered["ok_spans"])
            while (
                metric(metrics_port, SENT_METRIC[args.signal]) < accepted and time.monotonic() - started < 900
            ):
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            cpu, rss = cpu_seconds(agent.pid) - cpu0, rss_mib(agent.pid)
        finally:
            agent.terminate()
            agent.wait(120)
        import chdb.session

        session = chdb.session.Session(str(data))
        stored = sum(
            int(session.query(f"SELECT count() FROM otel.{t}", "CSV").bytes().strip() or 0)
            for t in TABLES[args.signal]
        )
        parts = session.query(
            "SELECT table, sum(rows), sum(data_compressed_bytes), sum(bytes_on_disk) FROM system.parts "
            "WHERE database = 'otel' AND active GROUP BY table ORDER BY table",
            "JSONCompact",
        )
        sizes = {
            row[0]: {"rows": int(row[1]), "compressed_bytes": int(row[2]), "bytes_on_disk": int(row[3])}
            for row in json.loads(parts.bytes())["data"]
        }
        result: dict[str, object] = {
            "signal": args.signal,
            "seconds_loaded": args.seconds,
            "offered": offered,
            "accepted": accepted,
            "stored": stored,
            "lost": accepted - stored,
            "accepted_per_s": round(accepted / args.seconds),
            "stored_per_s_incl_drain": round(stored / elapsed),
            "agent_cpu_cores": round(cpu / elapsed, 2),
            "agent_rss_mib": round(rss),
            "tables": sizes,
        }
        main_table = TABLES[args.signal][0]
        if sizes.get(main_table, {}).get("rows"):
            everything = sum(s["bytes_on_disk"] for s in sizes.values())
            result["bytes_on_disk_per_item_main_table"] = round(
                sizes[main_table]["bytes_on_disk"] / sizes[main_table]["rows"], 1
            )
            result["bytes_on_disk_per_item_all_tables"] = round(everything / max(stored, 1), 1)
        if args.signal == "traces":
            ids = json.loads(
                session.query(
                    "SELECT TraceId FROM otel.otel_traces ORDER BY rand() LIMIT 50", "JSONCompact"
                ).bytes()
            )["data"]
            timings = []
            for (trace_id,) in ids:
                t = time.perf_counter()
                session.query(
                    "WITH (SELECT min(Start), max(End) + 1 FROM otel.otel_traces_trace_id_ts WHERE TraceId = "
                    f"'{trace_id}') AS span SELECT * FROM otel.otel_traces WHERE TraceId = '{trace_id}' AND "
                    "Timestamp >= span.1 AND Timestamp <= span.2",
                    "JSONCompact",
                ).bytes()
                timings.append((time.perf_counter() - t) * 1000)
            result["trace_by_id_ms_p50"] = round(statistics.median(timings), 1)
            result["trace_by_id_ms_max"] = round(max(timings), 1)
        session.close()
        print(json.dumps(result))


if __name__ == "__main__":
    main()
