"""The pipeline graph: shared receivers and exporters, per-pipeline processors, fan-out, connectors."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.config import load
from collector.confmap import load_yaml
from collector.errors import ConfigError
from collector.graph import Graph, start_order
from collector.pdata import Batch
from collector.telemetry import MetricsRegistry
from tests.components import JOURNAL, registry_with_test_components


def build(text: str) -> Graph:
    return Graph.build(load(load_yaml(text, "test.yaml"), registry_with_test_components()), MetricsRegistry())


def spans(*names: str) -> Batch:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for name in names:
        scope.spans.add(name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return Batch.from_otlp(request)


def logs(*bodies: str) -> Batch:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for body in bodies:
        scope.log_records.add().body.string_value = body
    return Batch.from_otlp(request)


def received(exporter_label: str) -> int:
    return sum(len(b) for b in JOURNAL.exporters[exporter_label].batches)


SHARED = """
receivers: {source: }
processors: {tagger: }
exporters: {recorder: , recorder/2: }
service:
  pipelines:
    traces: {receivers: [source], processors: [tagger], exporters: [recorder, recorder/2]}
    traces/2: {receivers: [source], processors: [tagger], exporters: [recorder]}
    logs: {receivers: [source], exporters: [recorder]}
"""


def test_a_receiver_in_several_pipelines_and_signals_is_one_instance() -> None:
    graph = build(SHARED)
    assert list(JOURNAL.receivers) == ["source"]
    assert set(JOURNAL.receivers["source"].nexts) == {"traces", "logs"}
    assert [n.label for n in graph.nodes if n.kind == "receiver"] == ["receiver source"]


def test_processors_are_per_pipeline_and_exporters_per_signal_and_id() -> None:
    graph = build(SHARED)
    labels = sorted(n.label for n in graph.nodes if n.kind != "receiver")
    assert labels == [
        "exporter recorder (logs)",
        "exporter recorder (traces)",
        "exporter recorder/2 (traces)",
        "processor tagger in pipeline traces",
        "processor tagger in pipeline traces/2",
    ]


async def test_data_fans_out_to_every_exporter_and_in_from_every_pipeline() -> None:
    build(SHARED)
    await JOURNAL.receivers["source"].push(spans("a", "b"))
    await JOURNAL.receivers["source"].push(logs("hello"))
    # `recorder` (traces) is fed by both traces pipelines; `recorder/2` only by the first.
    assert received("exporter recorder (traces)") == 4
    assert received("exporter recorder/2 (traces)") == 2
    assert received("exporter recorder (logs)") == 1
    assert JOURNAL.order("consume").count("processor tagger in traces") == 1
    assert JOURNAL.order("consume").count("processor tagger in traces/2") == 1


async def test_the_forward_connector_joins_pipelines() -> None:
    build("""
receivers: {source: }
exporters: {recorder: , recorder/out: }
connectors: {forward: }
service:
  pipelines:
    traces: {receivers: [source], exporters: [recorder, forward]}
    traces/out: {receivers: [forward], exporters: [recorder/out]}
""")
    await JOURNAL.receivers["source"].push(spans("x"))
    assert received("exporter recorder (traces)") == 1
    batch = JOURNAL.exporters["exporter recorder/out (traces)"].batches[0]
    assert batch.otlp().resource_spans[0].scope_spans[0].spans[0].name == "x"  # type: ignore[attr-defined]


def test_a_cycle_through_connectors_is_rejected_and_named() -> None:
    with pytest.raises(ConfigError) as info:
        build("""
receivers: {source: }
exporters: {recorder: }
connectors: {forward: , forward/back: }
service:
  pipelines:
    traces/a: {receivers: [source, forward/back], exporters: [forward]}
    traces/b: {receivers: [forward], exporters: [forward/back, recorder]}
""")
    assert [str(p) for p in info.value.problems] == [
        "service::pipelines: cycle through connectors: traces/a -> [forward] -> traces/b -> [forward/back] -> traces/a"
    ]


def test_start_order_is_exporters_then_processors_then_receivers() -> None:
    graph = build(SHARED)
    kinds = [n.kind.value for n in start_order(graph)]
    assert kinds == ["exporter"] * 3 + ["processor"] * 2 + ["receiver"]


def test_processor_item_counts_are_kept_per_pipeline() -> None:
    graph = build(SHARED)

    async def push() -> None:
        await JOURNAL.receivers["source"].push(spans("a", "b", "c"))

    import asyncio

    asyncio.run(push())
    incoming = graph.telemetry.get("otelcol_processor_incoming_items_total")
    outgoing = graph.telemetry.get("otelcol_processor_outgoing_items_total")
    labels = {"processor": "tagger", "otel_signal": "traces", "pipeline": "traces/2"}
    assert incoming.value(**labels) == 3
    assert outgoing.value(**labels) == 3
