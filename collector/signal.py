"""The three kinds of telemetry a pipeline carries."""

from enum import StrEnum


class Signal(StrEnum):
    """A telemetry signal; also the type of a pipeline id (`traces/name`)."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"
