"""Factory of the `otlphttp` exporter; imports cheaply (httpx is imported by `create`)."""

from __future__ import annotations

from collector.component import Exporter, ExporterFactory, Settings, Stability
from collector.signal import Signal
from exporters.otlphttp.config import OtlpHttpExporterConfig

__all__ = ["FACTORY", "create_exporter"]


def create_exporter(settings: Settings, config: OtlpHttpExporterConfig, signal: Signal) -> Exporter:
    """The exporter helper around an OTLP/HTTP sender for `signal`; ValueError if it has no URL."""
    from exporters.exporterhelper.exporter import new_exporter
    from exporters.otlphttp.sender import OtlpHttpSender

    return new_exporter(settings, config, signal, OtlpHttpSender(settings, config, signal))


FACTORY: ExporterFactory[OtlpHttpExporterConfig] = ExporterFactory(
    type="otlphttp",
    config_type=OtlpHttpExporterConfig,
    create=create_exporter,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
