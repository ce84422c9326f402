"""OTLP metrics to remote-write 1.0 time series, as collector-contrib's prometheusremotewrite translator does.

Per data point: labels are the point's attributes (sanitized by `collector.prometheus_naming`; keys
that collide are joined with `;`), then `job`/`instance` from the resource, then the external labels
(unless a point already has that label), then `__name__` (and `le`/`quantile`). Gauges and sums are
one series; a histogram is `_bucket` series (cumulative, `le` up to `+Inf`), `_sum` (when recorded)
and `_count`; a summary is its `quantile` series, `_sum` and `_count`; an exponential histogram is
a native histogram. Series with the same labels share their samples. Delta sums and histograms are
summed into cumulative values per series (Prometheus only stores cumulative counters). A resource's
other attributes go to `target_info`. A point flagged `no recorded value` is Prometheus's stale marker.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector import prompb
from collector.prometheus_naming import (
    BUCKET_SUFFIX,
    COUNT_SUFFIX,
    INSTANCE_LABEL,
    JOB_LABEL,
    LE_LABEL,
    METRIC_NAME_LABEL,
    QUANTILE_LABEL,
    SUM_SUFFIX,
    TARGET_INFO,
    CumulativeAccumulator,
    MetricKind,
    NamingError,
    attribute_labels,
    attribute_string,
    build_metric_name,
    format_float,
    job_and_instance,
    metric_kind,
    normalize_label,
    target_info_attributes,
)
from collector.prompb import MetricType

__all__ = ["STALE_NAN", "Conversion", "RemoteWriteConverter"]

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
"""Prometheus's stale marker, a NaN with its own bits."""
_NO_RECORDED_VALUE = 1
_DELTA = 1  # AggregationTemporality.DELTA
_MAX_EXEMPLAR_RUNES = 128
_METADATA_TYPES = {
    MetricKind.GAUGE: MetricType.GAUGE,
    MetricKind.MONOTONIC_COUNTER: MetricType.COUNTER,
    MetricKind.NON_MONOTONIC_COUNTER: MetricType.GAUGE,
    MetricKind.HISTOGRAM: MetricType.HISTOGRAM,
    MetricKind.EXPONENTIAL_HISTOGRAM: MetricType.HISTOGRAM,
    MetricKind.SUMMARY: MetricType.SUMMARY,
}
Labels = tuple[tuple[str, str], ...]


@dataclass
class _Series:
    labels: Labels
    samples: list[tuple[float, int]] = field(default_factory=list)
    exemplars: list[Any] = field(default_factory=list)
    histograms: list[Any] = field(default_factory=list)


@dataclass
class Conversion:
    """A batch translated: its series (labels -> samples), the metadata and what could not be translated."""

    series: dict[Labels, _Series] = field(default_factory=dict)
    metadata: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """Samples and native histograms in all series."""
        return sum(len(s.samples) + len(s.histograms) for s in self.series.values())

    def requests(self, max_bytes: int) -> list[bytes]:
        """Serialized WriteRequests of at most about `max_bytes` each (a single larger series goes alone)."""
        bodies: list[bytes] = []
        request, size = prompb.WriteRequest(), 0
        for series in self.series.values():
            message = prompb.TimeSeries(
                labels=[prompb.Label(name=n, value=v) for n, v in series.labels],
                samples=[
                    prompb.Sample(value=v, timestamp=t) for v, t in sorted(series.samples, key=_by_time)
                ],
                exemplars=series.exemplars,
                histograms=sorted(series.histograms, key=lambda h: h.timestamp),
            )
            length = message.ByteSize() + 6
            if size and size + length > max_bytes:
                bodies.append(request.SerializeToString())
                request, size = prompb.WriteRequest(), 0
            request.timeseries.append(message)
            size += length
        for metadata in self.metadata:
            length = metadata.ByteSize() + 6
            if size and size + length > max_bytes:
                bodies.append(request.SerializeToString())
                request, size = prompb.WriteRequest(), 0
            request.metadata.append(metadata)
            size += length
        if size:
            bodies.append(request.SerializeToString())
        return bodies


def _by_time(sample: tuple[float, int]) -> int:
    return sample[1]


def _milliseconds(nanos: int) -> int:
    return nanos // 1_000_000


class RemoteWriteConverter:
    """Translates OTLP ExportMetricsServiceRequests; keeps the running totals of delta series."""

    def __init__(
        self,
        namespace: str = "",
        external_labels: Mapping[str, str] | None = None,
        add_metric_suffixes: bool = True,
        target_info: bool = True,
        resource_to_telemetry: bool = False,
        send_metadata: bool = False,
        max_cumulative_series: int = 100_000,
    ) -> None:
        self.namespace = namespace
        self.external_labels = {normalize_label(k): v for k, v in (external_labels or {}).items()}
        self.add_metric_suffixes = add_metric_suffixes
        self.target_info = target_info
        self.resource_to_telemetry = resource_to_telemetry
        self.send_metadata = send_metadata
        self.accumulator = CumulativeAccumulator(max_cumulative_series)
        self._label_names: dict[str, str] = {}

    def convert(self, request: Any) -> Conversion:
        """The series of an ExportMetricsServiceRequest."""
        out = Conversion()
        for resource_metrics in request.resource_metrics:
            resource = {kv.key: attribute_string(kv.value) for kv in resource_metrics.resource.attributes}
            job, instance = job_and_instance(resource)
            base: dict[str, str] = {}
            if job is not None:
                base[JOB_LABEL] = job
            if instance is not None:
                base[INSTANCE_LABEL] = instance
            newest = 0
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    newest = max(newest, self._metric(metric, resource, base, out))
            if self.target_info and newest:
                self._target_info(resource, base, newest, out)
        return out

    # -- labels ------------------------------------------------------------------------------------

    def _label_name(self, key: str) -> str:
        name = self._label_names.get(key)
        if name is None:
            name = normalize_label(key)
            if len(self._label_names) > 10_000:
                self._label_names.clear()
            self._label_names[key] = name
        return name

    def _labels(
        self, attributes: Mapping[str, str], base: Mapping[str, str], name: str, *extra: tuple[str, str]
    ) -> Labels:
        """The label set of one series: attributes, then job/instance, external labels, `__name__`, extras."""
        labels = attribute_labels(attributes, self._label_name)
        labels.update(base)
        for key, value in self.external_labels.items():
            labels.setdefault(key, value)
        labels[METRIC_NAME_LABEL] = name
        for key, value in extra:
            labels[key] = value
        return tuple(sorted((k, v) for k, v in labels.items() if v))

    def _point_attributes(self, point: Any, resource: Mapping[str, str]) -> dict[str, str]:
        attributes = {kv.key: attribute_string(kv.value) for kv in point.attributes}
        if self.resource_to_telemetry:
            attributes.update(resource)
        return attributes

    def _add(self, out: Conversion, labels: Labels, value: float, time_ms: int) -> _Series:
        series = out.series.get(labels)
        if series is None:
            series = out.series[labels] = _Series(labels)
        series.samples.append((value, time_ms))
        return series

    # -- metrics -----------------------------------------------------------------------------------

    def _metric(
        self, metric: Any, resource: Mapping[str, str], base: Mapping[str, str], out: Conversion
    ) -> int:
        """Add one metric's series; returns its newest timestamp (ns)."""
        kind = metric_kind(metric)
        if kind is MetricKind.UNKNOWN:
            out.errors.append(f"metric {metric.name!r} has no data and is dropped")
            return 0
        try:
            name = build_metric_name(metric.name, metric.unit, kind, self.namespace, self.add_metric_suffixes)
        except NamingError as err:
            out.errors.append(str(err))
            return 0
        data = getattr(metric, metric.WhichOneof("data"))
        points = data.data_points
        if not points:
            out.errors.append(f"empty data points. {metric.name} is dropped")
            return 0
        newest: int = max(p.time_unix_nano for p in points)
        delta = getattr(data, "aggregation_temporality", 0) == _DELTA
        if kind is MetricKind.EXPONENTIAL_HISTOGRAM and delta:
            out.errors.append(f"invalid temporality and type combination for metric {metric.name!r}")
            return newest
        if self.send_metadata:
            out.metadata.append(
                prompb.MetricMetadata(
                    type=_METADATA_TYPES[kind],
                    metric_family_name=name,
                    help=metric.description,
                    unit=metric.unit,
                )
            )
        for point in points:
            attributes = self._point_attributes(point, resource)
            if kind in (MetricKind.GAUGE, MetricKind.MONOTONIC_COUNTER, MetricKind.NON_MONOTONIC_COUNTER):
                self._number(point, attributes, base, name, delta, out)
            elif kind is MetricKind.HISTOGRAM:
                self._histogram(point, attributes, base, name, delta, out)
            elif kind is MetricKind.SUMMARY:
                self._summary(point, attributes, base, name, out)
            else:
                self._exponential(point, attributes, base, name, out, metric.name)
        return newest

    def _number(
        self,
        point: Any,
        attributes: Mapping[str, str],
        base: Mapping[str, str],
        name: str,
        delta: bool,
        out: Conversion,
    ) -> None:
        labels = self._labels(attributes, base, name)
        value = float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double
        if point.flags & _NO_RECORDED_VALUE:
            value = STALE_NAN
        elif delta:
            total = self.accumulator.add_sum(labels, point.start_time_unix_nano, point.time_unix_nano, value)
            if total is None:
                return
            value = total[1]
        series = self._add(out, labels, value, _milliseconds(point.time_unix_nano))
        series.exemplars.extend(_exemplars(point.exemplars))

    def _histogram(
        self,
        point: Any,
        attributes: Mapping[str, str],
        base: Mapping[str, str],
        name: str,
        delta: bool,
        out: Conversion,
    ) -> None:
        time_ms = _milliseconds(point.time_unix_nano)
        bounds = list(point.explicit_bounds)
        counts = list(point.bucket_counts)
        count, total = point.count, (point.sum if point.HasField("sum") else None)
        stale = bool(point.flags & _NO_RECORDED_VALUE)
        if delta and not stale:
            key = self._labels(attributes, base, name)
            state = self.accumulator.add_histogram(
                key, point.start_time_unix_nano, point.time_unix_nano, count, total, bounds, counts
            )
            if state is None:
                return
            count, counts = state.count, state.counts
            total = state.sum if state.has_sum else None
        if total is not None:
            self._add(
                out, self._labels(attributes, base, name + SUM_SUFFIX), STALE_NAN if stale else total, time_ms
            )
        self._add(
            out, self._labels(attributes, base, name + COUNT_SUFFIX), STALE_NAN if stale else count, time_ms
        )
        cumulative = 0
        buckets: list[tuple[float, _Series]] = []
        for bound, bucket in zip(bounds, counts, strict=False):
            cumulative += bucket
            labels = self._labels(attributes, base, name + BUCKET_SUFFIX, (LE_LABEL, format_float(bound)))
            buckets.append((bound, self._add(out, labels, STALE_NAN if stale else cumulative, time_ms)))
        labels = self._labels(attributes, base, name + BUCKET_SUFFIX, (LE_LABEL, "+Inf"))
        buckets.append((math.inf, self._add(out, labels, STALE_NAN if stale else count, time_ms)))
        for exemplar, value in ((e, _exemplar_value(e)) for e in point.exemplars):
            for bound, series in buckets:
                if value <= bound:
                    series.exemplars.extend(_exemplars([exemplar]))
                    break

    def _summary(
        self, point: Any, attributes: Mapping[str, str], base: Mapping[str, str], name: str, out: Conversion
    ) -> None:
        time_ms = _milliseconds(point.time_unix_nano)
        stale = bool(point.flags & _NO_RECORDED_VALUE)
        self._add(
            out, self._labels(attributes, base, name + SUM_SUFFIX), STALE_NAN if stale else point.sum, time_ms
        )
        self._add(
            out,
            self._labels(attributes, base, name + COUNT_SUFFIX),
            STALE_NAN if stale else point.count,
            time_ms,
        )
        for quantile in point.quantile_values:
            labels = self._labels(attributes, base, name, (QUANTILE_LABEL, format_float(quantile.quantile)))
            self._add(out, labels, STALE_NAN if stale else quantile.value, time_ms)

    def _exponential(
        self,
        point: Any,
        attributes: Mapping[str, str],
        base: Mapping[str, str],
        name: str,
        out: Conversion,
        metric_name: str,
    ) -> None:
        if point.scale < -4:
            out.errors.append(
                f"cannot convert exponential to native histogram for {metric_name!r}: scale must be >= -4, was {point.scale}"
            )
            return
        labels = self._labels(attributes, base, name)
        series = out.series.get(labels)
        if series is None:
            series = out.series[labels] = _Series(labels)
        series.histograms.append(native_histogram(point))
        series.exemplars.extend(_exemplars(point.exemplars))

    def _target_info(
        self, resource: Mapping[str, str], base: Mapping[str, str], newest: int, out: Conversion
    ) -> None:
        others = target_info_attributes(resource)
        if others is None or not base:
            return  # nothing to say, or nothing to join it with
        name = f"{self.namespace}_{TARGET_INFO}" if self.namespace else TARGET_INFO
        self._add(out, self._labels(others, base, name), 1.0, _milliseconds(newest))


def native_histogram(point: Any) -> Any:
    """A Prometheus native histogram from an OTLP exponential histogram point (scale above 8 is merged down)."""
    scale = point.scale
    scale_down = max(0, scale - 8)
    histogram = prompb.Histogram(
        schema=min(scale, 8),
        zero_threshold=point.zero_threshold or 1e-128,
        zero_count_int=point.zero_count,
        timestamp=_milliseconds(point.time_unix_nano),
    )
    if point.flags & _NO_RECORDED_VALUE:
        histogram.sum = STALE_NAN
        histogram.count_int = 0x7FF0000000000002
    else:
        if point.HasField("sum"):
            histogram.sum = point.sum
        histogram.count_int = point.count
    for source, spans, deltas in (
        (point.positive, histogram.positive_spans, histogram.positive_deltas),
        (point.negative, histogram.negative_spans, histogram.negative_deltas),
    ):
        layout, values = bucket_layout(source.offset, list(source.bucket_counts), scale_down)
        for offset, length in layout:
            spans.add(offset=offset, length=length)
        deltas.extend(values)
    return histogram


def bucket_layout(offset: int, counts: list[int], scale_down: int) -> tuple[list[tuple[int, int]], list[int]]:
    """(spans as (offset, length), deltas) of dense OTel buckets in Prometheus's sparse layout.

    OTel bucket `i` covers (base^i, base^(i+1)], Prometheus bucket `i` (base^(i-1), base^i]: indexes
    shift by one. Merging 2^scale_down buckets lowers the scale by scale_down. Empty buckets are left
    out; a gap of up to two is filled with zeros rather than starting a new span (as client_golang).
    Each delta is a bucket's count minus the previous bucket's, across spans.
    """
    merged: dict[int, int] = {}
    for i, count in enumerate(counts):
        index = ((offset + i) >> scale_down) + 1
        merged[index] = merged.get(index, 0) + count
    spans: list[list[int]] = []
    deltas: list[int] = []
    previous_index: int | None = None
    previous_count = 0
    for index in sorted(merged):
        count = merged[index]
        if count == 0:
            continue
        if previous_index is None:
            spans.append([index, 0])
        else:
            gap = index - previous_index - 1
            if gap > 2:
                spans.append([gap, 0])
            else:
                for _ in range(gap):
                    spans[-1][1] += 1
                    deltas.append(-previous_count)
                    previous_count = 0
        spans[-1][1] += 1
        deltas.append(count - previous_count)
        previous_count, previous_index = count, index
    return [(o, n) for o, n in spans], deltas


def _exemplar_value(exemplar: Any) -> float:
    return float(exemplar.as_int) if exemplar.WhichOneof("value") == "as_int" else float(exemplar.as_double)


def _exemplars(exemplars: Iterable[Any]) -> list[Any]:
    """Prometheus exemplars: trace_id/span_id as hex labels, other attributes while under 128 runes."""
    converted = []
    for exemplar in exemplars:
        labels = []
        runes = 0
        if any(exemplar.trace_id):
            value = exemplar.trace_id.hex()
            runes += len("trace_id") + len(value)
            labels.append(prompb.Label(name="trace_id", value=value))
        if any(exemplar.span_id):
            value = exemplar.span_id.hex()
            runes += len("span_id") + len(value)
            labels.append(prompb.Label(name="span_id", value=value))
        extra = [
            prompb.Label(name=kv.key, value=attribute_string(kv.value)) for kv in exemplar.filtered_attributes
        ]
        runes += sum(len(label.name) + len(label.value) for label in extra)
        if runes <= _MAX_EXEMPLAR_RUNES:
            labels.extend(extra)
        converted.append(
            prompb.Exemplar(
                labels=labels,
                value=_exemplar_value(exemplar),
                timestamp=_milliseconds(exemplar.time_unix_nano),
            )
        )
    return converted
