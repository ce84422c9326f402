"""Factory of the `prometheusremotewrite` exporter; imports cheaply (httpx is imported by `create`)."""

from __future__ import annotations

import dataclasses

from collector.component import Exporter, ExporterFactory, Settings, Stability
from collector.signal import Signal
from exporters.exporterhelper.config import QueueConfig
from exporters.prometheusremotewrite.config import PrometheusRemoteWriteExporterConfig

__all__ = ["FACTORY", "create_exporter"]


def create_exporter(
    settings: Settings, config: PrometheusRemoteWriteExporterConfig, signal: Signal
) -> Exporter:
    """The exporter helper around a remote-write sender (metrics only)."""
    from exporters.exporterhelper.exporter import new_exporter
    from exporters.prometheusremotewrite.sender import RemoteWriteSender

    if signal is not Signal.METRICS:
        raise ValueError(f"the prometheusremotewrite exporter only exports metrics, not {signal.value}")
    concurrency = 5
    helper_config = config
    if config.remote_write_queue is not None:
        # contrib's own queue keys: one queue worker (samples stay in order), `num_consumers` requests at once.
        queue = config.remote_write_queue
        concurrency = queue.num_consumers or 1
        sending_queue = QueueConfig(enabled=queue.enabled, queue_size=queue.queue_size or 1, num_consumers=1)
        helper_config = dataclasses.replace(config, sending_queue=sending_queue)
    return new_exporter(settings, helper_config, signal, RemoteWriteSender(settings, config, concurrency))


FACTORY: ExporterFactory[PrometheusRemoteWriteExporterConfig] = ExporterFactory(
    type="prometheusremotewrite",
    config_type=PrometheusRemoteWriteExporterConfig,
    create=create_exporter,
    signals={Signal.METRICS: Stability.BETA},
)
