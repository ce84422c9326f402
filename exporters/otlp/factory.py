"""Factory of the `otlp` exporter; imports cheaply (grpc is imported by `create`)."""

from __future__ import annotations

from collector.component import Exporter, ExporterFactory, Settings, Stability
from collector.signal import Signal
from exporters.otlp.config import OtlpExporterConfig

__all__ = ["FACTORY", "create_exporter"]


def create_exporter(settings: Settings, config: OtlpExporterConfig, signal: Signal) -> Exporter:
    """The exporter helper around an OTLP/gRPC sender for `signal`; no I/O until `start`."""
    from exporters.exporterhelper.exporter import new_exporter
    from exporters.otlp.sender import OtlpGrpcSender

    return new_exporter(settings, config, signal, OtlpGrpcSender(settings, config, signal))


FACTORY: ExporterFactory[OtlpExporterConfig] = ExporterFactory(
    type="otlp",
    config_type=OtlpExporterConfig,
    create=create_exporter,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
