"""Factory and config of the `debug` exporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from collector.component import Exporter, ExporterFactory, Settings, Stability
from collector.signal import Signal
from exporters.exporterhelper.config import ExporterHelperConfig, QueueConfig, RetryConfig


@dataclass
class DebugExporterConfig(ExporterHelperConfig):
    """How much to write: `basic` counts, `normal` one line per item, `detailed` everything.

    The exporter helper's keys are there too, off by default (a queue makes writing asynchronous).
    """

    sending_queue: QueueConfig = field(default_factory=lambda: QueueConfig(enabled=False))
    retry_on_failure: RetryConfig = field(default_factory=lambda: RetryConfig(enabled=False))
    verbosity: Literal["basic", "normal", "detailed"] = "basic"
    sampling_initial: int = 2
    sampling_thereafter: int = 1
    use_internal_logger: bool = True

    def validate(self) -> None:
        if self.sampling_initial < 1 or self.sampling_thereafter < 1:
            raise ValueError("sampling_initial and sampling_thereafter must be at least 1")


def create_exporter(settings: Settings, config: DebugExporterConfig, signal: Signal) -> Exporter:
    from exporters.debug.exporter import DebugExporter
    from exporters.exporterhelper.exporter import new_exporter

    return new_exporter(settings, config, signal, DebugExporter(settings, config, signal))


FACTORY = ExporterFactory(
    type="debug",
    config_type=DebugExporterConfig,
    create=create_exporter,
    signals={
        Signal.TRACES: Stability.DEVELOPMENT,
        Signal.METRICS: Stability.DEVELOPMENT,
        Signal.LOGS: Stability.DEVELOPMENT,
    },
)
