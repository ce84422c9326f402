"""Load generator: sends pre-serialized OTLP trace requests over gRPC or HTTP as fast as allowed.

Spans carry 20 string attributes, like the collector's testbed. Prints one JSON line of results.
Never run as a test: `python bench/otlp_load.py --target 127.0.0.1:4317 --protocol grpc --seconds 10`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def build_request(spans: int, attributes: int = 20, seed: int = 0) -> bytes:
    """One serialized request of `spans` spans with `attributes` string attributes each."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "loadgen"
    scope = rs.scope_spans.add()
    scope.scope.name = "bench"
    now = time.time_ns()
    for i in range(spans):
        span = scope.spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name=f"op-{i % 16}",
            kind=2,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_000_000,
        )
        for a in range(attributes):
            span.attributes.add(key=f"attribute.{a}").value.string_value = f"value-{seed}-{i}-{a}"
    return request.SerializeToString()


class Stats:
    def __init__(self) -> None:
        self.ok_spans = 0
        self.refused_spans = 0
        self.errors: dict[str, int] = {}

    def error(self, kind: str, spans: int) -> None:
        self.refused_spans += spans
        self.errors[kind] = self.errors.get(kind, 0) + 1


SERVICES = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


async def grpc_worker(
    target: str, bodies: Pool, spans: int, pace: Pacer, stats: Stats, stop: float, kind: str = "traces"
) -> None:
    import grpc

    async with grpc.aio.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(SERVICES[kind], request_serializer=None, response_deserializer=None)
        while time.monotonic() < stop:
            await pace.wait(spans)
            try:
                body = bodies.next()
                items = bodies.last_items()
                await export(body, timeout=30)
                stats.ok_spans += items
            except grpc.aio.AioRpcError as err:
                stats.error(err.code().name, items)


class Pool:
    """Pre-serialized requests handed out round-robin."""

    def __init__(self, bodies: list[bytes], kind: str = "traces") -> None:
        from collector.pdata import Batch
        from collector.signal import Signal

        self.bodies, self.i = bodies, 0
        self.items = [len(Batch.from_otlp_bytes(Signal(kind), body)) for body in bodies]

    def next(self) -> bytes:
        self.i = (self.i + 1) % len(self.bodies)
        return self.bodies[self.i]

    def last_items(self) -> int:
        """Items in the request `next` returned last."""
        return self.items[self.i]


async def http_worker(target: str, bodies: Pool, spans: int, pace: Pacer, stats: Stats, stop: float) -> None:
    """HTTP/1.1 keep-alive with a hand-written request: the client must cost far less than the server."""
    host, port = target.rsplit(":", 1)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/x-protobuf\r\n"
        "Content-Length: %LEN%\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while time.monotonic() < stop:
            await pace.wait(spans)
            body = bodies.next()
            writer.write(head.replace(b"%LEN%", str(len(body)).encode()) + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            status = int(status_line.split()[1])
            if status == 200:
                stats.ok_spans += bodies.last_items()
            else:
                stats.error(str(status), bodies.last_items())
    finally:
        writer.close()


class Pacer:
    """Spreads sends to reach `rate` spans/s overall (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.next = rate, time.monotonic()

    async def wait(self, spans: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        self.next = max(self.next, now) + spans / self.rate
        delay = self.next - spans / self.rate - now
        if delay > 0:
            await asyncio.sleep(delay)


async def run(args: argparse.Namespace) -> dict[str, object]:
    if args.data == "testbed":
        bodies = Pool([build_request(args.spans_per_request, args.attributes)])
    else:
        from bench.telemetry_data import serialized

        bodies = Pool(list(serialized(args.data, args.pool, args.spans_per_request)), args.data)
    body = bodies.bodies[0]
    stats, pace = Stats(), Pacer(args.rate)
    started = time.monotonic()
    stop = started + args.seconds
    if args.protocol == "grpc":
        kind = "traces" if args.data == "testbed" else args.data
        workers = [
            grpc_worker(args.target, bodies, args.spans_per_request, pace, stats, stop, kind)
            for _ in range(args.concurrency)
        ]
    else:
        workers = [
            http_worker(args.target, bodies, args.spans_per_request, pace, stats, stop)
            for _ in range(args.concurrency)
        ]
    await asyncio.gather(*workers)
    elapsed = time.monotonic() - started
    return {
        "protocol": args.protocol,
        "seconds": round(elapsed, 2),
        "ok_spans": stats.ok_spans,
        "refused_spans": stats.refused_spans,
        "errors": stats.errors,
        "ok_spans_per_s": round(stats.ok_spans / elapsed),
        "bytes_per_span": len(body) // args.spans_per_request,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:4317")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0, help="spans/s in all (0: as fast as possible)")
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--data",
        choices=["testbed", "traces", "logs", "metrics"],
        default="testbed",
        help="testbed: one request of identical spans; else realistic data (bench/telemetry_data.py)",
    )
    parser.add_argument(
        "--pool", type=int, default=200, help="distinct requests to cycle through (realistic data)"
    )
    args = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
