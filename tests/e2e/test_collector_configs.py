"""Configs written for the OpenTelemetry Collector work unchanged."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.airis_process import ROOT, wait_until

MINIMAL = ROOT / "tests/testdata/collector-minimal.yaml"


def test_the_collectors_minimal_example_validates() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "validate", "--config", str(MINIMAL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration is valid: 3 pipelines;")


def test_the_collectors_minimal_example_runs_and_prints_what_it_receives(tmp_path: Path) -> None:
    """The real OTel SDK sends a span over OTLP/HTTP; the debug exporter prints it in detail."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    output = tmp_path / "airis.log"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "--config", str(MINIMAL)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> bool:
            try:
                return (
                    httpx.post(
                        "http://127.0.0.1:4318/v1/traces",
                        content=b"",
                        headers={"content-type": "application/x-protobuf"},
                    ).status_code
                    == 200
                )
            except httpx.TransportError:
                return False

        assert wait_until(listening, 30), output.read_text()
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint="http://127.0.0.1:4318/v1/traces"))
        )
        with provider.get_tracer("example").start_as_current_span("minimal-example-span"):
            pass
        provider.shutdown()
        assert wait_until(lambda: 'name: "minimal-example-span"' in output.read_text(), 10), (
            output.read_text()
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
