"""Syslog over TCP: airis's `syslog` receiver against rsyslog, on the same stream, in one run.

Sends `--lines` RFC 5424 lines of about 150 bytes (LF-framed, over `--connections` connections,
as fast as the receiver takes them) first to airis (syslog receiver -> debug exporter at `basic`
verbosity; counted by `otelcol_receiver_accepted_log_records`), then to rsyslog (imtcp -> omfile
with `%rawmsg%`, counted by the file's size), and prints one JSON line with both rates, the CPU
each used and the ratio; `--without-pyarrow` also measures airis's per-line path.
`python -m bench.syslog_load --lines 1000000`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.passthrough import cpu_seconds, rss_mib

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ACCEPTED = "otelcol_receiver_accepted_log_records_total"
REFUSED = "otelcol_receiver_refused_log_records_total"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_lines(count: int, distinct: int = 10_000) -> list[bytes]:
    """`distinct` different RFC 5424 lines of ~150 bytes (cycled to `count` by the sender)."""
    apps = ["nginx", "postgres", "sshd", "cron", "kernel", "payments-api", "auth", "billing"]
    lines = []
    for i in range(min(count, distinct)):
        line = (
            f"<{8 + i % 8 + 16 * (i % 3)}>1 2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}."
            f"{i % 1_000_000:06d}Z web-{i % 40:02d}.prod.example.com {apps[i % len(apps)]} {1000 + i % 9000} "
            f"REQ{i % 100} - request {i:08d} handled in {i % 997} ms status={200 + i % 5} path=/api/v1/items"
        )
        lines.append(line.encode() + b"\n")
    return lines


def send(port: int, lines: list[bytes], count: int, connections: int) -> float:
    """Send `count` lines (cycling through `lines`) over `connections` connections at once; seconds taken."""
    blob = memoryview(b"".join(lines))
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    per = [count // connections + (1 if c < count % connections else 0) for c in range(connections)]

    def one(share: int, first: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sent = 0
            while sent < share:
                start = (first + sent) % len(lines)
                n = min(2000, share - sent, len(lines) - start)
                sock.sendall(blob[offsets[start] : offsets[start + n]])
                sent += n

    threads = [threading.Thread(target=one, args=(share, sum(per[:c]))) for c, share in enumerate(per)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def wait_for(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return False


def metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return -1
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


SINKS = {
    "debug": "debug: {{verbosity: basic}}",
    "clickhouse": (
        'clickhouse: {{endpoint: "chdb://{work}/chdb", timeout: 60s, '
        "sending_queue: {{batch: {{min_size: 20000, max_size: 40000, flush_timeout: 1s}}}}}}"
    ),
}
SENT = "otelcol_exporter_sent_log_records_total"


def run_airis(
    work: Path,
    lines: list[bytes],
    count: int,
    connections: int,
    without_pyarrow: bool = False,
    sink: str = "debug",
) -> dict[str, object]:
    port, metrics_port = free_port(), free_port()
    env = dict(os.environ)
    if without_pyarrow:  # a `pyarrow` that fails to import: the receiver's per-line path
        blocker = work / "no_pyarrow" / "pyarrow"
        blocker.mkdir(parents=True, exist_ok=True)
        (blocker / "__init__.py").write_text("raise ImportError('pyarrow disabled by the benchmark')\n")
        env["PYTHONPATH"] = f"{blocker.parent}{os.pathsep}{env.get('PYTHONPATH', '')}"
    config = work / "airis.yaml"
    config.write_text(f"""
receivers: {{syslog: {{tcp: {{listen_address: "127.0.0.1:{port}"}}, protocol: rfc5424}}}}
exporters: {{{SINKS[sink].format(work=work)}}}
service:
  telemetry: {{logs: {{level: warn}}, metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  pipelines: {{logs: {{receivers: [syslog], exporters: [{sink}]}}}}
""")
    agent = subprocess.Popen([PY, "-m", "collector.cli", "--config", str(config)], cwd=ROOT, env=env)
    try:
        if not wait_for(lambda: metric(metrics_port, "otelcol_process_uptime") >= 0, 60):
            raise RuntimeError("airis did not start")
        wait_for(lambda: _listening(port), 30)
        cpu0, started = cpu_seconds(agent.pid), time.monotonic()
        send_seconds = send(port, lines, count, connections)
        wait_for(lambda: metric(metrics_port, ACCEPTED) + metric(metrics_port, REFUSED) >= count, 600)
        if sink != "debug":  # stored, not only received
            wait_for(lambda: metric(metrics_port, SENT) >= metric(metrics_port, ACCEPTED), 600)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(agent.pid) - cpu0
        accepted, refused = metric(metrics_port, ACCEPTED), metric(metrics_port, REFUSED)
        rss = rss_mib(agent.pid)
    finally:
        agent.terminate()
        agent.wait(60)
    return {
        "lines_per_s": round(accepted / elapsed),
        "accepted": int(accepted),
        "refused": int(refused),
        "seconds": round(elapsed, 2),
        "send_seconds": round(send_seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "lines_per_cpu_s": round(accepted / cpu) if cpu else None,
        "rss_mib": round(rss),
    }


def run_rsyslog(work: Path, lines: list[bytes], count: int, connections: int) -> dict[str, object]:
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    port, out = free_port(), work / "rsyslog.out"
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imtcp")\n'
        'template(name="raw" type="string" string="%rawmsg%\\n")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
        f'action(type="omfile" file="{out}" template="raw")\n'
    )
    expected = _bytes_of(lines, count)
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(work / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_for(lambda: _listening(port), 30):
            raise RuntimeError("rsyslog did not start")
        cpu0, started = cpu_seconds(proc.pid), time.monotonic()
        send_seconds = send(port, lines, count, connections)
        wait_for(lambda: out.exists() and out.stat().st_size >= expected, 600)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(proc.pid) - cpu0
        written = out.stat().st_size if out.exists() else 0
        rss = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
    received = count if written >= expected else round(count * written / expected)
    return {
        "lines_per_s": round(received / elapsed),
        "received": received,
        "seconds": round(elapsed, 2),
        "send_seconds": round(send_seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "lines_per_cpu_s": round(received / cpu) if cpu else None,
        "rss_mib": round(rss),
    }


def _bytes_of(lines: list[bytes], count: int) -> int:
    whole, rest = divmod(count, len(lines))
    return whole * sum(map(len, lines)) + sum(map(len, lines[:rest]))


def _rate(run: dict[str, object]) -> float:
    rate = run["lines_per_s"]
    return float(rate) if isinstance(rate, int | float) else 0.0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--skip-rsyslog", action="store_true")
    parser.add_argument("--sink", choices=list(SINKS), default="debug", help="airis's exporter")
    parser.add_argument(
        "--without-pyarrow", action="store_true", help="also measure airis's per-line path (no pyarrow)"
    )
    args = parser.parse_args()
    lines = make_lines(args.lines)
    result: dict[str, object] = {
        "lines": args.lines,
        "connections": args.connections,
        "bytes_per_line": round(sum(map(len, lines)) / len(lines), 1),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        airis = run_airis(work, lines, args.lines, args.connections, sink=args.sink)
        result["sink"] = args.sink
        result["airis"] = airis
        if args.without_pyarrow:
            result["airis_without_pyarrow"] = run_airis(
                work, lines, args.lines, args.connections, without_pyarrow=True
            )
        if not args.skip_rsyslog:
            rsyslog = run_rsyslog(work, lines, args.lines, args.connections)
            result["rsyslog"] = rsyslog
            result["airis_vs_rsyslog"] = round(_rate(airis) / _rate(rsyslog), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
