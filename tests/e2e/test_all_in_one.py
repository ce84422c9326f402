"""The shipped all-in-one `config.yaml`, as `make run` starts it: the OpenTelemetry SDK sends traces,
logs and metrics over OTLP; they come back through the Jaeger API, the log service, the Prometheus
API and the GraphQL gateway of the same process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.airis_process import ROOT, AirisProcess, wait_until


@pytest.fixture(scope="module")
def airis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("all-in-one")
    ports = {name: free_port() for name in ("grpc", "http", "traces", "logs", "metrics", "gateway")}
    env = {
        "AIRIS_DATA_DIR": str(work / "data"),
        "AIRIS_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports['grpc']}",
        "AIRIS_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports['http']}",
        "AIRIS_TRACES_ENDPOINT": f"127.0.0.1:{ports['traces']}",
        "AIRIS_LOGS_ENDPOINT": f"127.0.0.1:{ports['logs']}",
        "AIRIS_METRICS_ENDPOINT": f"127.0.0.1:{ports['metrics']}",
        "AIRIS_GATEWAY_ENDPOINT": f"127.0.0.1:{ports['gateway']}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        process = AirisProcess(work, "airis", (ROOT / "config.yaml").read_text()).start()
    try:
        yield {"ports": ports, "process": process}
    finally:
        assert process.stop() == 0, process.log()


def _send_with_the_sdk(grpc_port: int) -> str:
    """One trace (frontend → checkout, an error), two logs and a counter, through the SDK's exporters."""
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    endpoint = f"127.0.0.1:{grpc_port}"
    resource = Resource.create({"service.name": "shop-frontend", "service.namespace": "shop"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint, insecure=True)))
    tracer = tracer_provider.get_tracer("e2e")
    with tracer.start_as_current_span("GET /checkout", attributes={"http.route": "/checkout"}) as root:
        with tracer.start_as_current_span("charge card") as child:
            child.set_status(Status(StatusCode.ERROR, "card declined"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    tracer_provider.shutdown()

    import logging

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint, insecure=True))
    )
    logger = logging.getLogger("e2e.all_in_one")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    logger.setLevel(logging.INFO)
    logger.warning("payment declined for order 4711")
    logger.info("order 4712 shipped")
    logger_provider.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint, insecure=True), 60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader, InMemoryMetricReader()])
    counter = meter_provider.get_meter("e2e").create_counter("orders.placed", unit="1")
    counter.add(3, {"region": "eu"})
    meter_provider.shutdown()  # exports once more on the way out
    return trace_id


def _get(port: int, path: str, **params: Any) -> Any:
    response = httpx.get(f"http://127.0.0.1:{port}{path}", params=params, timeout=10)
    assert response.status_code == 200, (path, response.text)
    return response.json()


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_what_the_sdk_sends_comes_back_through_every_api(airis: dict[str, Any]) -> None:
    ports = airis["ports"]
    started = time.time()
    trace_id = _send_with_the_sdk(ports["grpc"])

    def trace_stored() -> bool:
        response = httpx.get(f"http://127.0.0.1:{ports['traces']}/api/traces/{trace_id}", timeout=5)
        return response.status_code == 200 and len(response.json()["data"][0]["spans"]) == 2

    assert wait_until(trace_stored, 30, 0.25), airis["process"].log()
    trace = _get(ports["traces"], f"/api/traces/{trace_id}")["data"][0]
    assert trace["traceID"] == trace_id
    spans = {span["operationName"]: span for span in trace["spans"]}
    assert set(spans) == {"GET /checkout", "charge card"}
    charge = spans["charge card"]
    assert charge["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": spans["GET /checkout"]["spanID"]}
    ]
    tags = {tag["key"]: tag["value"] for tag in charge["tags"]}
    assert tags["error"] is True and tags["otel.status_description"] == "card declined"
    assert trace["processes"][charge["processID"]]["serviceName"] == "shop-frontend"
    assert "shop-frontend" in _get(ports["traces"], "/api/services")["data"]

    def logs_found() -> list[dict[str, Any]]:
        found = _get(ports["logs"], "/v1/logs", q="declined", service="shop-frontend")
        return list(found["records"])

    assert wait_until(lambda: bool(logs_found()), 30, 0.25), airis["process"].log()
    (record,) = logs_found()
    assert record["body"] == "payment declined for order 4711"
    assert record["severity_text"] == "WARN"

    def counter_value() -> list[dict[str, Any]]:
        result = _get(ports["metrics"], "/api/v1/query", query='orders_placed_total{region="eu"}')
        return list(result["data"]["result"])

    assert wait_until(lambda: bool(counter_value()), 30, 0.25), airis["process"].log()
    (series,) = counter_value()
    assert series["metric"]["job"] == "shop/shop-frontend"
    assert float(series["value"][1]) == 3.0
    assert series["value"][0] >= started - 60

    query = """query($id: ID!) {
      trace(traceId: $id) { rootService spanCount errorCount spans { name status { code message } } }
      logs(filter: {query: "declined", services: ["shop-frontend"]}) { nodes { body severityText } }
      promql(query: "orders_placed_total") { series { metric points { value } } }
    }"""
    answer = httpx.post(
        f"http://127.0.0.1:{ports['gateway']}/graphql",
        json={"query": query, "variables": {"id": trace_id}},
        timeout=10,
    ).json()
    assert "errors" not in answer, answer
    data = answer["data"]
    assert data["trace"]["rootService"] == "shop-frontend"
    assert (data["trace"]["spanCount"], data["trace"]["errorCount"]) == (2, 1)
    assert {"name": "charge card", "status": {"code": "ERROR", "message": "card declined"}} in data["trace"][
        "spans"
    ]
    assert data["logs"]["nodes"] == [{"body": "payment declined for order 4711", "severityText": "WARN"}]
    assert [p["value"] for s in data["promql"]["series"] for p in s["points"]] == [3.0]


def test_the_query_services_describe_themselves(airis: dict[str, Any]) -> None:
    for name in ("traces", "logs", "metrics"):
        port = airis["ports"][name]
        assert _get(port, "/health")["status"] == "ok"
        assert _get(port, "/openapi.json")["paths"], name
    build = _get(airis["ports"]["metrics"], "/api/v1/status/buildinfo")
    assert build["status"] == "success" and build["data"]["version"]


def test_the_default_data_folder_is_where_the_config_says(airis: dict[str, Any]) -> None:
    data = Path(airis["process"].config).parent / "data"
    assert (data / "clickhouse").is_dir() and (data / "queue").is_dir()
