"""Factory of the `clickhouse` exporter; imports cheaply (the backend and pyarrow come with `create`)."""

from __future__ import annotations

from collector.component import Exporter, ExporterFactory, Settings, Stability
from collector.signal import Signal
from exporters.clickhouse.config import ClickHouseExporterConfig

__all__ = ["FACTORY", "create_exporter"]


def create_exporter(settings: Settings, config: ClickHouseExporterConfig, signal: Signal) -> Exporter:
    """The exporter helper around a ClickHouse sender for `signal`; no I/O until `start`."""
    from exporters.clickhouse.sender import ClickHouseSender
    from exporters.exporterhelper.exporter import new_exporter

    return new_exporter(settings, config, signal, ClickHouseSender(settings, config, signal))


FACTORY: ExporterFactory[ClickHouseExporterConfig] = ExporterFactory(
    type="clickhouse",
    config_type=ClickHouseExporterConfig,
    create=create_exporter,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
