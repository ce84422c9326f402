"""Nothing acknowledged is lost: real airis processes, a downstream outage and `kill -9`."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.airis_process import (
    AirisProcess,
    send_grpc,
    sink_config,
    span_ids_in,
    trace_requests,
    wait_until,
)


def agent_config(receiver_port: int, sink_port: int, storage: Path | None = None) -> str:
    """otlp -> otlp with quick retries that never give up; a persistent queue when `storage` is given."""
    return f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{receiver_port}"}}}}}}}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_port}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 2s, max_elapsed_time: 0s}}
    sending_queue: {{num_consumers: 4{", storage: file_storage" if storage else ""}}}
extensions: {{{f"file_storage: {{directory: '{storage}'}}" if storage else ""}}}
service:
  extensions: [health_check{", file_storage" if storage else ""}]
  pipelines: {{traces: {{receivers: [otlp], exporters: [otlp]}}}}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def deliver_and_check(sink: AirisProcess, expected: list[str], seconds: float = 60) -> Counter[str]:
    assert wait_until(lambda: set(expected) <= set(span_ids_in(sink.log())), seconds, 0.2), (
        f"missing {len(set(expected) - set(span_ids_in(sink.log())))} of {len(expected)} spans"
    )
    return Counter(span_ids_in(sink.log()))


def test_a_downstream_outage_of_30_seconds_loses_nothing(workdir: Path) -> None:
    receiver_port, sink_port = free_port(), free_port()
    agent = AirisProcess(workdir, "agent", agent_config(receiver_port, sink_port)).start()
    sink = AirisProcess(workdir, "sink", sink_config(sink_port))
    try:
        requests = trace_requests(20, 100)
        assert [send_grpc(receiver_port, body) for body, _ in requests] == ["OK"] * 20
        time.sleep(30)  # downstream is down all this time; the agent keeps retrying
        sink.start()
        expected = [i for _, ids in requests for i in ids]
        seen = deliver_and_check(sink, expected)
        duplicates = sum(n - 1 for n in seen.values())
        print(f"outage: {len(expected)} spans delivered, {duplicates} duplicates")
        assert agent.stop() == 0
    finally:
        agent.kill()
        sink.kill()


def test_kill_9_with_a_persistent_queue_loses_nothing_acknowledged(workdir: Path) -> None:
    receiver_port, sink_port = free_port(), free_port()
    config = agent_config(receiver_port, sink_port, storage=workdir / "queue")
    agent = AirisProcess(workdir, "agent", config).start()
    sink = AirisProcess(workdir, "sink", sink_config(sink_port))
    try:
        requests = trace_requests(30, 50)
        acknowledged = [ids for body, ids in requests if send_grpc(receiver_port, body) == "OK"]
        assert len(acknowledged) == 30
        agent.kill()  # SIGKILL: no draining, no goodbye
        agent.start()
        sink.start()
        expected = [i for ids in acknowledged for i in ids]
        seen = deliver_and_check(sink, expected)
        print(f"kill -9: {len(expected)} spans delivered, {sum(n - 1 for n in seen.values())} duplicates")
        assert agent.stop() == 0
    finally:
        agent.kill()
        sink.kill()


def test_kill_9_while_data_flows_loses_nothing_acknowledged(workdir: Path) -> None:
    receiver_port, sink_port = free_port(), free_port()
    config = agent_config(receiver_port, sink_port, storage=workdir / "queue")
    sink = AirisProcess(workdir, "sink", sink_config(sink_port)).start()
    agent = AirisProcess(workdir, "agent", config).start()
    try:
        acknowledged: list[str] = []
        for i, (body, ids) in enumerate(trace_requests(40, 50)):
            if send_grpc(receiver_port, body) == "OK":
                acknowledged += ids
            if i == 25:
                agent.kill()
                agent.start()
        assert len(acknowledged) >= 25 * 50
        deliver_and_check(sink, acknowledged)
    finally:
        agent.kill()
        sink.kill()
