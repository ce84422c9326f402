"""GraphQL gateway: its overhead on `trace(traceId)` against the trace service directly, and requests/s.

`python -m bench.gateway [--spans 20000] [--queries 300] [--seconds 10] [--concurrency 16] [--out FILE]`

Starts airis (the CLI, the all-in-one shape: embedded chDB, the three services and the gateway,
authentication on with HS256 JWTs) pinned to CPU 0, sends `--spans` spans (bench/telemetry_data.py,
10 per trace) over OTLP/HTTP as tenant acme (a static editor token; the receiver stamps tenant.id),
waits until they are stored, then from this process (pinned to CPU 1), as a viewer of tenant acme
(every query scoped to the tenant) and, for the cost of that scoping, as an admin of every tenant:

- trace by id, interleaved, sequential, random stored traces: `GET /v1/traces/{id}` on the trace
  service and `trace(traceId)` on the gateway asking for the same span fields; p50/p99 of each and of
  their difference (the gateway's overhead: GraphQL parse/validate/execute, the in-process call
  through the service's auth layer, JSON both ways);
- requests/s of a small query (`{ services { name } }`, and `{ __typename }` for the gateway alone)
  with `--concurrency` clients for `--seconds`, airis on one core: the rate reached, airis's CPU
  share of that core, and requests per CPU-second of airis (the rate a whole core would give when
  the client, on the other core, is the limit).

Every answer is checked (10 spans per trace, no errors). One JSON document on stdout (and `--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from bench.telemetry_data import Generator

SECRET = "bench-gateway-secret-of-32-bytes!!"
WRITER = "bench-writer-token"
"""The loader's static token: it writes as tenant acme (the receiver stamps tenant.id on each resource)."""
TRACE_QUERY = """query($id: ID!) { trace(traceId: $id) { spans {
  traceId spanId parentSpanId name service kind startTimeUnixNano durationMs
  status { code message } attributes resource } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(folder: Path, ports: dict[str, int]) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: 127.0.0.1:{ports["otlp"]}, auth: {{authenticator: auth}}}}
exporters:
  clickhouse:
    storage: main
extensions:
  auth:
    jwt: {{secret: {SECRET}}}
    tokens: [{{token: {WRITER}, subject: loader, tenants: [acme], role: editor}}]
  clickhouse_storage:
    backends:
      main: {{endpoint: "chdb://{folder}/clickhouse", database: otel, create_schema: true}}
  traces_service: {{endpoint: 127.0.0.1:{ports["traces"]}, storage: main, auth: {{authenticator: auth}}}}
  logs_service: {{endpoint: 127.0.0.1:{ports["logs"]}, storage: main, auth: {{authenticator: auth}}}}
  metrics_service: {{endpoint: 127.0.0.1:{ports["metrics"]}, storage: main, auth: {{authenticator: auth}}}}
  graphql_gateway: {{endpoint: 127.0.0.1:{ports["gateway"]}, auth: {{authenticator: auth}}}}
service:
  extensions: [auth, clickhouse_storage, traces_service, logs_service, metrics_service, graphql_gateway]
  pipelines:
    traces: {{receivers: [otlp], exporters: [clickhouse]}}
  telemetry:
    logs: {{level: warn}}
    metrics: {{level: none}}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_for(url: str, headers: dict[str, str], seconds: float = 120) -> None:
    """Until `url` answers 200 (TimeoutError after `seconds`)."""
    async with asyncio.timeout(seconds), httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url, headers=headers)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)


async def load(ports: dict[str, int], spans: int, headers: dict[str, str]) -> list[str]:
    generator = Generator(seed=7)
    generator.clock = time.time_ns() - 600 * 1_000_000_000
    ids: list[str] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(max(1, spans // 2000)):
            request = generator.traces(2000)
            ids += sorted(
                {
                    span.trace_id.hex()
                    for rs in request.resource_spans
                    for ss in rs.scope_spans
                    for span in ss.spans
                }
            )
            answer = await client.post(
                f"http://127.0.0.1:{ports['otlp']}/v1/traces",
                content=request.SerializeToString(),
                headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {WRITER}"},
            )
            answer.raise_for_status()
    await wait_for(f"http://127.0.0.1:{ports['traces']}/v1/traces/{ids[-1]}", headers)
    return ids


async def trace_latencies(
    ports: dict[str, int], ids: list[str], queries: int, headers: dict[str, str]
) -> dict[str, Any]:
    direct: list[float] = []
    gateway: list[float] = []
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for n in range(queries + 20):
            trace_id = random.choice(ids)
            order = [0, 1] if n % 2 else [1, 0]
            for which in order:
                began = time.perf_counter()
                if which == 0:
                    response = await client.get(f"http://127.0.0.1:{ports['traces']}/v1/traces/{trace_id}")
                    spans = response.json()["spans"]
                else:
                    response = await client.post(
                        f"http://127.0.0.1:{ports['gateway']}/graphql",
                        json={"query": TRACE_QUERY, "variables": {"id": trace_id}},
                    )
                    body = response.json()
                    assert "errors" not in body, body
                    spans = body["data"]["trace"]["spans"]
                elapsed = (time.perf_counter() - began) * 1000
                assert len(spans) == 10, len(spans)
                if n >= 20:  # warm-up
                    (direct if which == 0 else gateway).append(elapsed)
    differences = [g - d for d, g in zip(direct, gateway, strict=True)]
    return {
        "direct_p50_ms": round(statistics.median(direct), 2),
        "direct_p99_ms": round(percentile(direct, 0.99), 2),
        "gateway_p50_ms": round(statistics.median(gateway), 2),
        "gateway_p99_ms": round(percentile(gateway, 0.99), 2),
        "overhead_p50_ms": round(statistics.median(gateway) - statistics.median(direct), 2),
        "paired_overhead_p50_ms": round(statistics.median(differences), 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    url: str, query: str, seconds: float, concurrency: int, headers: dict[str, str], pid: int
) -> dict[str, float]:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop:
            response = await client.post(url, json={"query": query})
            body = response.json()
            assert response.status_code == 200 and "errors" not in body, body
            done += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, headers=headers, limits=limits) as client:
        began, cpu = time.monotonic(), cpu_seconds(pid)
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed, used = time.monotonic() - began, cpu_seconds(pid) - cpu
    return {
        "requests_per_s": round(done / elapsed),
        "airis_cpu_share": round(used / elapsed, 2),
        "requests_per_cpu_s": round(done / used),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="airis-bench-gateway-"))
    ports = {name: free_port() for name in ("otlp", "traces", "logs", "metrics", "gateway")}
    (folder / "config.yaml").write_text(config(folder, ports))

    def bearer(claims: dict[str, Any]) -> dict[str, str]:
        return {"authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}

    headers = bearer({"sub": "bench", "roles": ["viewer"], "tenant": "acme"})
    everyone = bearer({"sub": "bench-admin", "roles": ["admin"]})
    airis = subprocess.Popen(  # noqa: ASYNC220 (started once, before any measurement)
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-m",
            "collector.cli",
            "--config",
            str(folder / "config.yaml"),
        ],
        cwd=folder,
    )
    try:
        os.sched_setaffinity(0, {1})
        await wait_for(f"http://127.0.0.1:{ports['gateway']}/health", {})
        ids = await load(ports, args.spans, headers)
        result: dict[str, Any] = {"spans": args.spans, "traces": len(ids), "queries": args.queries}
        result["trace_by_id"] = await trace_latencies(ports, ids, args.queries, headers)
        result["trace_by_id_no_tenant_scope"] = await trace_latencies(ports, ids, args.queries, everyone)
        url = f"http://127.0.0.1:{ports['gateway']}/graphql"
        for name, query in (("services", "{ services { name } }"), ("typename", "{ __typename }")):
            result[f"small_query_{name}"] = await throughput(
                url, query, args.seconds, args.concurrency, headers, airis.pid
            )
        return result
    finally:
        airis.terminate()
        airis.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
