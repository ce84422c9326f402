"""The Prometheus view of the stored OTel metrics: which metrics and label sets a Prometheus name or selector means.

A stored metric is a (table, MetricName, MetricUnit, IsMonotonic, AggregationTemporality) of the
contrib metric tables; `collector.prometheus_naming` names it as the Prometheus exporters do
(`http.server.duration`, unit `s`, histogram -> `http_server_duration_seconds`; monotonic sums end
in `_total`; non-monotonic sums are gauges). Its Prometheus series, per stored series:
- gauge, sum: one series, the point's value (a delta sum accumulated, see backend.metrics.promql.sql);
- histogram: `<family>_bucket` per bound (`le` as Go formats it, cumulative counts, `+Inf` = Count),
  `<family>_sum`, `<family>_count`;
- summary: `<family>` per quantile (`quantile` label), `<family>_sum`, `<family>_count`.
Labels are the point's attributes (sanitized, colliding keys joined with `;`), then `job`
(`service.namespace/service.name`) and `instance` (`service.instance.id`), `__name__`, and `le` or
`quantile`; empty values are no label. Exponential histograms (native histograms in Prometheus) are
not exposed.

A stored series is identified in SQL by `series_id_sql` (a hash of what decides its labels), so the
series found here are read back exactly by the evaluation query.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from backend.metrics.promql.matchers import Matcher, MatchOp, RegexMatcher
from collector.prometheus_naming import (
    BUCKET_SUFFIX,
    COUNT_SUFFIX,
    IDENTIFYING_ATTRIBUTES,
    INSTANCE_LABEL,
    JOB_LABEL,
    LE_LABEL,
    METRIC_NAME_LABEL,
    QUANTILE_LABEL,
    SUM_SUFFIX,
    MetricKind,
    NamingError,
    attribute_labels,
    build_metric_name,
    build_unit,
    format_float,
    job_and_instance,
)
from exporters.clickhouse.metrics import MetricsTables

if TYPE_CHECKING:
    from backend.service import Store

__all__ = [
    "KINDS",
    "TABLES",
    "Catalog",
    "Family",
    "Labels",
    "Part",
    "Selection",
    "Series",
    "StoredMetric",
    "point_labels",
    "series_id_sql",
]

TABLES: Final = MetricsTables()
KINDS: Final = ("gauge", "sum", "histogram", "summary")
"""The tables with a Prometheus view (exponential histograms would be native histograms)."""
DELTA: Final = 1
Labels = tuple[tuple[str, str], ...]
"""A label set, sorted by name."""

_RESOURCE_SQL: Final = (
    "mapFilter((k, v) -> k IN ("
    + ", ".join(f"'{key}'" for key in IDENTIFYING_ATTRIBUTES)
    + "), ResourceAttributes)"
)
_MONOTONIC_SQL: Final = {"sum": "IsMonotonic"}
_TEMPORALITY_SQL: Final = {"sum": "AggregationTemporality", "histogram": "AggregationTemporality"}
_EXTRA_SQL: Final = {
    "histogram": "groupUniqArray(ExplicitBounds)",
    "summary": "groupUniqArray(`ValueAtQuantiles.Quantile`)",
}
_NO_EXTRA: Final = "CAST([], 'Array(Array(Float64))')"


class Part(IntEnum):
    """What a Prometheus series reads from a stored point."""

    VALUE = 0
    BUCKET = 1
    SUM = 2
    COUNT = 3
    QUANTILE = 4


def monotonic_sql(kind: str) -> str:
    """The IsMonotonic column of table `kind` (false where there is none)."""
    return _MONOTONIC_SQL.get(kind, "false")


def temporality_sql(kind: str) -> str:
    """The AggregationTemporality column of table `kind` (0 where there is none)."""
    return _TEMPORALITY_SQL.get(kind, "toInt32(0)")


def series_id_sql(kind: str) -> str:
    """SQL of a UInt64 naming a stored series of table `kind`: a hash of everything its labels come from."""
    return (
        f"cityHash64(MetricName, MetricUnit, {monotonic_sql(kind)}, {temporality_sql(kind)}, "
        f"{_RESOURCE_SQL}, Attributes)"
    )


@dataclass(frozen=True, slots=True)
class StoredMetric:
    """One OTel metric as stored: its table and what decides its Prometheus name and type."""

    table: str
    name: str
    unit: str
    monotonic: bool = False
    temporality: int = 0

    @property
    def kind(self) -> MetricKind:
        """The naming module's kind (a sum is a counter when monotonic)."""
        if self.table == "sum":
            return MetricKind.MONOTONIC_COUNTER if self.monotonic else MetricKind.NON_MONOTONIC_COUNTER
        return MetricKind(self.table)

    @property
    def delta(self) -> bool:
        """Whether its points are deltas (accumulated into a cumulative series when read)."""
        return self.temporality == DELTA and self.table in ("sum", "histogram")

    @property
    def family(self) -> str:
        """The Prometheus metric family name (NamingError when nothing valid is left)."""
        return build_metric_name(self.name, self.unit, self.kind)

    @property
    def type(self) -> str:
        """The Prometheus metadata type: counter, gauge, histogram or summary."""
        return {
            MetricKind.MONOTONIC_COUNTER: "counter",
            MetricKind.NON_MONOTONIC_COUNTER: "gauge",
            MetricKind.GAUGE: "gauge",
            MetricKind.HISTOGRAM: "histogram",
            MetricKind.SUMMARY: "summary",
        }[self.kind]

    def series_names(self) -> dict[str, Part]:
        """The Prometheus series names of this metric and what each reads (NamingError if unnamable)."""
        family = self.family
        if self.table == "histogram":
            return {
                family + BUCKET_SUFFIX: Part.BUCKET,
                family + SUM_SUFFIX: Part.SUM,
                family + COUNT_SUFFIX: Part.COUNT,
            }
        if self.table == "summary":
            return {family: Part.QUANTILE, family + SUM_SUFFIX: Part.SUM, family + COUNT_SUFFIX: Part.COUNT}
        return {family: Part.VALUE}


@dataclass
class Family:
    """A Prometheus metric family: its name, type, help texts and unit, and the stored metrics it covers."""

    name: str
    type: str
    unit: str
    help: list[str] = field(default_factory=list)
    metrics: list[StoredMetric] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Series:
    """One Prometheus series of one stored series: its labels and how to read its value from a point."""

    labels: Labels
    metric: StoredMetric
    sid: int
    """The stored series (`series_id_sql`)."""
    part: Part
    arg: float
    """The bucket bound (`le`) or the quantile; 0 otherwise."""
    service: str
    """The stored series' ServiceName (the tables' first sort key)."""


def point_labels(
    attributes: Mapping[str, str],
    resource: Mapping[str, str],
    name: str,
    extra: tuple[str, str] | None = None,
) -> Labels:
    """The label set of a point, as the Prometheus exporters build it (the remote-write translator's rule)."""
    labels = attribute_labels(attributes)
    job, instance = job_and_instance(resource)
    if job is not None:
        labels[JOB_LABEL] = job
    if instance is not None:
        labels[INSTANCE_LABEL] = instance
    labels[METRIC_NAME_LABEL] = name
    if extra is not None:
        labels[extra[0]] = extra[1]
    return tuple(sorted((k, v) for k, v in labels.items() if v))


@dataclass(frozen=True, slots=True)
class Selection:
    """The series a selector means; `truncated` when there were more stored series than asked for."""

    series: list[Series]
    truncated: bool


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored series found by discovery."""

    metric: StoredMetric
    sid: int
    service: str
    resource: Mapping[str, str]
    attributes: Mapping[str, str]
    args: tuple[float, ...]
    """The histogram bounds or summary quantiles seen in the range."""


class Catalog:
    """The stored metrics under their Prometheus names (cached for `max_age` seconds) and series lookup."""

    def __init__(self, store: Store, max_age: float = 30.0) -> None:
        self.store = store
        self.max_age = max_age
        self._metrics: dict[StoredMetric, str] = {}
        self._loaded = -math.inf

    async def metrics(
        self, start_ns: int | None = None, end_ns: int | None = None, fresh: bool = False
    ) -> dict[StoredMetric, str]:
        """Every stored metric with its description; all time from the cache, or those with points in a range."""
        if start_ns is not None and end_ns is not None:
            return await self._load(start_ns, end_ns)
        if fresh or time.monotonic() - self._loaded > self.max_age:
            self._metrics = await self._load(None, None)
            self._loaded = time.monotonic()
        return self._metrics

    async def _load(self, start_ns: int | None, end_ns: int | None) -> dict[StoredMetric, str]:
        parts = []
        parameters: dict[str, object] = {}
        where = ""
        if start_ns is not None and end_ns is not None:
            where = (
                "WHERE TimeUnix >= fromUnixTimestamp64Nano({lo:Int64}) "
                "AND TimeUnix <= fromUnixTimestamp64Nano({hi:Int64})"
            )
            parameters = {"lo": start_ns, "hi": end_ns}
        for kind in KINDS:
            parts.append(
                f"SELECT '{kind}' AS kind, MetricName, MetricUnit, {monotonic_sql(kind)} AS mono, "
                f"{temporality_sql(kind)} AS temp, any(MetricDescription) AS help "
                f"FROM {self.store.table(TABLES.name(kind))} {where} GROUP BY MetricName, MetricUnit, mono, temp"
            )
        rows = await self.store.rows(" UNION ALL ".join(parts), parameters)
        found = {}
        for kind, name, unit, mono, temp, description in rows:
            found[StoredMetric(kind, name, unit, bool(mono), int(temp))] = description
        return found

    async def families(self, start_ns: int | None = None, end_ns: int | None = None) -> dict[str, Family]:
        """The metric families by name (metrics whose names cannot be translated are left out)."""
        families: dict[str, Family] = {}
        for metric, description in (await self.metrics(start_ns, end_ns)).items():
            try:
                name = metric.family
            except NamingError:
                continue
            family = families.get(name)
            if family is None:
                family = families[name] = Family(name, metric.type, build_unit(metric.unit))
            family.metrics.append(metric)
            if description not in family.help:
                family.help.append(description)
        return families

    async def series_names(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[str, list[tuple[StoredMetric, Part]]]:
        """Every Prometheus series name and the stored metrics (and parts) it reads."""
        names: dict[str, list[tuple[StoredMetric, Part]]] = {}
        for metric in await self.metrics(start_ns, end_ns):
            try:
                for name, part in metric.series_names().items():
                    names.setdefault(name, []).append((metric, part))
            except NamingError:
                continue
        return names

    async def select(
        self,
        matchers: Sequence[Matcher],
        start_ns: int,
        end_ns: int,
        limit: int,
        regex: RegexMatcher | None = None,
    ) -> Selection:
        """The Prometheus series with points in [start_ns, end_ns] that every matcher accepts.

        At most `limit` stored series are read: `truncated` says when more exist.
        """
        regex = regex or RegexMatcher(self.store)
        name_rules = [m for m in matchers if m.name == METRIC_NAME_LABEL]
        names = await self.series_names()
        wanted = {m.value for m in name_rules if m.op is MatchOp.EQUAL}
        if wanted - names.keys() and time.monotonic() - self._loaded > 1.0:
            await self.metrics(fresh=True)  # a name not seen yet may have arrived since the cache filled
            names = await self.series_names()
        candidates = sorted(names)
        chosen = await regex.select(name_rules, ({METRIC_NAME_LABEL: n} for n in candidates))
        parts: dict[StoredMetric, set[Part]] = {}
        for index in chosen:
            for metric, part in names[candidates[index]]:
                parts.setdefault(metric, set()).add(part)
        if not parts:
            return Selection([], False)
        stored = await self._discover(parts.keys(), start_ns, end_ns, limit)
        truncated = len(stored) > limit
        stored = stored[:limit]
        series = [s for found in stored for s in self._expand(found, parts[found.metric])]
        other_rules = [m for m in matchers if m.name != METRIC_NAME_LABEL]
        kept = await regex.select(other_rules, (dict(s.labels) for s in series))
        return Selection([series[i] for i in kept], truncated)

    async def _discover(
        self, metrics: Iterable[StoredMetric], start_ns: int, end_ns: int, limit: int
    ) -> list[_Stored]:
        """The stored series of `metrics` with points in the range (at most `limit` + 1)."""
        by_table: dict[str, set[str]] = {}
        selected = set(metrics)
        for metric in selected:
            by_table.setdefault(metric.table, set()).add(metric.name)
        parts = []
        parameters: dict[str, object] = {"lo": start_ns, "hi": end_ns, "limit": limit + 1}
        for i, (kind, metric_names) in enumerate(sorted(by_table.items())):
            parameters[f"names{i}"] = sorted(metric_names)
            parts.append(
                f"SELECT '{kind}' AS kind, MetricName, MetricUnit, {monotonic_sql(kind)} AS mono, "
                f"{temporality_sql(kind)} AS temp, {series_id_sql(kind)} AS sid, any(ServiceName) AS service, "
                f"any({_RESOURCE_SQL}) AS resource, any(Attributes) AS attributes, "
                f"{_EXTRA_SQL.get(kind, _NO_EXTRA)} AS extra "
                f"FROM {self.store.table(TABLES.name(kind))} "
                f"WHERE MetricName IN {{names{i}:Array(String)}} "
                "AND TimeUnix >= fromUnixTimestamp64Nano({lo:Int64}) "
                "AND TimeUnix <= fromUnixTimestamp64Nano({hi:Int64}) "
                "GROUP BY sid, MetricName, MetricUnit, mono, temp"
            )
        sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}) LIMIT {{limit:UInt64}}"
        rows = await self.store.rows(sql, parameters)
        found = []
        for kind, name, unit, mono, temp, sid, service, resource, attributes, extra in rows:
            metric = StoredMetric(kind, name, unit, bool(mono), int(temp))
            if metric in selected:
                args = tuple(sorted({float(a) for group in extra for a in group if math.isfinite(a)}))
                found.append(_Stored(metric, int(sid), service, resource, attributes, args))
        return found

    @staticmethod
    def _expand(found: _Stored, parts: set[Part]) -> list[Series]:
        """The Prometheus series of one stored series, for the parts selected by name."""
        names = {part: name for name, part in found.metric.series_names().items()}
        out = []
        for part in sorted(parts):
            name = names[part]
            if part is Part.BUCKET:
                for bound in [*found.args, math.inf]:
                    labels = point_labels(
                        found.attributes, found.resource, name, (LE_LABEL, format_float(bound))
                    )
                    out.append(Series(labels, found.metric, found.sid, part, bound, found.service))
            elif part is Part.QUANTILE:
                for quantile in found.args:
                    labels = point_labels(
                        found.attributes, found.resource, name, (QUANTILE_LABEL, format_float(quantile))
                    )
                    out.append(Series(labels, found.metric, found.sid, part, quantile, found.service))
            else:
                labels = point_labels(found.attributes, found.resource, name)
                out.append(Series(labels, found.metric, found.sid, part, 0.0, found.service))
        return out
