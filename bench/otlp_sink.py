"""A downstream OTLP/gRPC sink for benchmarks: counts the spans it receives, optionally slowly.

`python bench/otlp_sink.py --port 5317 [--max-rate 10000]`; writes its running count to
`--count-file` every 100 ms so a benchmark can read it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

EMPTY = ExportTraceServiceResponse().SerializeToString()


class Sink:
    def __init__(self, max_rate: float) -> None:
        self.spans = 0
        self.requests = 0
        self.max_rate = max_rate
        self.budget_until = time.monotonic()
        self.up = True

    async def export(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if not self.up:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "sink is down")
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if self.max_rate:
            now = time.monotonic()
            self.budget_until = max(self.budget_until, now) + spans / self.max_rate
            await asyncio.sleep(self.budget_until - now)
        self.spans += spans
        self.requests += 1
        return EMPTY


async def serve(args: argparse.Namespace) -> None:
    sink = Sink(args.max_rate)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(sink.export)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    out = Path(args.count_file) if args.count_file else None
    while True:
        if out is not None:
            out.write_text(f"{sink.spans} {sink.requests}")
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5317)
    parser.add_argument(
        "--max-rate", type=float, default=0, help="spans/s the sink takes at most (0: no limit)"
    )
    parser.add_argument("--count-file", default="")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
