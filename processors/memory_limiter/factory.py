"""Factory and config of the `memory_limiter` processor (the collector's keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from collector.component import Consumer, Processor, ProcessorFactory, Settings, Stability
from collector.signal import Signal


@dataclass
class MemoryLimiterConfig:
    """Hard limit `limit_mib` (or a percentage of total memory); refuse above the soft limit, limit - spike."""

    check_interval: timedelta = timedelta(0)
    limit_mib: int = 0
    spike_limit_mib: int = 0  # 0: 20 % of the limit
    limit_percentage: int = 0
    spike_limit_percentage: int = 0

    def validate(self) -> None:
        if self.check_interval <= timedelta(0):
            raise ValueError("check_interval must be greater than zero")
        if self.limit_mib and self.limit_percentage:
            raise ValueError("set limit_mib or limit_percentage, not both")
        if not self.limit_mib and not self.limit_percentage:
            raise ValueError("limit_mib or limit_percentage must be greater than zero")
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            raise ValueError("spike_limit_mib must be smaller than limit_mib")
        if not 0 <= self.limit_percentage <= 100 or not 0 <= self.spike_limit_percentage <= 100:
            raise ValueError("limit_percentage and spike_limit_percentage must be between 0 and 100")
        if self.limit_percentage and self.spike_limit_percentage >= self.limit_percentage:
            raise ValueError("spike_limit_percentage must be smaller than limit_percentage")


def create_processor(
    settings: Settings, config: MemoryLimiterConfig, signal: Signal, next_: Consumer
) -> Processor:
    from processors.memory_limiter.processor import MemoryLimiterProcessor, shared_limiter

    return MemoryLimiterProcessor(shared_limiter(settings, config), signal, next_)


FACTORY = ProcessorFactory(
    type="memory_limiter",
    config_type=MemoryLimiterConfig,
    create=create_processor,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
