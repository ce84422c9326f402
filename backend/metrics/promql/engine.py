"""Evaluating PromQL: plan the query, find each selector's series (the catalog), build one SQL query, run it.

Label sets live here, in Python: each vector of the plan is a ClickHouse relation of series numbers
plus the list of their label sets; aggregation and histogram_quantile pass ClickHouse arrays that
map a child's series numbers to groups. Functions and arithmetic drop `__name__`; two series left
with the same labels are an error, as in Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from backend.metrics.catalog import TABLES, Catalog, Labels, Part, Series
from backend.metrics.promql import sql
from backend.metrics.promql.errors import BadDataError, ExecutionError
from backend.metrics.promql.matchers import RegexMatcher
from backend.metrics.promql.plan import (
    COMPARISONS,
    Aggregate,
    HistogramQuantile,
    Negate,
    RangeCall,
    Scalar,
    Selector,
    VectorNode,
    VectorScalar,
    plan,
)
from collector.prometheus_naming import LE_LABEL, METRIC_NAME_LABEL

if TYPE_CHECKING:
    from backend.service import Store

__all__ = ["MAX_POINTS", "Engine", "Result", "SeriesResult", "format_value"]

MAX_POINTS: Final = 5_000_000
"""The most (series x steps) one query may evaluate."""
_MS_NS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """One result series: labels, times (Unix seconds) and values as Prometheus writes them, oldest first."""

    labels: Labels
    times: list[float]
    values: list[str]


@dataclass(frozen=True, slots=True)
class Result:
    """A query's result: a scalar (one series without labels) or a vector/matrix of series sorted by labels."""

    scalar: bool
    series: list[SeriesResult]


@dataclass(frozen=True, slots=True)
class _Vector:
    """A vector of the plan: its relation (None when it has no series) and the label sets of its series."""

    relation: str | None
    labels: list[Labels]


def _without(labels: Labels, names: set[str]) -> Labels:
    return tuple((k, v) for k, v in labels if k not in names)


def _nameless(labels: list[Labels]) -> list[Labels]:
    """The label sets without `__name__`."""
    return [_without(one, {METRIC_NAME_LABEL}) for one in labels]


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: strconv.FormatFloat(v, 'f', -1, 64), `+Inf`, `-Inf`, `NaN`."""
    text = repr(value)
    if "e" in text or "n" in text:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        text = format(Decimal(text), "f")
    return text.removesuffix(".0")


def _prometheus_texts(texts: list[str]) -> list[str]:
    """ClickHouse's texts of Float64s (the same shortest digits) as Prometheus writes them: only
    exponents, inf and nan differ (checked on all texts at once)."""
    joined = " ".join(texts)
    if "e" not in joined and "n" not in joined:
        return texts
    return [format_value(float(t)) if "e" in t or "n" in t else t for t in texts]


def _parse_le(text: str | None) -> float | None:
    """The `le` bound as Go's strconv.ParseFloat reads it (None when it is not a number)."""
    if text is None or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class Engine:
    """Evaluates PromQL over the stored metrics."""

    def __init__(
        self, store: Store, catalog: Catalog, max_series: int, max_range_ms: int | None = None
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.max_series = max_series
        self.max_range_ms = max_range_ms

    async def evaluate(self, query: str, steps: sql.Steps) -> Result:
        """The value of `query` at every step."""
        node = plan(query, steps.start, steps.end)
        times = [steps.start + i * steps.step for i in range(steps.count)]
        if isinstance(node, Scalar):
            value = format_value(node.value)
            return Result(True, [SeriesResult((), [t / 1000 for t in times], [value] * len(times))])
        q = sql.SqlQuery()
        vector = await self._vector(node, q, steps, RegexMatcher(self.store))
        if vector.relation is None:
            return Result(False, [])
        table = await self.store.arrow(q.render(vector.relation), q.parameters)
        series = [
            SeriesResult(vector.labels[sid], times, _prometheus_texts(values))
            for sid, times, values in zip(
                table.column("sid").to_pylist(),
                table.column("times").to_pylist(),
                table.column("values").to_pylist(),
                strict=True,
            )
            if times
        ]
        series.sort(key=lambda s: s.labels)
        return Result(False, series)

    async def _vector(
        self, node: VectorNode, q: sql.SqlQuery, steps: sql.Steps, regex: RegexMatcher
    ) -> _Vector:
        if isinstance(node, Selector):
            return await self._selector(node, q, steps, regex, None)
        if isinstance(node, RangeCall):
            inner = await self._selector(node.selector, q, steps, regex, node)
            return _Vector(inner.relation, self._unique(_nameless(inner.labels)))
        child = await self._vector(node.child, q, steps, regex)
        if child.relation is None:
            return child
        if isinstance(node, Aggregate):
            return self._aggregate(node, q, child)
        if isinstance(node, HistogramQuantile):
            return self._histogram_quantile(node, q, child)
        if isinstance(node, VectorScalar):
            relation = sql.vector_scalar(q, node.op, child.relation, node.scalar, node.scalar_left, node.bool)
            keeps_name = node.op in COMPARISONS and not node.bool
            labels = child.labels if keeps_name else _nameless(child.labels)
            return _Vector(relation, self._unique(labels))
        if isinstance(node, Negate):
            return _Vector(sql.negate(q, child.relation), self._unique(_nameless(child.labels)))
        raise AssertionError(f"unplanned node {node!r}")

    async def _selector(
        self, node: Selector, q: sql.SqlQuery, steps: sql.Steps, regex: RegexMatcher, call: RangeCall | None
    ) -> _Vector:
        window = call.range if call is not None else sql.LOOKBACK_MS
        if node.at is None:
            first, last = steps.start - node.offset, steps.end - node.offset
        else:
            first = last = node.at - node.offset
        lo, hi = first - window, last
        if self.max_range_ms is not None and hi - lo > self.max_range_ms:
            raise BadDataError(
                f"the selector {{{', '.join(map(str, node.matchers))}}} would read {(hi - lo) / 3_600_000:g} h "
                f"of points, more than {self.max_range_ms / 3_600_000:g} h"
            )
        selection = await self.catalog.select(
            node.matchers, lo * _MS_NS, (hi + 1) * _MS_NS - 1, self.max_series, regex
        )
        selected = selection.series
        if selection.truncated or len(selected) > self.max_series:
            raise ExecutionError(
                f"the selector {{{', '.join(map(str, node.matchers))}}} selects more than {self.max_series} "
                "series; narrow it down with more label matchers"
            )
        if not selected:
            return _Vector(None, [])
        labels, tables = self._sources(selected)
        if len(labels) * steps.count > MAX_POINTS:
            raise ExecutionError(
                f"the query would evaluate {len(labels)} series at {steps.count} steps, more than {MAX_POINTS} "
                "points; narrow the selector or raise the step"
            )
        names = {kind: self.store.table(TABLES.name(kind)) for kind in tables}
        src = sql.source(q, list(tables.values()), names, lo, hi)
        at = steps if node.at is None else sql.Steps(node.at, 1, 1)
        if call is None:
            relation = sql.instant(q, src, at, node.offset)
        else:
            relation = sql.range_function(q, call.function, src, at, node.offset, call.range)
        if node.at is not None:
            relation = sql.repeat(q, relation, steps)
        return _Vector(relation, labels)

    @staticmethod
    def _sources(selected: Sequence[Series]) -> tuple[list[Labels], dict[str, sql.SourceTable]]:
        """Series numbers by label set (series of equal labels share one) and the tables to read them from."""
        numbers: dict[Labels, int] = {}
        tables: dict[str, sql.SourceTable] = {}
        for series in selected:
            pid = numbers.setdefault(series.labels, len(numbers))
            table = tables.setdefault(series.metric.table, sql.SourceTable(series.metric.table))
            table.names.add(series.metric.name)
            table.services.add(series.service)
            code, arg = int(series.part), series.arg
            if series.part is Part.BUCKET and math.isinf(arg):
                code, arg = sql.INF_BUCKET, 0.0
            table.parts.setdefault(series.sid, []).append((pid, code, arg, 1 if series.metric.delta else 0))
        return list(numbers), tables

    @staticmethod
    def _unique(labels: list[Labels]) -> list[Labels]:
        if len(set(labels)) != len(labels):
            raise ExecutionError("vector cannot contain metrics with the same labelset")
        return labels

    @staticmethod
    def _aggregate(node: Aggregate, q: sql.SqlQuery, child: _Vector) -> _Vector:
        assert child.relation is not None
        names = set(node.labels)
        groups: dict[Labels, int] = {}
        mapping = []
        for labels in child.labels:
            if node.without:
                key = _without(labels, names | {METRIC_NAME_LABEL})
            else:
                key = tuple((k, v) for k, v in labels if k in names)
            mapping.append(groups.setdefault(key, len(groups)))
        return _Vector(sql.aggregate(q, node.op, child.relation, mapping), list(groups))

    @staticmethod
    def _histogram_quantile(node: HistogramQuantile, q: sql.SqlQuery, child: _Vector) -> _Vector:
        assert child.relation is not None
        groups: dict[Labels, int] = {}
        mapping: list[int] = []
        bounds: list[float] = []
        for labels in child.labels:
            bound = _parse_le(dict(labels).get(LE_LABEL))
            if bound is None or math.isnan(bound):
                mapping.append(0)
                bounds.append(0.0)
                continue
            key = _without(labels, {LE_LABEL, METRIC_NAME_LABEL})
            mapping.append(groups.setdefault(key, len(groups)) + 1)
            bounds.append(bound)
        if not groups:
            return _Vector(None, [])
        return _Vector(
            sql.histogram_quantile(q, node.quantile, child.relation, mapping, bounds), list(groups)
        )
