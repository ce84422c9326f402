"""The `debug` exporter: a summary line per batch, a line per item, or the whole batch as text."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from google.protobuf import text_format

from collector.component import Host, Settings
from collector.signal import Signal
from exporters.debug.factory import DebugExporterConfig

if TYPE_CHECKING:
    from collector.pdata import Batch


def _value(any_value: Any) -> str:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return str(text_format.MessageToString(any_value, as_one_line=True))
    if kind == "bytes_value":
        return str(any_value.bytes_value.hex())
    return str(getattr(any_value, kind))


def _attrs(attributes: Any) -> str:
    return " ".join(f"{kv.key}={_value(kv.value)}" for kv in attributes)


def _lines(signal: Signal, request: Any) -> Iterator[str]:
    """One line per span, data point or log record (`normal` verbosity)."""
    if signal is Signal.TRACES:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    yield f"{span.name} {span.trace_id.hex()} {span.span_id.hex()} {_attrs(span.attributes)}".rstrip()
    elif signal is Signal.LOGS:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    yield f"{rec.severity_text or rec.severity_number} {_value(rec.body)} {_attrs(rec.attributes)}".rstrip()
    else:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data") or "empty"
                    points = getattr(metric, kind).data_points if kind != "empty" else []
                    for point in points:
                        value = (
                            getattr(point, point.WhichOneof("value"), "")
                            if kind in ("gauge", "sum")
                            else (f"count={point.count} sum={point.sum}")
                        )
                        yield f"{metric.name} {kind} {value} {_attrs(point.attributes)}".rstrip()


class _Sampler:
    """Per second: the first `initial` writes, then every `thereafter`-th, as the collector's logger samples."""

    def __init__(self, initial: int, thereafter: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial, self.thereafter, self.clock = initial, thereafter, clock
        self.second, self.count = 0, 0

    def allow(self) -> bool:
        now = int(self.clock())
        if now != self.second:
            self.second, self.count = now, 0
        self.count += 1
        return self.count <= self.initial or (self.count - self.initial) % self.thereafter == 0


class DebugExporter:
    """A Sender writing batches to airis's log (or stdout); it never fails them."""

    def __init__(self, settings: Settings, config: DebugExporterConfig, signal: Signal) -> None:
        self.config, self.signal = config, signal
        self.logger = settings.logger
        self.sampler = _Sampler(config.sampling_initial, config.sampling_thereafter)

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _write(self, text: str) -> None:
        if self.config.use_internal_logger:
            self.logger.info("%s", text)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def render(self, batch: Batch) -> str:
        """What one batch looks like at the configured verbosity."""
        request = batch.otlp()
        groups = len(getattr(request, f"resource_{'spans' if self.signal is Signal.TRACES else self.signal}"))
        item = {Signal.TRACES: "spans", Signal.METRICS: "data points", Signal.LOGS: "log records"}[
            self.signal
        ]
        head = f"{self.signal.capitalize()}: {groups} resource groups, {len(batch)} {item}"
        if self.config.verbosity == "basic":
            return head
        if self.config.verbosity == "normal":
            return "\n".join([head, *_lines(self.signal, request)])
        return head + "\n" + str(text_format.MessageToString(request))

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 (the Sender contract)
        if self.sampler.allow():
            self._write(self.render(batch))
