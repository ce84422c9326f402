"""Factory and config of the `batch` processor (the collector's keys and defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from collector.component import Consumer, Processor, ProcessorFactory, Settings, Stability
from collector.signal import Signal


@dataclass
class BatchProcessorConfig:
    """Send when `send_batch_size` items are pending or `timeout` after the first; split above `send_batch_max_size`."""

    send_batch_size: int = 8192
    timeout: timedelta = timedelta(milliseconds=200)
    send_batch_max_size: int = 0  # 0: no upper bound
    metadata_keys: list[str] = field(default_factory=list)
    metadata_cardinality_limit: int = 1000

    def validate(self) -> None:
        if self.send_batch_size < 0 or self.send_batch_max_size < 0:
            raise ValueError("send_batch_size and send_batch_max_size must not be negative")
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be greater or equal to send_batch_size")
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        if len({k.lower() for k in self.metadata_keys}) != len(self.metadata_keys):
            raise ValueError("metadata_keys must not repeat a key (names are case-insensitive)")


def create_processor(
    settings: Settings, config: BatchProcessorConfig, signal: Signal, next_: Consumer
) -> Processor:
    from processors.batch.processor import BatchProcessor

    return BatchProcessor(settings, config, signal, next_)


FACTORY = ProcessorFactory(
    type="batch",
    config_type=BatchProcessorConfig,
    create=create_processor,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
