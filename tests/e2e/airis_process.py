"""airis in a real process for end-to-end tests, and a second airis as an OTLP sink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], seconds: float = 20, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


class AirisProcess:
    """One airis process: started from a config text, healthy before use, its output kept in a file.

    The config must list `health_check` in `service.extensions`; its endpoint is set here.
    `module` may be `tests.run_airis`, which adds the test-only components.
    """

    def __init__(self, workdir: Path, name: str, config: str, module: str = "collector.cli") -> None:
        self.module = module
        self.health = free_port()
        self.metrics = free_port()
        self.config = workdir / f"{name}.yaml"
        self.output = workdir / f"{name}.log"
        self.config.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AirisProcess:
        out = self.output.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "--config",
                str(self.config),
                "--set",
                f"service.telemetry.metrics.address=127.0.0.1:{self.metrics}",
                "--set",
                f"extensions.health_check.endpoint=127.0.0.1:{self.health}",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if not wait_until(self.healthy, 30):
            self.kill()
            raise AssertionError(f"airis did not become healthy:\n{self.log()}")
        return self

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.health}/", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def metric(self, name: str) -> float:
        """Sum of every series of one internal metric."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def sink_config(grpc_port: int) -> str:
    """A second airis writing one line per span it receives (`name trace_id span_id`) to its output."""
    return f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}
exporters: {{debug: {{verbosity: normal, use_internal_logger: false, sampling_initial: 1000000000}}}}
service:
  extensions: [health_check]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""


def span_ids_in(log: str) -> list[str]:
    """Span ids of the `name trace_id span_id` lines a sink printed."""
    return [
        parts[2]
        for line in log.splitlines()
        if len(parts := line.split()) == 3 and parts[0].startswith("span-")
    ]


def trace_requests(count: int, spans_per_request: int) -> list[tuple[bytes, list[str]]]:
    """Serialized requests with unique span ids, and those ids in hex."""
    out = []
    for r in range(count):
        request = ExportTraceServiceRequest()
        scope = request.resource_spans.add().scope_spans.add()
        ids = []
        for s in range(spans_per_request):
            span_id = os.urandom(8)
            scope.spans.add(
                name=f"span-{r}-{s}",
                trace_id=os.urandom(16),
                span_id=span_id,
                start_time_unix_nano=1,
                end_time_unix_nano=2,
            )
            ids.append(span_id.hex())
        out.append((request.SerializeToString(), ids))
    return out


def send_grpc(port: int, body: bytes) -> str:
    """Send one raw trace request; 'OK' or the gRPC status code's name."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        try:
            export(body, timeout=10)
            return "OK"
        except grpc.RpcError as err:
            return str(err.code().name)
