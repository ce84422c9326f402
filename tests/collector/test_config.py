"""The whole configuration is checked before anything is created, with every problem listed."""

from __future__ import annotations

import pytest

from collector.component import ComponentId, Kind
from collector.config import Config, load
from collector.confmap import load_yaml
from collector.errors import ConfigError
from collector.signal import Signal
from tests.components import registry_with_test_components

REGISTRY = registry_with_test_components()


def check(text: str) -> Config:
    return load(load_yaml(text, "test.yaml"), REGISTRY)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check(text)
    return [str(p) for p in info.value.problems]


GOOD = """
receivers: {source: , source/2: {tag: b}}
processors: {tagger: }
exporters: {recorder: , debug: {verbosity: normal}}
connectors: {forward: }
extensions: {health_check: {endpoint: "127.0.0.1:0"}}
service:
  extensions: [health_check]
  pipelines:
    traces: {receivers: [source, source/2], processors: [tagger], exporters: [recorder, forward]}
    traces/out: {receivers: [forward], exporters: [debug]}
    logs: {receivers: [source], exporters: [recorder]}
"""


def test_a_valid_config_resolves_ids_defaults_and_pipelines() -> None:
    config = check(GOOD)
    assert set(config.components[Kind.RECEIVER]) == {ComponentId("source"), ComponentId("source", "2")}
    assert config.component(Kind.RECEIVER, ComponentId("source", "2")).config.tag == "b"
    assert config.component(Kind.EXPORTER, ComponentId("debug")).config.verbosity == "normal"
    assert config.extensions == (ComponentId("health_check"),)
    traces = config.pipelines[ComponentId("traces")]
    assert traces.signal is Signal.TRACES
    assert traces.exporters == (ComponentId("recorder"), ComponentId("forward"))
    assert config.pipelines[ComponentId("traces", "out")].receivers == (ComponentId("forward"),)
    assert config.telemetry.metrics.address == "127.0.0.1:8888"


def test_type_aliases_of_the_collector_are_accepted() -> None:
    from collector.component import ExporterFactory
    from tests.components import RecorderConfig, TestExporter

    registry = registry_with_test_components()
    registry.add(
        ExporterFactory(
            "otlphttp",
            RecorderConfig,
            lambda s, c, sig: TestExporter(s, c, sig),
            {Signal.TRACES: REGISTRY.get(Kind.EXPORTER, "recorder").signals[Signal.TRACES]},
        )
    )  # type: ignore[union-attr]
    config = load(
        load_yaml(
            """
receivers: {source: }
exporters: {otlp_http/backend: }
service: {pipelines: {traces: {receivers: [source], exporters: [otlp_http/backend]}}}
""",
            "t",
        ),
        registry,
    )
    assert config.component(Kind.EXPORTER, ComponentId("otlp_http", "backend")).factory.type == "otlphttp"


def test_unknown_sections_and_types_are_named() -> None:
    assert problems("""
receiver: {}
receivers: {nosuch: }
exporters: {recorder: }
service: {pipelines: {traces: {receivers: [nosuch], exporters: [recorder]}}}
""") == [
        "receiver: unknown section (valid: receivers, processors, exporters, connectors, extensions, service)",
        "receivers::nosuch: unknown receiver type 'nosuch' (known: nop, otlp, prometheus, prometheusremotewrite, source, syslog)",
    ]


def test_cross_references_are_checked() -> None:
    assert problems("""
receivers: {source: }
exporters: {recorder: }
extensions: {needs: }
service:
  extensions: [needs, health_check]
  pipelines:
    traces: {receivers: [source, other], processors: [tagger], exporters: [recorder, recorder/2]}
    bogus: {receivers: [source], exporters: [recorder]}
    logs: {receivers: [], exporters: []}
""") == [
        "service::extensions::1: extension 'health_check' is not defined in the extensions section",
        "service::pipelines::traces::receivers::1: 'other' is not defined in receivers or connectors",
        "service::pipelines::traces::processors::0: 'tagger' is not defined in processors",
        "service::pipelines::traces::exporters::1: 'recorder/2' is not defined in exporters or connectors",
        "service::pipelines::bogus: pipeline id 'bogus' must be traces, metrics or logs, optionally /name",
        "service::pipelines::logs::receivers: a pipeline needs at least one receiver",
        "service::pipelines::logs::exporters: a pipeline needs at least one exporter",
    ]


def test_the_same_processor_twice_in_a_pipeline_is_an_error() -> None:
    assert problems("""
receivers: {source: }
processors: {tagger: , tagger/b: }
exporters: {recorder: }
service: {pipelines: {traces: {receivers: [source], processors: [tagger, tagger/b, tagger], exporters: [recorder]}}}
""") == ["service::pipelines::traces::processors::2: processor 'tagger' appears twice in this pipeline"]


def test_at_least_one_pipeline_is_required() -> None:
    assert problems("receivers: {source: }\nservice: {}") == [
        "service::pipelines: at least one pipeline is required"
    ]


def test_a_connector_must_both_export_and_receive() -> None:
    assert problems("""
receivers: {source: }
exporters: {recorder: }
connectors: {forward: }
service: {pipelines: {traces: {receivers: [source], exporters: [recorder, forward]}}}
""") == [
        "connectors::forward: connector 'forward' must be used as an exporter of one pipeline and as a receiver "
        "of another"
    ]


def test_a_connector_cannot_change_signals_it_does_not_support() -> None:
    assert problems("""
receivers: {source: }
exporters: {recorder: }
connectors: {forward: }
service:
  pipelines:
    traces: {receivers: [source], exporters: [forward]}
    logs: {receivers: [forward], exporters: [recorder]}
""") == [
        "connectors::forward: connector 'forward' cannot carry traces into logs",
        "connectors::forward: connector 'forward' cannot emit logs from traces",
    ]


def test_a_component_that_lacks_a_signal_says_so() -> None:
    from collector.component import ExporterFactory, Stability
    from tests.components import RecorderConfig, TestExporter

    registry = registry_with_test_components()
    registry.add(
        ExporterFactory(
            "tracesonly",
            RecorderConfig,
            lambda s, c, sig: TestExporter(s, c, sig),
            {Signal.TRACES: Stability.ALPHA},
        )
    )
    with pytest.raises(ConfigError) as info:
        load(
            load_yaml(
                """
receivers: {source: }
exporters: {tracesonly: }
service: {pipelines: {logs: {receivers: [source], exporters: [tracesonly]}}}
""",
                "t",
            ),
            registry,
        )
    assert [str(p) for p in info.value.problems] == [
        "service::pipelines::logs::exporters::0: exporter 'tracesonly' does not support logs (it supports: traces)"
    ]


def test_telemetry_ports_are_configurable_and_checked() -> None:
    base = "receivers: {source: }\nexporters: {recorder: }\n"
    pipelines = "  pipelines: {traces: {receivers: [source], exporters: [recorder]}}\n"
    config = check(base + "service:\n  telemetry: {metrics: {address: '127.0.0.1:9999'}}\n" + pipelines)
    assert config.telemetry.metrics.address == "127.0.0.1:9999"
    assert problems(
        base + "service:\n  telemetry: {metrics: {address: nope}, logs: {level: loud}}\n" + pipelines
    ) == [
        "service::telemetry::metrics: 'nope' is not a host:port address (e.g. 127.0.0.1:8888)",
        "service::telemetry::logs::level: 'loud' is not one of debug, info, warn, error",
    ]
