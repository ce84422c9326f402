"""A real airis answers bad requests with the right error each and keeps serving everyone else."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc.status_pb2 import Status

from tests.conftest import free_port
from tests.e2e.airis_process import AirisProcess, send_grpc, trace_requests


@pytest.fixture
def airis(tmp_path: Path) -> Iterator[tuple[AirisProcess, int, int]]:
    grpc_port, http_port = free_port(), free_port()
    process = AirisProcess(
        tmp_path,
        "airis",
        f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}, http: {{endpoint: "127.0.0.1:{http_port}"}}}}}}
exporters: {{debug: }}
service: {{extensions: [health_check], pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}
""",
    ).start()
    try:
        yield process, grpc_port, http_port
    finally:
        process.kill()


GOOD, _ = trace_requests(1, 3)[0]


def post(port: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", **headers},
        timeout=30,
    )


def message(response: httpx.Response) -> str:
    return str(Status.FromString(response.content).message)


def test_each_bad_request_gets_its_error_and_good_ones_still_pass(
    airis: tuple[AirisProcess, int, int],
) -> None:
    process, grpc_port, http_port = airis
    corrupted = post(http_port, b"\x0a\xff\xff\xff\xff\x0f" + GOOD[:20])
    assert corrupted.status_code == 400
    truncated = post(http_port, gzip.compress(GOOD)[:-12], **{"content-encoding": "gzip"})
    assert truncated.status_code == 400 and "gzip" in message(truncated)
    wrong_type = post(http_port, GOOD, **{"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    huge = post(http_port, b"\0" * (50 * 1024 * 1024))
    assert huge.status_code == 413 and "max_request_body_size" in message(huge)
    assert send_grpc(grpc_port, b"\xff\xff\xff\xff") == "INVALID_ARGUMENT"
    assert post(http_port, GOOD).status_code == 200
    assert send_grpc(grpc_port, GOOD) == "OK"
    assert process.metric("otelcol_receiver_accepted_spans_total") == 6
    assert process.healthy()


def test_a_slowloris_connection_does_not_stop_other_clients(airis: tuple[AirisProcess, int, int]) -> None:
    _, grpc_port, http_port = airis
    slow = socket.create_connection(("127.0.0.1", http_port))
    try:
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
        slow.sendall(b"Content-Length: 1000\r\n\r\n" + GOOD[:10])  # and then nothing more
        for _ in range(3):
            assert post(http_port, GOOD).status_code == 200
            assert send_grpc(grpc_port, GOOD) == "OK"
    finally:
        slow.close()
