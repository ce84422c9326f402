"""The exporter helper every exporter is built with: timeout, sending queue (in memory or persistent),
batching after the queue, and retries with backoff, as the collector's exporterhelper.

An exporter supplies a `Sender`; `new_exporter(settings, config, signal, sender)` wraps it.
"""

from exporters.exporterhelper.config import BatchConfig, ExporterHelperConfig, QueueConfig, RetryConfig
from exporters.exporterhelper.exporter import new_exporter
from exporters.exporterhelper.retry import Timing
from exporters.exporterhelper.sender import Sender

__all__ = [
    "BatchConfig",
    "ExporterHelperConfig",
    "QueueConfig",
    "RetryConfig",
    "Sender",
    "Timing",
    "new_exporter",
]
