"""The service: start and shutdown order, health, internal telemetry, reload and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest

from collector.component import ComponentId, ServiceStatus
from collector.confmap import load_yaml
from collector.errors import ConfigError
from collector.service import Service
from tests.collector.test_graph import spans
from tests.components import JOURNAL, registry_with_test_components
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


class Source:
    """A config source tests can change between loads, as a file edited before SIGHUP."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self) -> Mapping[str, object]:
        return load_yaml(self.text, "test.yaml")


def config_text(health: int, metrics: int, exporter: str = "recorder", extra_pipeline: str = "") -> str:
    return f"""
receivers: {{source: }}
processors: {{tagger: }}
exporters: {{recorder: , recorder/2: }}
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
  needs/storage: {{}}
  needs/query: {{needs: [needs/storage]}}
service:
  extensions: [needs/query, health_check, needs/storage]
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines:
    traces: {{receivers: [source], processors: [tagger], exporters: [{exporter}]}}
    {extra_pipeline}
"""


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


async def test_start_and_shutdown_run_in_the_collectors_order(ports: tuple[int, int]) -> None:
    service = Service(Source(config_text(*ports)), registry_with_test_components())
    await service.start()
    assert service.status is ServiceStatus.RUNNING
    await service.shutdown()
    assert service.status is ServiceStatus.STOPPED
    assert JOURNAL.order("start") == [
        "extension needs/storage",
        "extension needs/query",
        "exporter recorder (traces)",
        "processor tagger in traces",
        "receiver source",
    ]
    assert JOURNAL.order("shutdown") == [
        "receiver source",
        "processor tagger in traces",
        "exporter recorder (traces)",
        "extension needs/query",
        "extension needs/storage",
    ]


async def test_shutdown_is_safe_twice_and_without_start(ports: tuple[int, int]) -> None:
    service = Service(Source(config_text(*ports)), registry_with_test_components())
    await service.shutdown()
    await service.start()
    await service.shutdown()
    await service.shutdown()
    assert JOURNAL.order("shutdown").count("receiver source") == 1


async def test_health_check_answers_200_only_while_running(ports: tuple[int, int]) -> None:
    health, _ = ports
    service = Service(Source(config_text(*ports)), registry_with_test_components())
    await service.start()
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{health}/")
        assert response.status_code == 200
        assert response.json()["status"] == "Server available"
        service._status = ServiceStatus.STOPPING  # as during shutdown, while the extension still serves
        response = await client.get(f"http://127.0.0.1:{health}/")
        assert response.status_code == 503
        assert response.json() == {"status": "Server not available", "state": "stopping"}
    await service.shutdown()


async def test_internal_telemetry_is_served_with_the_collectors_names(ports: tuple[int, int]) -> None:
    _, metrics = ports
    service = Service(Source(config_text(*ports)), registry_with_test_components())
    await service.start()
    await JOURNAL.receivers["source"].push(spans("a", "b"))
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{metrics}/metrics")
    await service.shutdown()
    text = response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert (
        'otelcol_processor_incoming_items_total{otel_signal="traces",pipeline="traces",processor="tagger"} 2'
        in text
    )
    assert "# TYPE otelcol_process_uptime counter" in text
    rss = next(line for line in text.splitlines() if line.startswith("otelcol_process_memory_rss "))
    assert float(rss.split()[1]) > 10_000_000


async def test_reload_swaps_pipelines_and_keeps_unchanged_extensions_open(ports: tuple[int, int]) -> None:
    source = Source(config_text(*ports))
    service = Service(source, registry_with_test_components())
    await service.start()
    storage = service.extension(ComponentId("needs", "storage"))
    source.text = config_text(*ports, exporter="recorder/2")
    assert await service.reload()
    assert service.extension(ComponentId("needs", "storage")) is storage
    await JOURNAL.receivers["source"].push(spans("after"))
    assert [len(b) for b in JOURNAL.exporters["exporter recorder/2 (traces)"].batches] == [1]
    assert "extension needs/storage" not in JOURNAL.order("shutdown")
    await service.shutdown()


async def test_an_invalid_new_config_keeps_the_old_pipelines_running(ports: tuple[int, int]) -> None:
    source = Source(config_text(*ports))
    service = Service(source, registry_with_test_components())
    await service.start()
    source.text = config_text(*ports, exporter="nosuch")
    assert not await service.reload()
    assert service.status is ServiceStatus.RUNNING
    await JOURNAL.receivers["source"].push(spans("still"))
    assert [len(b) for b in JOURNAL.exporters["exporter recorder (traces)"].batches] == [1]
    assert JOURNAL.order("shutdown") == []
    await service.shutdown()


async def test_a_config_that_cannot_start_leaves_nothing_running(ports: tuple[int, int]) -> None:
    health, _ = ports
    service = Service(Source(config_text(health, health)), registry_with_test_components())
    with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
        await service.start()
    # the health check cannot bind the port internal telemetry holds: what had started is stopped again
    assert JOURNAL.order("start") == ["extension needs/storage", "extension needs/query"]
    assert JOURNAL.order("shutdown") == ["extension needs/query", "extension needs/storage"]
    assert service.status is not ServiceStatus.RUNNING


def test_an_invalid_config_is_refused_before_anything_starts(ports: tuple[int, int]) -> None:
    service = Service(Source(config_text(*ports, exporter="nosuch")), registry_with_test_components())
    with pytest.raises(ConfigError, match="'nosuch' is not defined in exporters or connectors"):
        service.load()
    assert JOURNAL.events == []


def start_airis(config: Path, health: int) -> subprocess.Popen[str]:
    """airis (with the test components) in its own process, once its health check says it runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.run_airis", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if not wait_until(lambda: healthy(health)):
        proc.kill()
        pytest.fail(f"airis did not become healthy: {proc.communicate()[0]}")
    return proc


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    except httpx.TransportError:
        return False


def metrics_up(port: int) -> bool:
    try:
        return "otelcol_process_uptime_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    except httpx.TransportError:
        return False


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_and_an_invalid_config_keeps_the_old_one_running(tmp_path: Path) -> None:
    health, first, second = free_port(), free_port(), free_port()
    config = tmp_path / "config.yaml"
    body = """
receivers: {{source: }}
exporters: {{recorder: }}
extensions: {{health_check: {{endpoint: "127.0.0.1:{health}"}}}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines: {{traces: {{receivers: [source], exporters: [{exporter}]}}}}
"""
    config.write_text(body.format(health=health, metrics=first, exporter="recorder"))
    proc = start_airis(config, health)
    try:
        config.write_text(body.format(health=health, metrics=second, exporter="nosuch"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert metrics_up(first)
        assert healthy(health)
        config.write_text(body.format(health=health, metrics=second, exporter="recorder"))
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: metrics_up(second))
        assert not metrics_up(first)
        assert healthy(health)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "reload refused, the running configuration stays" in output
    assert "'nosuch' is not defined in exporters or connectors" in output


def test_sigterm_drains_data_accepted_before_it_and_exits_0(tmp_path: Path) -> None:
    """Spans sent by the real OTel SDK before SIGTERM reach the exporter, which writes them out on shutdown."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    grpc_port, health, metrics = free_port(), free_port(), free_port()
    out = tmp_path / "spans.json"
    config = tmp_path / "config.yaml"
    config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}
exporters: {{recorder: {{path: "{out}"}}}}
extensions: {{health_check: {{endpoint: "127.0.0.1:{health}"}}}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [recorder]}}}}
""")
    proc = start_airis(config, health)
    try:
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
        )
        tracer = provider.get_tracer("test")
        for name in ("one", "two", "three"):
            with tracer.start_as_current_span(name):
                pass
        provider.shutdown()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert json.loads(out.read_text()) == ["one", "two", "three"]
    assert "shutting down" in output


def test_airis_cli_is_installed_in_the_venv() -> None:
    assert os.access(Path(sys.executable).parent / "airis", os.X_OK)
