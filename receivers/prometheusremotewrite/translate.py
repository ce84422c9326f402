"""Remote-write 1.0 requests to OTLP metrics, the way collector-contrib's prometheusremotewrite receiver maps them.

- Resource: `job` and `instance` become `service.namespace`/`service.name` and `service.instance.id`;
  a `target_info` series adds its other labels to that resource (remembered, LRU, for later
  requests) and is not itself a metric.
- Scope: `otel_scope_name`/`otel_scope_version` labels, else airis's name and version.
- Metric: named as the series (suffixes kept, unless `trim_metric_suffixes`); the type comes from the
  `MetricMetadata` Prometheus sends (remembered across requests, since Prometheus sends it on its own
  schedule): counters become cumulative monotonic sums, gauges (and `unknown`, `info`, `stateset`)
  gauges. Without metadata a `_total` series is a counter and anything else a gauge. The Prometheus
  type goes into the metric's `metadata` as `prometheus.type`.
- Classic histograms and summaries (remote write 1.0 has no native grouping) are assembled from the
  `_bucket`/`_sum`/`_count` (quantile/`_sum`/`_count`) series of one request when metadata says so;
  a histogram without its `+Inf` bucket, or a summary without `_count`, stays as gauges.
- Native histograms become exponential histograms (schema -53: explicit-bucket histograms).
- Attributes: every label but `__name__`, `job`, `instance` and the scope labels. Prometheus's stale
  marker becomes the `no recorded value` flag; exemplars go with the data point of their series.

Speed: the request is parsed by upb keeping each series as bytes; the receiver walks those bytes,
looks the label bytes up in a cache of encoded attributes, and joins bytes into the OTLP request.
Anything unusual in a series (several samples, value 0 left out, exemplars, histograms) takes the
slower path through upb for that series only.
"""

from __future__ import annotations

import itertools
import logging
import math
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.metrics.v1 import metrics_pb2

from collector import prompb
from collector.pdata.gc_pause import gc_paused
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
    TOTAL_SUFFIX,
    MetricKind,
    family_of,
    service_attributes,
    trim_suffixes,
)
from collector.prompb import MetricType
from receivers.prometheusremotewrite.otlp_wire import (
    AGGREGATION_CUMULATIVE,
    delimited,
    double_field,
    fixed64_field,
    key_value,
    packed_doubles,
    packed_fixed64,
    string_field,
    time_field,
    varint,
)

__all__ = ["InvalidWriteRequestError", "RemoteWriteTranslator", "Translation"]

SCOPE_NAME_LABEL = "otel_scope_name"
SCOPE_VERSION_LABEL = "otel_scope_version"
_NOT_ATTRIBUTES = frozenset(
    {METRIC_NAME_LABEL, JOB_LABEL, INSTANCE_LABEL, SCOPE_NAME_LABEL, SCOPE_VERSION_LABEL}
)
_STALE_NAN = struct.pack("<Q", 0x7FF0000000000002)
_DOUBLE = struct.Struct("<d")
_TYPE_NAMES = {
    MetricType.UNKNOWN: "unknown",
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.GAUGEHISTOGRAM: "gaugehistogram",
    MetricType.SUMMARY: "summary",
    MetricType.INFO: "info",
    MetricType.STATESET: "stateset",
}
# Group kinds.
_GAUGE, _COUNTER, _HISTOGRAM_PART, _SUMMARY_PART, _EXPONENTIAL, _NHCB = range(6)
_NHCB_SCHEMA = -53
_GROUPING_LABELS = (LE_LABEL, QUANTILE_LABEL)
_MAX_UINT64 = 2**64 - 1
log = logging.getLogger("airis.receivers.prometheusremotewrite")


class InvalidWriteRequestError(ValueError):
    """The body is not a valid prometheus.WriteRequest (or breaks remote write's rules)."""


@dataclass(frozen=True)
class _Metadata:
    type: int
    help: str
    unit: str


@dataclass(eq=False, slots=True)
class _Series:
    """What one label set translates to, computed once and cached by its label bytes."""

    name: str
    group: tuple[Any, ...]
    resource: tuple[str, str]
    scope: tuple[str, str]
    key_values: tuple[bytes, ...]
    """The encoded attributes (KeyValue messages), sorted by key."""
    keys: tuple[str, ...]
    """Their keys, in the same order."""
    prefix: bytes
    """`data_points` field header plus the encoded attributes of a NumberDataPoint (18 bytes follow)."""
    attributes: bytes
    le: str | None
    quantile: str | None


@dataclass
class _Group:
    """The points of one metric (resource, scope, name) in one request."""

    kind: int
    name: str
    resource: tuple[str, str]
    scope: tuple[str, str]
    metadata: _Metadata | None
    type_name: str
    family: str = ""
    points: list[bytes] = field(default_factory=list)
    raw: list[tuple[_Series, bytes, bytes]] = field(default_factory=list)
    exemplars: dict[int, list[bytes]] = field(default_factory=dict)


@dataclass
class Translation:
    """One request translated: the OTLP ExportMetricsServiceRequest bytes and what it holds."""

    otlp: bytes
    points: int
    series: int
    samples: int


@dataclass
class _Assembled:
    """A classic histogram or summary data point being put together from its series."""

    series: _Series
    time: bytes
    buckets: dict[float, float] = field(default_factory=dict)
    quantiles: dict[float, float] = field(default_factory=dict)
    sum: float | None = None
    count: float | None = None
    stale: bool = False
    exemplars: list[bytes] = field(default_factory=list)
    parts: list[tuple[_Group, _Series, bytes, bytes]] = field(default_factory=list)


def _label_entry(label: Any) -> bytes:
    encoded: bytes = label.SerializeToString()
    return b"\x0a" + varint(len(encoded)) + encoded


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at `pos`; InvalidWriteRequestError when it runs off the end."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise InvalidWriteRequestError(
                "invalid prometheus.WriteRequest: truncated varint in a time series"
            )
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


class RemoteWriteTranslator:
    """Translates WriteRequests, remembering label sets, metric metadata and target_info across requests."""

    def __init__(
        self,
        scope_name: str,
        scope_version: str,
        trim_metric_suffixes: bool = False,
        max_series: int = 50_000,
        max_metadata: int = 50_000,
        max_resources: int = 1000,
    ) -> None:
        self.default_scope = (scope_name, scope_version)
        self.trim_metric_suffixes = trim_metric_suffixes
        self.max_series = max_series
        self.max_metadata = max_metadata
        self.max_resources = max_resources
        self._series: dict[bytes, _Series] = {}
        self._times: dict[bytes, bytes] = {}
        self._labels: dict[bytes, tuple[str, str, bytes, bytes]] = {}
        self._resolved: dict[tuple[str, bool, bool], tuple[int, str, _Metadata | None, str]] = {}
        self._headers: dict[tuple[str, int, str], tuple[bytes, bytes]] = {}
        self._metadata: OrderedDict[str, _Metadata] = OrderedDict()
        self._resources: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()

    # -- per request -------------------------------------------------------------------------------

    def translate(self, body: bytes) -> Translation:
        """The OTLP request for a (decompressed) WriteRequest body; InvalidWriteRequestError if it is invalid."""
        try:
            return self._translate(body)
        except InvalidWriteRequestError:
            raise
        except Exception as err:  # a value out of every range the code expects: the body's fault
            log.warning("cannot translate a remote write request", exc_info=True)
            raise InvalidWriteRequestError(
                f"invalid prometheus.WriteRequest: {type(err).__name__}: {err}"
            ) from None

    @gc_paused
    def _translate(self, body: bytes) -> Translation:
        try:
            request = prompb.RawWriteRequest.FromString(body)
        except DecodeError as err:
            raise InvalidWriteRequestError(f"invalid prometheus.WriteRequest: {err}") from None
        for metadata in request.metadata:
            self._learn_metadata(metadata)
        groups: dict[tuple[Any, ...], _Group] = {}
        target_infos: dict[tuple[str, str], dict[str, str]] = {}
        samples = self._walk(request.timeseries, groups, target_infos)
        for resource, attributes in target_infos.items():
            known = self._resources.setdefault(resource, {})
            known.update(attributes)
            self._resources.move_to_end(resource)
        while len(self._resources) > self.max_resources:
            self._resources.popitem(last=False)
        otlp, points = self._encode(groups)
        return Translation(otlp, points, len(request.timeseries), samples)

    def _walk(
        self,
        timeseries: Iterable[bytes],
        groups: dict[tuple[Any, ...], _Group],
        target_infos: dict[tuple[str, str], dict[str, str]],
    ) -> int:
        """Hand every sample to its group; returns the number of samples seen."""
        cache_get = self._series.get
        times_get = self._times.get
        groups_get = groups.get
        stale = _STALE_NAN
        samples = 0
        for data in timeseries:
            end = len(data)
            pos = 0
            while pos < end and data[pos] == 0x0A:  # labels (field 1) come first
                length = data[pos + 1] if pos + 1 < end else 0x80
                if length < 0x80:
                    pos += 2 + length
                else:
                    length, start = _read_varint(data, pos + 1)
                    pos = start + length
            if pos > end:
                raise InvalidWriteRequestError(
                    "invalid prometheus.WriteRequest: a label runs past its time series"
                )
            if pos == 0:  # no labels first: not the usual encoding
                samples += self._slow_path(data, groups, target_infos)
                continue
            key = data[:pos]
            series = cache_get(key)
            if series is None:
                series = self._learn_series(key, target_infos)
                if series is None:
                    continue  # target_info
            # One sample: 0x12 len, 0x09 <8-byte double>, 0x10 <varint timestamp>.
            if (
                13 <= end - pos <= 22
                and data[pos] == 0x12
                and data[pos + 1] == end - pos - 2
                and data[pos + 2] == 0x09
                and data[pos + 11] == 0x10
            ):
                value = data[pos + 3 : pos + 11]
                raw_time = data[pos + 12 :]
                time = times_get(raw_time)
                if time is None:
                    time = self._learn_time(raw_time)
                group = groups_get(series.group)
                if group is None:
                    group = groups[series.group] = self._new_group(series)
                if group.kind <= _COUNTER and value != stale:
                    group.points.append(series.prefix + time + b"\x21" + value)
                else:
                    self._add_unusual(group, series, time, value)
                samples += 1
                continue
            samples += self._slow_path(data, groups, target_infos)
        return samples

    # -- caches ------------------------------------------------------------------------------------

    def _learn_time(self, raw: bytes) -> bytes:
        value, pos = _read_varint(raw, 0)
        if pos != len(raw):
            raise InvalidWriteRequestError("invalid prometheus.WriteRequest: bad sample timestamp")
        if value >= 1 << 63:
            value -= 1 << 64
        if len(self._times) >= 100_000:
            self._times.clear()
        encoded = self._times[raw] = time_field(value)
        return encoded

    def _learn_metadata(self, metadata: Any) -> None:
        name = metadata.metric_family_name
        if not name:
            return
        learned = _Metadata(int(metadata.type), metadata.help, metadata.unit)
        if self._metadata.get(name) != learned:
            self._resolved.clear()  # types and headers may change
            self._headers.clear()
        self._metadata[name] = learned
        self._metadata.move_to_end(name)
        while len(self._metadata) > self.max_metadata:
            self._metadata.popitem(last=False)

    def _learn_label(self, entry: bytes) -> tuple[str, str, bytes, bytes]:
        """(name, value, KeyValue, KeyValue as a NumberDataPoint attribute) of one Label field, cached."""
        _, start = _read_varint(entry, 1)
        try:
            label = prompb.Label.FromString(entry[start:])
        except DecodeError as err:
            raise InvalidWriteRequestError(f"invalid prometheus.WriteRequest: bad label: {err}") from None
        encoded = key_value(label.name, label.value)
        learned = (label.name, label.value, encoded, b"\x3a" + varint(len(encoded)) + encoded)
        if len(self._labels) >= self.max_series:
            self._labels.clear()
        self._labels[entry] = learned
        return learned

    def _learn_series(
        self, key: bytes, target_infos: dict[tuple[str, str], dict[str, str]]
    ) -> _Series | None:
        """Decode a label set (the first time it is seen); None for target_info, which only updates resources."""
        entries, pos, end = [], 0, len(key)
        while pos < end:
            length = key[pos + 1]
            if length < 0x80:
                start = pos + 2
            else:
                length, start = _read_varint(key, pos + 1)
            entries.append(key[pos : start + length])
            pos = start + length
        labels_get = self._labels.get
        decoded = [labels_get(e) or self._learn_label(e) for e in entries]
        by_name = {label[0]: label[1] for label in decoded}
        if len(by_name) != len(decoded):
            seen: set[str] = set()
            duplicate = next(n for n, *_ in decoded if n in seen or seen.add(n))  # type: ignore[func-returns-value]
            raise InvalidWriteRequestError(f"duplicate label {duplicate!r} in labels")
        name = by_name.get(METRIC_NAME_LABEL, "")
        if not name:
            raise InvalidWriteRequestError(f"missing metric name (__name__) in labels {by_name}")
        resource = (by_name.get(JOB_LABEL, ""), by_name.get(INSTANCE_LABEL, ""))
        if name == TARGET_INFO:
            target_infos.setdefault(resource, {}).update(
                (k, v) for k, v in by_name.items() if k not in _NOT_ATTRIBUTES
            )
            return None
        scope = (
            by_name.get(SCOPE_NAME_LABEL) or self.default_scope[0],
            by_name.get(SCOPE_VERSION_LABEL) or self.default_scope[1],
        )
        attribute_labels = [label for label in decoded if label[0] not in _NOT_ATTRIBUTES]
        if any(a[0] > b[0] for a, b in itertools.pairwise(attribute_labels)):
            attribute_labels.sort()  # Prometheus sends labels sorted; others may not
        key_values = tuple(label[2] for label in attribute_labels)
        attributes = b"".join([label[3] for label in attribute_labels])
        series = _Series(
            name=name,
            group=(resource, scope, name),
            resource=resource,
            scope=scope,
            key_values=key_values,
            keys=tuple(label[0] for label in attribute_labels),
            prefix=b"\x0a" + varint(len(attributes) + 18) + attributes,
            attributes=attributes,
            le=by_name.get(LE_LABEL),
            quantile=by_name.get(QUANTILE_LABEL),
        )
        if len(self._series) >= self.max_series:
            for old in list(self._series)[: max(1, self.max_series // 10)]:
                del self._series[old]
        self._series[key] = series
        return series

    # -- grouping ----------------------------------------------------------------------------------

    def _resolve(self, series: _Series) -> tuple[int, str, _Metadata | None, str]:
        """(group kind, family, metadata, prometheus.type) of a series name, from the metadata known."""
        name = series.name
        for family, suffix in family_of(name):
            metadata = self._metadata.get(family)
            if metadata is None:
                continue
            kind = metadata.type
            type_name = _TYPE_NAMES.get(kind, "unknown")
            if suffix == "":
                if kind == MetricType.COUNTER:
                    return _COUNTER, family, metadata, type_name
                if kind == MetricType.SUMMARY and series.quantile is not None:
                    return _SUMMARY_PART, family, metadata, type_name
                if kind in (MetricType.HISTOGRAM, MetricType.SUMMARY):
                    continue  # e.g. a histogram family named like this series; look for another
                return _GAUGE, family, metadata, type_name
            if kind == MetricType.HISTOGRAM and (
                suffix in (SUM_SUFFIX, COUNT_SUFFIX) or (suffix == BUCKET_SUFFIX and series.le is not None)
            ):
                return _HISTOGRAM_PART, family, metadata, type_name
            if kind == MetricType.SUMMARY and suffix in (SUM_SUFFIX, COUNT_SUFFIX):
                return _SUMMARY_PART, family, metadata, type_name
            if kind == MetricType.COUNTER and suffix == TOTAL_SUFFIX:
                return _COUNTER, name, metadata, type_name
        if name.endswith(TOTAL_SUFFIX):
            return _COUNTER, name, None, "counter"
        return _GAUGE, name, None, "unknown"

    def _new_group(self, series: _Series) -> _Group:
        key = (series.name, series.le is not None, series.quantile is not None)
        resolved = self._resolved.get(key)
        if resolved is None:
            if len(self._resolved) >= self.max_metadata:
                self._resolved.clear()
            resolved = self._resolved[key] = self._resolve(series)
        kind, family, metadata, type_name = resolved
        return _Group(kind, series.name, series.resource, series.scope, metadata, type_name, family)

    def _add_unusual(self, group: _Group, series: _Series, time: bytes, value: bytes) -> None:
        """A sample that is a stale marker or part of a histogram or summary."""
        if group.kind <= _COUNTER:
            attributes = series.attributes
            point = attributes + time + b"\x21" + value + b"\x40\x01"  # flags: no recorded value
            group.points.append(b"\x0a" + varint(len(point)) + point)
        else:
            group.raw.append((series, time, value))

    def _slow_path(
        self,
        data: bytes,
        groups: dict[tuple[Any, ...], _Group],
        target_infos: dict[tuple[str, str], dict[str, str]],
    ) -> int:
        """A series the fast path cannot read (several samples, default values left out, exemplars, histograms)."""
        try:
            parsed = prompb.TimeSeries.FromString(data)
        except DecodeError as err:
            raise InvalidWriteRequestError(f"invalid prometheus.WriteRequest: {err}") from None
        key = b"".join(_label_entry(label) for label in parsed.labels)
        series = self._series.get(key) or self._learn_series(key, target_infos)
        if series is None:
            return 0  # target_info
        count = 0
        if parsed.samples:
            group = groups.get(series.group)
            if group is None:
                group = groups[series.group] = self._new_group(series)
            for sample in parsed.samples:
                time = time_field(sample.timestamp)
                value = _DOUBLE.pack(sample.value)
                if group.kind <= _COUNTER and value != _STALE_NAN:
                    group.points.append(series.prefix + time + b"\x21" + value)
                else:
                    self._add_unusual(group, series, time, value)
                count += 1
            if parsed.exemplars:
                exemplars = [_exemplar(e) for e in parsed.exemplars]
                if group.kind <= _COUNTER:
                    last = group.points.pop()
                    _, start = _read_varint(last, 1)
                    point = last[start:] + b"".join(delimited(5, e) for e in exemplars)
                    group.points.append(b"\x0a" + varint(len(point)) + point)
                else:
                    group.exemplars.setdefault(id(series), []).extend(exemplars)
        for histogram in parsed.histograms:
            if histogram.reset_hint == prompb.Histogram.GAUGE:
                continue
            variant = _NHCB if histogram.schema == _NHCB_SCHEMA else _EXPONENTIAL
            if variant == _EXPONENTIAL and not -4 <= histogram.schema <= 8:
                continue
            group_key = (*series.group, variant)
            group = groups.get(group_key)
            if group is None:
                metadata = self._metadata.get(series.name)
                type_name = _TYPE_NAMES.get(metadata.type, "unknown") if metadata else "unknown"
                group = groups[group_key] = _Group(
                    variant, series.name, series.resource, series.scope, metadata, type_name
                )
            native = _native_point(histogram, series, variant)
            if native is not None:
                group.points.append(delimited(1, native))
                count += 1
        return count

    # -- encoding ----------------------------------------------------------------------------------

    def _encode(self, groups: dict[tuple[Any, ...], _Group]) -> tuple[bytes, int]:
        """The ExportMetricsServiceRequest bytes and its number of data points."""
        metrics: dict[tuple[str, str], dict[tuple[str, str], list[bytes]]] = {}
        points = 0
        assembled: dict[tuple[Any, ...], dict[tuple[Any, ...], _Assembled]] = {}
        histogram_groups: dict[tuple[Any, ...], _Group] = {}
        for group in groups.values():
            if group.kind in (_HISTOGRAM_PART, _SUMMARY_PART):
                self._assemble(group, assembled, histogram_groups)
                continue
            if group.points:
                metrics.setdefault(group.resource, {}).setdefault(group.scope, []).append(self._metric(group))
                points += len(group.points)
        fallback: dict[tuple[Any, ...], _Group] = {}
        for key, group in histogram_groups.items():
            body = []
            for point in assembled.get(key, {}).values():
                encoded = _assembled_point(point, group.kind)
                if encoded is None:  # incomplete: its series stay gauges
                    for part_group, series, time, value in point.parts:
                        gauge = fallback.get(series.group)
                        if gauge is None:
                            gauge = fallback[series.group] = _Group(
                                _GAUGE, series.name, series.resource, series.scope, None, part_group.type_name
                            )
                        self._add_number(gauge, series, time, value)
                    continue
                body.append(delimited(1, encoded))
            if body:
                group.points = body
                metrics.setdefault(group.resource, {}).setdefault(group.scope, []).append(self._metric(group))
                points += len(body)
        for group in fallback.values():
            metrics.setdefault(group.resource, {}).setdefault(group.scope, []).append(self._metric(group))
            points += len(group.points)
        resource_metrics = []
        for resource, scopes in metrics.items():
            resource_attributes = {**service_attributes(*resource), **self._resources.get(resource, {})}
            encoded_resource = b"".join(delimited(1, key_value(k, v)) for k, v in resource_attributes.items())
            scope_metrics = [
                delimited(1, string_field(1, name) + string_field(2, version))
                + b"".join(delimited(2, m) for m in ms)
                for (name, version), ms in scopes.items()
            ]
            resource_body = delimited(1, encoded_resource) + b"".join(delimited(2, s) for s in scope_metrics)
            resource_metrics.append(delimited(1, resource_body))
        return b"".join(resource_metrics), points

    def _add_number(self, group: _Group, series: _Series, time: bytes, value: bytes) -> None:
        if value == _STALE_NAN:
            self._add_unusual(group, series, time, value)
        else:
            group.points.append(series.prefix + time + b"\x21" + value)

    def _assemble(
        self,
        group: _Group,
        assembled: dict[tuple[Any, ...], dict[tuple[Any, ...], _Assembled]],
        histogram_groups: dict[tuple[Any, ...], _Group],
    ) -> None:
        """Sort a histogram or summary part's samples into the data points of its family."""
        family_key = (group.resource, group.scope, group.family)
        family = histogram_groups.get(family_key)
        if family is None:
            kind = _HISTOGRAM_PART if group.kind == _HISTOGRAM_PART else _SUMMARY_PART
            family = histogram_groups[family_key] = _Group(
                kind, group.family, group.resource, group.scope, group.metadata, group.type_name, group.family
            )
        suffix = group.name[len(group.family) :]
        for series, time, value in group.raw:
            identity = tuple(
                kv
                for kv, key in zip(series.key_values, series.keys, strict=True)
                if key not in _GROUPING_LABELS
            )
            points = assembled.setdefault(family_key, {})
            point = points.get((identity, time))
            if point is None:
                point = points[(identity, time)] = _Assembled(series, time)
            point.parts.append((group, series, time, value))
            number = _DOUBLE.unpack(value)[0]
            if value == _STALE_NAN:
                point.stale = True
            if suffix == SUM_SUFFIX:
                point.sum = number
            elif suffix == COUNT_SUFFIX:
                point.count = number
            elif suffix == BUCKET_SUFFIX and series.le is not None:
                bound = _parse_float(series.le)
                if bound is not None:
                    point.buckets[bound] = number
                    point.exemplars.extend(group.exemplars.get(id(series), ()))
            elif suffix == "" and series.quantile is not None:
                quantile = _parse_float(series.quantile)
                if quantile is not None:
                    point.quantiles[quantile] = number

    def _metric(self, group: _Group) -> bytes:
        """One Metric: name, description, unit, its data and `prometheus.type` metadata."""
        header = self._headers.get((group.name, group.kind, group.type_name))
        if header is None:
            header = self._header(group)
        points = b"".join(group.points)
        if group.kind == _COUNTER:
            data = delimited(7, points + AGGREGATION_CUMULATIVE + b"\x18\x01")
        elif group.kind in (_HISTOGRAM_PART, _NHCB):
            data = delimited(9, points + AGGREGATION_CUMULATIVE)
        elif group.kind == _SUMMARY_PART:
            data = delimited(11, points)
        elif group.kind == _EXPONENTIAL:
            data = delimited(10, points + AGGREGATION_CUMULATIVE)
        else:
            data = delimited(5, points)
        return header[0] + data + header[1]

    def _header(self, group: _Group) -> tuple[bytes, bytes]:
        """The encoded fields around a metric's data (name, description, unit; metadata), cached."""
        metadata = group.metadata
        unit = metadata.unit if metadata else ""
        name = group.name
        if self.trim_metric_suffixes:
            kind = MetricKind.MONOTONIC_COUNTER if group.kind == _COUNTER else MetricKind.GAUGE
            name = trim_suffixes(name, kind, unit)
        header = (
            string_field(1, name)
            + string_field(2, metadata.help if metadata else "")
            + string_field(3, unit),
            delimited(12, key_value("prometheus.type", group.type_name)),
        )
        if len(self._headers) >= self.max_metadata:
            self._headers.clear()
        self._headers[(group.name, group.kind, group.type_name)] = header
        return header


def _parse_float(text: str) -> float | None:
    try:
        return float(text.replace("Inf", "inf"))
    except ValueError:
        return None


def _assembled_point(point: _Assembled, kind: int) -> bytes | None:
    """A HistogramDataPoint or SummaryDataPoint, or None when the series do not make a whole one."""
    series = point.series
    flags = b"\x50\x01" if kind == _HISTOGRAM_PART else b"\x40\x01"
    if kind == _HISTOGRAM_PART:
        if math.inf not in point.buckets:
            return None
        bounds = sorted(point.buckets)
        cumulative = [point.buckets[b] for b in bounds]
        total = point.count if point.count is not None else cumulative[-1]
        attributes = b"".join(delimited(9, kv) for kv in _without(series, LE_LABEL))
        if point.stale:
            return attributes + point.time + flags
        counts, previous = [], 0
        for value in cumulative:  # Prometheus buckets are cumulative, OTLP ones are not
            current = _count(value)
            counts.append(max(0, current - previous))
            previous = max(previous, current)
        body = attributes + point.time + fixed64_field(4, _count(total))
        if point.sum is not None:
            body += double_field(5, point.sum)
        body += packed_fixed64(6, counts) + packed_doubles(7, bounds[:-1])
        return body + b"".join(delimited(8, e) for e in point.exemplars)
    if point.count is None:
        return None
    attributes = b"".join(delimited(7, kv) for kv in _without(series, QUANTILE_LABEL))
    if point.stale:
        return attributes + point.time + flags
    body = attributes + point.time + fixed64_field(4, _count(point.count)) + double_field(5, point.sum or 0.0)
    for quantile in sorted(point.quantiles):
        body += delimited(6, double_field(1, quantile) + double_field(2, point.quantiles[quantile]))
    return body


def _without(series: _Series, label: str) -> list[bytes]:
    return [kv for kv, key in zip(series.key_values, series.keys, strict=True) if key != label]


def _count(value: float) -> int:
    """A Prometheus float as an OTLP count (uint64)."""
    return min(max(0, round(value)), _MAX_UINT64) if math.isfinite(value) else 0


def _exemplar(exemplar: Any) -> bytes:
    """An OTLP Exemplar from a Prometheus one: trace_id/span_id labels become the ids."""
    body = b""
    for label in exemplar.labels:
        if label.name == "trace_id" and len(label.value) == 32:
            try:
                body += delimited(5, bytes.fromhex(label.value))
                continue
            except ValueError:
                pass
        if label.name == "span_id" and len(label.value) == 16:
            try:
                body += delimited(4, bytes.fromhex(label.value))
                continue
            except ValueError:
                pass
        body += delimited(7, key_value(label.name, label.value))
    return body + fixed64_field(2, max(0, exemplar.timestamp) * 1_000_000) + double_field(3, exemplar.value)


def _native_point(histogram: Any, series: _Series, variant: int) -> bytes | None:
    """An ExponentialHistogramDataPoint (or, for schema -53, a HistogramDataPoint) from a native histogram."""
    is_float = histogram.WhichOneof("count") == "count_float"
    count = histogram.count_float if is_float else histogram.count_int
    zero = (
        histogram.zero_count_float
        if histogram.WhichOneof("zero_count") == "zero_count_float"
        else histogram.zero_count_int
    )
    stale = struct.pack("<d", histogram.sum) == _STALE_NAN
    if variant == _NHCB:
        bounds = list(histogram.custom_values)
        if not bounds:
            return None
        counts = _nhcb_counts(histogram, len(bounds) + 1, is_float)
        point = metrics_pb2.HistogramDataPoint(
            time_unix_nano=max(0, histogram.timestamp) * 1_000_000, explicit_bounds=bounds
        )
        if stale:
            point.flags = 1
        else:
            point.count, point.sum = int(count), histogram.sum
            point.bucket_counts.extend(counts)
        encoded: bytes = point.SerializeToString()
        return b"".join(delimited(9, kv) for kv in series.key_values) + encoded
    positive = _expand(
        histogram.positive_spans,
        histogram.positive_counts if is_float else histogram.positive_deltas,
        is_float,
    )
    negative = _expand(
        histogram.negative_spans,
        histogram.negative_counts if is_float else histogram.negative_deltas,
        is_float,
    )
    if any(c < 0 for c in positive[1] + negative[1]) or count < 0 or zero < 0:
        return None  # as the contrib receiver: negative counts are dropped
    exp_point = metrics_pb2.ExponentialHistogramDataPoint(
        time_unix_nano=max(0, histogram.timestamp) * 1_000_000,
        count=int(count),
        sum=histogram.sum,
        scale=histogram.schema,
        zero_count=int(zero),
        zero_threshold=histogram.zero_threshold,
    )
    if stale:
        exp_point.flags = 1
    for buckets, (offset, counts) in ((exp_point.positive, positive), (exp_point.negative, negative)):
        if counts:
            buckets.offset = offset
            buckets.bucket_counts.extend(counts)
    exp_encoded: bytes = exp_point.SerializeToString()
    return b"".join(delimited(1, kv) for kv in series.key_values) + exp_encoded


def _expand(spans: Any, values: Any, is_float: bool) -> tuple[int, list[int]]:
    """(OTel offset, dense counts) of native histogram spans: Prometheus bucket i is OTel bucket i-1."""
    if not spans:
        return 0, []
    counts: list[int] = []
    index = 0
    running = 0
    for number, span in enumerate(spans):
        if number > 0:
            counts.extend([0] * span.offset)
        for _ in range(span.length):
            if index >= len(values):
                raise InvalidWriteRequestError("native histogram has fewer buckets than its spans declare")
            if is_float:
                counts.append(int(values[index]))
            else:
                running += values[index]
                counts.append(running)
            index += 1
    return spans[0].offset - 1, counts


def _nhcb_counts(histogram: Any, buckets: int, is_float: bool) -> list[int]:
    counts = [0] * buckets
    index = 0
    running = 0
    position = 0
    values = histogram.positive_counts if is_float else histogram.positive_deltas
    for span in histogram.positive_spans:
        index += span.offset
        for _ in range(span.length):
            if position >= len(values):
                break
            if is_float:
                value = int(values[position])
            else:
                running += values[position]
                value = running
            position += 1
            if 0 <= index < buckets:
                counts[index] = max(0, value)
            index += 1
    return counts
