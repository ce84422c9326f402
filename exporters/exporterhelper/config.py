"""The exporter helper's settings, which every exporter config embeds (by inheriting ExporterHelperConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal


@dataclass
class BatchConfig:
    """Batching after the queue: flush when `min_size` is reached or `flush_timeout` passed; split above `max_size`."""

    flush_timeout: timedelta = timedelta(milliseconds=200)
    min_size: int = 8192
    max_size: int = 0  # 0: no upper bound
    sizer: Literal["items", "requests"] = "items"

    def validate(self) -> None:
        if self.min_size < 0 or self.max_size < 0:
            raise ValueError("min_size and max_size must not be negative")
        if self.max_size and self.max_size < self.min_size:
            raise ValueError(f"max_size ({self.max_size}) must be at least min_size ({self.min_size})")
        if self.flush_timeout <= timedelta(0):
            raise ValueError("flush_timeout must be positive")


@dataclass
class QueueConfig:
    """`sending_queue`: accept at once, send from `num_consumers` workers; persistent when `storage` names a file_storage."""

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 1000
    sizer: Literal["requests", "items"] = "requests"
    block_on_overflow: bool = False
    storage: str | None = None
    batch: BatchConfig | None = None

    def validate(self) -> None:
        if self.enabled and self.num_consumers < 1:
            raise ValueError("num_consumers must be at least 1")
        if self.enabled and self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if self.storage is not None:
            from collector.component import ComponentId

            try:
                ComponentId.parse(self.storage)
            except ValueError as err:
                raise ValueError(f"storage must name an extension: {err}") from None


@dataclass
class RetryConfig:
    """`retry_on_failure`: exponential backoff with jitter for retryable failures."""

    enabled: bool = True
    initial_interval: timedelta = timedelta(seconds=5)
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: timedelta = timedelta(seconds=30)
    max_elapsed_time: timedelta = timedelta(seconds=300)  # 0: retry forever

    def validate(self) -> None:
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("randomization_factor must be between 0 and 1")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if self.initial_interval <= timedelta(0) or self.max_interval < self.initial_interval:
            raise ValueError("initial_interval must be positive and at most max_interval")
        if self.max_elapsed_time < timedelta(0):
            raise ValueError("max_elapsed_time must not be negative (0: retry forever)")


@dataclass
class ExporterHelperConfig:
    """`timeout` per attempt, `sending_queue` and `retry_on_failure`: the keys every exporter has."""

    timeout: timedelta = timedelta(seconds=5)  # per attempt; 0: no timeout
    sending_queue: QueueConfig = field(default_factory=QueueConfig)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
