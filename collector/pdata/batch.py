"""The Batch: one signal's telemetry as OTLP protobuf and/or an Arrow table.

Each form is built on first use and cached, so an OTLP -> OTLP pass-through never converts and
never imports pyarrow. Batches are immutable by contract: to change data, build a new Batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata.errors import MalformedData
from collector.signal import Signal

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Batch", "MalformedData"]

_REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
_SIGNALS: dict[type[Message], Signal] = {t: s for s, t in _REQUEST_TYPES.items()}
# (resource groups, scope groups, items) field names of each signal's request.
_FIELDS: dict[Signal, tuple[str, str, str]] = {
    Signal.TRACES: ("resource_spans", "scope_spans", "spans"),
    Signal.METRICS: ("resource_metrics", "scope_metrics", "metrics"),
    Signal.LOGS: ("resource_logs", "scope_logs", "log_records"),
}


def _data_points(metric: Any) -> Any:
    """The repeated data points of a Metric (empty when it has no data)."""
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else ()


def _count(signal: Signal, request: Any) -> int:
    """Items in a request: a walk over the groups, never over the items (except metrics)."""
    resources, scopes, items = _FIELDS[signal]
    groups = [scope for rg in getattr(request, resources) for scope in getattr(rg, scopes)]
    if signal is Signal.METRICS:
        return sum(len(_data_points(m)) for group in groups for m in group.metrics)
    return sum(len(getattr(group, items)) for group in groups)


class Batch:
    """One signal's telemetry. Holds OTLP protobuf and/or Arrow; each form built on first use and cached."""

    __slots__ = ("_arrow", "_len", "_otlp", "_otlp_bytes", "metadata", "signal")

    signal: Signal
    metadata: Mapping[str, tuple[str, ...]]
    """Client metadata (request headers, lower-case names) when the receiver has `include_metadata`."""

    def __init__(
        self,
        signal: Signal,
        *,
        otlp: Message | None = None,
        otlp_bytes: bytes | None = None,
        arrow: pa.Table | None = None,
        metadata: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        if otlp is None and otlp_bytes is None and arrow is None:
            raise ValueError("a Batch needs OTLP, OTLP bytes or an Arrow table")
        self.signal = Signal(signal)
        self._otlp = otlp
        self._otlp_bytes = otlp_bytes
        self._arrow = arrow
        self._len: int | None = None
        self.metadata = metadata or {}

    @classmethod
    def from_otlp(cls, request: Message) -> Batch:
        """Wrap an Export*ServiceRequest; the signal is inferred from its type."""
        signal = _SIGNALS.get(type(request))
        if signal is None:
            raise TypeError(f"not an OTLP export request: {type(request).__name__}")
        return cls(signal, otlp=request)

    @classmethod
    def from_otlp_bytes(
        cls, signal: Signal, data: bytes, metadata: Mapping[str, tuple[str, ...]] | None = None
    ) -> Batch:
        """Wrap a serialized request; parsed on first use (raising `MalformedData` then)."""
        return cls(signal, otlp_bytes=bytes(data), metadata=metadata)

    @classmethod
    def from_arrow(cls, signal: Signal, table: pa.Table) -> Batch:
        """Wrap a table in the signal's layout (`collector.pdata.arrow_schema`)."""
        return cls(signal, arrow=table)

    def __repr__(self) -> str:
        forms = [
            n for n, v in (("otlp", self._otlp), ("bytes", self._otlp_bytes), ("arrow", self._arrow)) if v
        ]
        return f"Batch({self.signal.value}, forms={forms})"

    @property
    def has_otlp(self) -> bool:
        """Whether the OTLP form (message or bytes) is at hand without converting."""
        return self._otlp is not None or self._otlp_bytes is not None

    @property
    def has_arrow(self) -> bool:
        """Whether the Arrow form is at hand without converting."""
        return self._arrow is not None

    def otlp(self) -> Message:
        """The OTLP request (cached; do not mutate it)."""
        if self._otlp is None:
            request = _REQUEST_TYPES[self.signal]()
            if self._otlp_bytes is not None:
                try:
                    request.ParseFromString(self._otlp_bytes)
                except DecodeError as e:
                    raise MalformedData(f"invalid OTLP {self.signal.value} request: {e}") from None
            else:
                from collector.pdata import arrow_to_otlp

                request = _TO_OTLP[self.signal](arrow_to_otlp)(self._arrow)
            self._otlp = request
        return self._otlp

    def otlp_bytes(self) -> bytes:
        """The serialized request (the received bytes when the Batch was built from them)."""
        if self._otlp_bytes is None:
            self._otlp_bytes = self.otlp().SerializeToString()
        return self._otlp_bytes

    def arrow(self) -> pa.Table:
        """The columnar form (cached); see `collector.pdata.arrow_schema` for the layout."""
        if self._arrow is None:
            from collector.pdata import otlp_to_arrow

            self._arrow = _TO_ARROW[self.signal](otlp_to_arrow)(self.otlp())
        return self._arrow

    def __len__(self) -> int:
        """Spans, metric data points or log records."""
        if self._len is None:
            if self.has_otlp:
                self._len = _count(self.signal, self.otlp())
            else:
                self._len = _arrow_count(self.signal, self.arrow())
        return self._len

    def check(self) -> int:
        """Parse to prove the data well-formed (MalformedData if not) and count its items.

        A Batch of received bytes then keeps only the bytes and the count: a parsed request takes
        several times the memory of its bytes, and a pass-through never needs it.
        """
        if self._otlp_bytes is not None and self._otlp is None:
            self._len = _count(self.signal, self.otlp())
            self._otlp = None
        return len(self)

    def split(self, max_items: int) -> list[Batch]:
        """Batches of at most `max_items` items each, keeping resource/scope grouping and order."""
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        if len(self) <= max_items:
            return [self]
        if not self.has_otlp:
            parts = _split_arrow(self, max_items)
        else:
            parts = [Batch.from_otlp(r) for r in _split_otlp(self.signal, self.otlp(), max_items)]
        for part in parts:
            part.metadata = self.metadata
        return parts

    @staticmethod
    def merge(batches: Sequence[Batch]) -> Batch:
        """One Batch holding every item of `batches` (all of the same signal), in order."""
        if not batches:
            raise ValueError("nothing to merge")
        signal = batches[0].signal
        if any(b.signal is not signal for b in batches):
            raise ValueError(f"cannot merge batches of different signals into {signal.value}")
        if len(batches) == 1:
            return batches[0]
        metadata = batches[0].metadata if all(b.metadata == batches[0].metadata for b in batches) else {}
        if not any(b.has_otlp for b in batches):
            merged = Batch.from_arrow(signal, _concat_tables([b.arrow() for b in batches]))
        elif all(b._otlp_bytes is not None for b in batches):
            # Serialized requests merge by concatenation: their repeated resource lists are appended.
            merged = Batch(signal, otlp_bytes=b"".join(b.otlp_bytes() for b in batches))
        else:
            request = _REQUEST_TYPES[signal]()
            target = getattr(request, _FIELDS[signal][0])
            for batch in batches:
                target.extend(getattr(batch.otlp(), _FIELDS[signal][0]))
            merged = Batch.from_otlp(request)
        merged._len = sum(len(b) for b in batches)
        merged.metadata = metadata
        return merged


_TO_OTLP: dict[Signal, Callable[[Any], Callable[[Any], Message]]] = {
    Signal.TRACES: lambda m: m.traces_to_otlp,
    Signal.METRICS: lambda m: m.metrics_to_otlp,
    Signal.LOGS: lambda m: m.logs_to_otlp,
}
_TO_ARROW: dict[Signal, Callable[[Any], Callable[[Any], Any]]] = {
    Signal.TRACES: lambda m: m.traces_to_arrow,
    Signal.METRICS: lambda m: m.metrics_to_arrow,
    Signal.LOGS: lambda m: m.logs_to_arrow,
}


def _arrow_count(signal: Signal, table: pa.Table) -> int:
    if signal is Signal.METRICS and "has_point" in table.column_names:
        import pyarrow.compute as pc

        return int(pc.sum(pc.cast(table.column("has_point"), "int64")).as_py() or 0)
    return int(table.num_rows)


def _split_arrow(batch: Batch, max_items: int) -> list[Batch]:
    """Zero-copy row slices (a `has_point = false` metrics row counts as an item here)."""
    table = batch.arrow()
    return [
        Batch.from_arrow(batch.signal, table.slice(start, max_items))
        for start in range(0, table.num_rows, max_items)
    ]


def _concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables, shifting group indexes so groups of different tables stay apart."""
    import pyarrow as pa
    import pyarrow.compute as pc

    shifted = []
    offsets = {"resource_index": 0, "scope_index": 0, "metric_index": 0}
    for original in tables:
        table = original
        for name, offset in offsets.items():
            if name not in table.column_names or table.num_rows == 0:
                continue
            column = table.column(name)
            if offset:
                position = table.column_names.index(name)
                table = table.set_column(position, name, pc.add(column, pa.scalar(offset, column.type)))
                column = table.column(name)
            offsets[name] = int(pc.max(column).as_py()) + 1
        shifted.append(table)
    return pa.concat_tables(shifted, promote_options="default")


class _OtlpSplitter:
    """Fills requests of at most `max_items` items, re-creating resource/scope groups as needed."""

    def __init__(self, signal: Signal, max_items: int) -> None:
        self.request_type = _REQUEST_TYPES[signal]
        self.resources_field, self.scopes_field, self.items_field = _FIELDS[signal]
        self.max_items = max_items
        self.out: list[Message] = [self.request_type()]
        self.room = max_items
        self.resource: Any = None  # the source group currently open in out[-1] (and its copy)
        self.resource_copy: Any = None
        self.scope: Any = None
        self.scope_copy: Any = None

    def open(self, resource: Any, scope: Any) -> None:
        """Start copying items of `scope` (inside `resource`)."""
        if resource is not self.resource:
            self.resource, self.resource_copy = resource, None
        self.scope, self.scope_copy = scope, None

    def items(self) -> Any:
        """The repeated items field of the current scope's copy in the current request."""
        if self.resource_copy is None:
            group = getattr(self.out[-1], self.resources_field)
            self.resource_copy = group.add(
                resource=self.resource.resource, schema_url=self.resource.schema_url
            )
        if self.scope_copy is None:
            group = getattr(self.resource_copy, self.scopes_field)
            self.scope_copy = group.add(scope=self.scope.scope, schema_url=self.scope.schema_url)
        return getattr(self.scope_copy, self.items_field)

    def make_room(self) -> int:
        """Items the current request can still take, starting a new request when it is full."""
        if self.room == 0:
            self.out.append(self.request_type())
            self.resource_copy = self.scope_copy = None
            self.room = self.max_items
        return self.room


def _split_otlp(signal: Signal, request: Any, max_items: int) -> list[Message]:
    """Split a request into requests of at most `max_items` items; a metric's points may be split."""
    s = _OtlpSplitter(signal, max_items)
    for resource in getattr(request, s.resources_field):
        scopes = getattr(resource, s.scopes_field)
        if not scopes:
            getattr(s.out[-1], s.resources_field).append(resource)
        for scope in scopes:
            s.open(resource, scope)
            items = getattr(scope, s.items_field)
            if not items:
                s.items()
            if signal is not Signal.METRICS:
                start = 0
                while start < len(items):
                    take = min(s.make_room(), len(items) - start)
                    s.items().extend(items[start : start + take])
                    start += take
                    s.room -= take
                continue
            for metric in items:
                points = _data_points(metric)
                start = 0
                if not points:
                    s.items().append(metric)
                while start < len(points):
                    take = min(s.make_room(), len(points) - start)
                    if take == len(points):
                        s.items().append(metric)
                    else:
                        part = s.items().add()
                        part.CopyFrom(metric)
                        part_points = _data_points(part)
                        del part_points[start + take :]
                        del part_points[:start]
                    start += take
                    s.room -= take
    return s.out
