"""The `nop` exporter, as the collector's: accepts every batch and drops it."""

from __future__ import annotations

from dataclasses import dataclass

from collector.component import Exporter, ExporterFactory, Host, Settings, Stability
from collector.pdata import Batch
from collector.signal import Signal


@dataclass
class NopExporterConfig:
    """No settings."""

    def validate(self) -> None:
        pass


class NopExporter:
    """Drops what it is given."""

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        pass


def create_exporter(settings: Settings, config: NopExporterConfig, signal: Signal) -> Exporter:
    return NopExporter()


FACTORY = ExporterFactory(
    type="nop",
    config_type=NopExporterConfig,
    create=create_exporter,
    signals=dict.fromkeys(Signal, Stability.BETA),
)
