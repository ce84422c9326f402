"""The span as the trace service reads it back (one row of otel_traces), shared by its APIs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpanEvent:
    """One span event: time in Unix nanoseconds, name, attributes."""

    time_ns: int
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class SpanLink:
    """A link to another span."""

    trace_id: str
    span_id: str
    trace_state: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Span:
    """One stored span; ids are lowercase hex, times Unix nanoseconds, attributes as stored (strings)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: str  # as stored: "Server", "Client", "Internal", "Producer", "Consumer", "Unspecified"
    start_ns: int
    duration_ns: int
    status_code: str  # as stored: "Unset", "Ok", "Error"
    status_message: str = ""
    trace_state: str = ""
    scope_name: str = ""
    scope_version: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    resource: dict[str, str] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)

    @property
    def end_ns(self) -> int:
        """When the span ended (Unix nanoseconds)."""
        return self.start_ns + self.duration_ns
