"""OpenTelemetry <-> Prometheus naming, shared by the remote-write exporter and receiver (and PromQL later).

OTel -> Prometheus follows the collector's translator (prometheus/otlptranslator, which
collector-contrib's `pkg/translator/prometheus` became), with UTF-8 escaping on:

- metric names: the name is split into tokens at every character outside `[a-zA-Z0-9:]`; the unit
  adds suffixes (`s` -> `seconds`, `By` -> `bytes`, `{requests}` annotations dropped, `/` -> `per`,
  `By/s` -> `bytes_per_second`) unless a token already names it; monotonic sums end in `_total`;
  gauges of unit `1` end in `_ratio`; a namespace is prepended; a leading digit gets a `_`. Without
  suffixes, invalid characters become `_` and nothing is added.
- label names: every character outside `[a-zA-Z0-9_]` becomes `_`; a leading digit gets `key_`, a
  single leading `_` gets `key` (`__reserved` stays).
- resources: `job` is `service.namespace/service.name` (or `service.name`), `instance` is
  `service.instance.id`; the other resource attributes go to a `target_info` series.

Prometheus -> OTel is the reverse the remote-write receiver needs: `job`/`instance` back to the
service attributes, the metric family a series belongs to (`_bucket`, `_sum`, `_count`, `_total`)
and `trim_suffixes`, the translator's `TrimPromSuffixes`.

`CumulativeAccumulator` turns delta sums and histograms into the cumulative series Prometheus needs.
"""

from __future__ import annotations

import base64
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

__all__ = [
    "BUCKET_SUFFIX",
    "COUNT_SUFFIX",
    "IDENTIFYING_ATTRIBUTES",
    "INSTANCE_LABEL",
    "JOB_LABEL",
    "LE_LABEL",
    "METRIC_NAME_LABEL",
    "PER_UNIT_MAP",
    "QUANTILE_LABEL",
    "SERVICE_INSTANCE_ID",
    "SERVICE_NAME",
    "SERVICE_NAMESPACE",
    "SUM_SUFFIX",
    "TARGET_INFO",
    "TOTAL_SUFFIX",
    "UNIT_MAP",
    "CumulativeAccumulator",
    "CumulativeHistogram",
    "MetricKind",
    "NamingError",
    "attribute_labels",
    "attribute_string",
    "build_metric_name",
    "build_unit",
    "family_of",
    "format_float",
    "job_and_instance",
    "metric_kind",
    "normalize_label",
    "service_attributes",
    "target_info_attributes",
    "trim_suffixes",
    "unit_to_ucum",
]

METRIC_NAME_LABEL = "__name__"
JOB_LABEL = "job"
INSTANCE_LABEL = "instance"
LE_LABEL = "le"
QUANTILE_LABEL = "quantile"
TARGET_INFO = "target_info"
BUCKET_SUFFIX = "_bucket"
SUM_SUFFIX = "_sum"
COUNT_SUFFIX = "_count"
TOTAL_SUFFIX = "_total"
SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
IDENTIFYING_ATTRIBUTES = (SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID)

UNIT_MAP: Mapping[str, str] = {
    # Time
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    # Bytes
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    # SI
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    # Misc
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
"""OTel (UCUM) units to the Prometheus unit word the translator appends."""

PER_UNIT_MAP: Mapping[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
"""The unit after a `/`, in the singular (`By/s` -> `bytes_per_second`)."""

_INVALID_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_INVALID_METRIC_CHAR_KEEP_UNDERSCORE = re.compile(r"[^a-zA-Z0-9:_]+")
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_MULTIPLE_UNDERSCORES = re.compile(r"__+")


class NamingError(ValueError):
    """A name that translates to nothing usable (empty, or only underscores)."""


class MetricKind(StrEnum):
    """The translator's metric types (an OTel sum is a counter when monotonic)."""

    GAUGE = "gauge"
    MONOTONIC_COUNTER = "counter"
    NON_MONOTONIC_COUNTER = "updowncounter"
    HISTOGRAM = "histogram"
    EXPONENTIAL_HISTOGRAM = "exponential_histogram"
    SUMMARY = "summary"
    UNKNOWN = "unknown"


def metric_kind(metric: Any) -> MetricKind:
    """The kind of an OTLP `Metric` message."""
    data = metric.WhichOneof("data")
    if data == "sum":
        return MetricKind.MONOTONIC_COUNTER if metric.sum.is_monotonic else MetricKind.NON_MONOTONIC_COUNTER
    return {
        "gauge": MetricKind.GAUGE,
        "histogram": MetricKind.HISTOGRAM,
        "exponential_histogram": MetricKind.EXPONENTIAL_HISTOGRAM,
        "summary": MetricKind.SUMMARY,
    }.get(data or "", MetricKind.UNKNOWN)


# --- OTel -> Prometheus ------------------------------------------------------------------------------


def _unit_suffixes(unit: str) -> tuple[str, str]:
    """(main, per) suffixes of `unit`, before clean-up: `By/s` -> ("bytes", "per_second")."""
    main_otel, slash, per_otel = unit.partition("/")
    main = ""
    main_otel = main_otel.strip()
    if main_otel and "{" not in main_otel and "}" not in main_otel:
        main = UNIT_MAP.get(main_otel, main_otel)
    per = ""
    if slash and per_otel:
        per_otel = per_otel.strip()
        if per_otel and "{" not in per_otel and "}" not in per_otel:
            per = PER_UNIT_MAP.get(per_otel, per_otel)
        if per:
            per = "per_" + per
    return main, per


def _clean_unit(unit: str) -> str:
    """Invalid characters to `_`, runs of `_` to one, no leading `_` (the translator's cleanUpUnit)."""
    return _MULTIPLE_UNDERSCORES.sub("_", _INVALID_METRIC_CHAR.sub("_", unit)).removeprefix("_")


def build_unit(unit: str) -> str:
    """The Prometheus form of an OTel unit: `s` -> `seconds`, `By/s` -> `bytes_per_second`, `1` -> ``."""
    main, per = _unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    text = f"{main}_{per}" if main and per else main or per
    return text.removeprefix("_").removesuffix("_")


def _starts_with_digit(text: str) -> bool:
    return bool(text) and "0" <= text[0] <= "9"


def build_metric_name(
    name: str, unit: str, kind: MetricKind, namespace: str = "", add_suffixes: bool = True
) -> str:
    """The Prometheus metric name of an OTel metric; NamingError when nothing valid is left."""
    if add_suffixes:
        built = _normalized_name(name, unit, kind, namespace)
    else:
        built = "_".join(t for t in _INVALID_METRIC_CHAR_KEEP_UNDERSCORE.split(name) if t)
        if namespace:
            clean_namespace = "_".join(t for t in _INVALID_METRIC_CHAR_KEEP_UNDERSCORE.split(namespace) if t)
            built = f"{clean_namespace}_{built}"
        elif _starts_with_digit(built):
            built = "_" + built
    if not built:
        raise NamingError(f"normalization for metric {name!r} resulted in empty name")
    if built != name and not built.strip("_"):
        raise NamingError(f"normalization for metric {name!r} resulted in invalid name {built!r}")
    return built


def _normalized_name(name: str, unit: str, kind: MetricKind, namespace: str) -> str:
    tokens = [t for t in _INVALID_METRIC_CHAR.split(name) if t]
    main, per = _unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if kind is MetricKind.MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind is MetricKind.GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    built = "_".join(tokens)
    return "_" + built if _starts_with_digit(built) else built


def normalize_label(name: str) -> str:
    """A valid Prometheus label name for an attribute key; NamingError when nothing valid is left."""
    if not name:
        raise NamingError("normalization for label name '' resulted in empty name")
    label = _INVALID_LABEL_CHAR.sub("_", name)
    if _starts_with_digit(label):
        label = "key_" + label
    elif label.startswith("_") and not label.startswith("__"):
        label = "key" + label
    if label != name and not label.strip("_"):
        raise NamingError(f"normalization for label name {name!r} resulted in invalid name {label!r}")
    return label


def attribute_labels(
    attributes: Mapping[str, str], label_name: Callable[[str], str] = normalize_label
) -> dict[str, str]:
    """Labels from attributes as the remote-write translator makes them: keys sanitized (in key
    order; a key with nothing valid left is dropped), values of keys that collide joined with ';'."""
    labels: dict[str, str] = {}
    for key in sorted(attributes):
        try:
            label = label_name(key)
        except NamingError:
            continue
        value = attributes[key]
        if label in labels:
            if labels[label] != value:
                labels[label] = f"{labels[label]};{value}"
        else:
            labels[label] = value
    return labels


def format_float(value: float) -> str:
    """A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (`le`/`quantile` values), `+Inf` for ∞."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").removesuffix(".")
    return "0" if text in ("-0", "") else text


def _es6_number(value: float) -> str:
    """A double as pdata's Value.AsString writes it (ES6 number formatting)."""
    if math.isinf(value) or math.isnan(value):
        return f"json: unsupported value: {format_float(value)}"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        return f"{mantissa.removesuffix('.0')}e{int(exponent):+d}"
    return format_float(value)


def attribute_string(value: Any) -> str:
    """An OTLP AnyValue as text, as pdata's Value.AsString (used for label values)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _es6_number(value.double_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return orjson.dumps(_plain(value)).decode()
    return ""


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "int_value":
        return int(value.int_value)
    if kind is None:
        return None
    return getattr(value, kind)


def job_and_instance(resource: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`job` (`namespace/name`, or `name`) and `instance` from string resource attributes."""
    job = None
    if SERVICE_NAME in resource:
        job = resource[SERVICE_NAME]
        if SERVICE_NAMESPACE in resource:
            job = f"{resource[SERVICE_NAMESPACE]}/{job}"
    return job, resource.get(SERVICE_INSTANCE_ID)


def target_info_attributes(resource: Mapping[str, str]) -> dict[str, str] | None:
    """The attributes `target_info` carries (all but the identifying ones); None when there are none."""
    rest = {k: v for k, v in resource.items() if k not in IDENTIFYING_ATTRIBUTES}
    return rest or None


# --- Prometheus -> OTel ------------------------------------------------------------------------------

_UCUM = {
    "days": "d",
    "hours": "h",
    "minutes": "min",
    "seconds": "s",
    "milliseconds": "ms",
    "microseconds": "us",
    "nanoseconds": "ns",
    "bytes": "By",
    "kibibytes": "KiBy",
    "mebibytes": "MiBy",
    "gibibytes": "GiBy",
    "tibibytes": "TiBy",
    "kilobytes": "KBy",
    "megabytes": "MBy",
    "gigabytes": "GBy",
    "terabytes": "TBy",
    "meters": "m",
    "volts": "V",
    "amperes": "A",
    "joules": "J",
    "watts": "W",
    "grams": "g",
    "celsius": "Cel",
    "hertz": "Hz",
    "ratio": "1",
    "percent": "%",
}
_PER_UCUM = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w", "month": "mo", "year": "y"}


def unit_to_ucum(unit: str) -> str:
    """A Prometheus unit word as UCUM (`seconds` -> `s`, `bytes_per_second` -> `By/s`), else as is."""
    main, sep, per = unit.partition("_per_")
    out = _UCUM.get(main, main)
    return f"{out}/{_PER_UCUM.get(per, per)}" if sep and per else out


def service_attributes(job: str, instance: str) -> dict[str, str]:
    """Resource attributes from `job` and `instance`: `ns/name` splits into namespace and name."""
    attributes: dict[str, str] = {}
    if instance:
        attributes[SERVICE_INSTANCE_ID] = instance
    if job:
        parts = job.split("/")
        if len(parts) == 2:
            attributes[SERVICE_NAMESPACE], attributes[SERVICE_NAME] = parts
        else:
            attributes[SERVICE_NAME] = job
    return attributes


_FAMILY_SUFFIXES = (
    BUCKET_SUFFIX,
    SUM_SUFFIX,
    COUNT_SUFFIX,
    TOTAL_SUFFIX,
    "_created",
    "_info",
    "_gcount",
    "_gsum",
)


def family_of(series_name: str) -> list[tuple[str, str]]:
    """(family, suffix) pairs a series name may belong to, itself first: `x_bucket` -> [(`x_bucket`, ``), (`x`, `_bucket`)]."""
    candidates = [(series_name, "")]
    for suffix in _FAMILY_SUFFIXES:
        if series_name.endswith(suffix) and len(series_name) > len(suffix):
            candidates.append((series_name[: -len(suffix)], suffix))
    return candidates


def trim_suffixes(prometheus_name: str, kind: MetricKind, unit: str) -> str:
    """The translator's TrimPromSuffixes: drop `_total` from counters, then the (Prometheus) unit tokens."""
    tokens = prometheus_name.split("_")
    if len(tokens) == 1:
        return prometheus_name
    if kind in (MetricKind.MONOTONIC_COUNTER, MetricKind.NON_MONOTONIC_COUNTER) and tokens[-1] == "total":
        tokens = tokens[:-1]
    unit_tokens = unit.split("_")
    if len(tokens) > len(unit_tokens) and tokens[-len(unit_tokens) :] == unit_tokens:
        tokens = tokens[: -len(unit_tokens)]
    return "_".join(tokens)


# --- delta -> cumulative -----------------------------------------------------------------------------


@dataclass
class _SumState:
    start: int
    last: int
    value: float


@dataclass
class CumulativeHistogram:
    """A histogram point made cumulative: counts summed since `start`."""

    start: int
    last: int
    count: int
    sum: float
    has_sum: bool
    bounds: tuple[float, ...]
    counts: list[int]


class CumulativeAccumulator:
    """Running totals of delta points, keyed by series (e.g. its Prometheus label set); LRU-bounded.

    A point not newer than the last one of its series is out of order and ignored (None), as the
    collector's deltatocumulative processor drops it; a histogram whose bounds change starts over.
    """

    def __init__(self, max_series: int = 100_000) -> None:
        self.max_series = max_series
        self._series: OrderedDict[Any, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._series)

    def _remember(self, key: Any, state: Any) -> None:
        self._series[key] = state
        self._series.move_to_end(key)
        while len(self._series) > self.max_series:
            self._series.popitem(last=False)

    def add_sum(self, key: Any, start_ns: int, time_ns: int, value: float) -> tuple[int, float] | None:
        """(start, cumulative value) after adding a delta `value`; None when out of order."""
        state = self._series.get(key)
        if not isinstance(state, _SumState):
            state = _SumState(start_ns or time_ns, time_ns, value)
        elif time_ns <= state.last:
            return None
        else:
            state.last, state.value = time_ns, state.value + value
        self._remember(key, state)
        return state.start, state.value

    def add_histogram(
        self,
        key: Any,
        start_ns: int,
        time_ns: int,
        count: int,
        total: float | None,
        bounds: Sequence[float],
        counts: Iterable[int],
    ) -> CumulativeHistogram | None:
        """The cumulative histogram after adding a delta point; None when out of order."""
        state = self._series.get(key)
        bucket_counts = list(counts)
        if (
            not isinstance(state, CumulativeHistogram)
            or state.bounds != tuple(bounds)
            or len(state.counts) != len(bucket_counts)
        ):
            state = CumulativeHistogram(
                start_ns or time_ns,
                time_ns,
                count,
                total or 0.0,
                total is not None,
                tuple(bounds),
                bucket_counts,
            )
        elif time_ns <= state.last:
            return None
        else:
            state.last = time_ns
            state.count += count
            if total is not None:
                state.sum += total
                state.has_sum = True
            state.counts = [a + b for a, b in zip(state.counts, bucket_counts, strict=True)]
        self._remember(key, state)
        return state
