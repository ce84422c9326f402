"""PromQL text to a typed plan of the subset airis evaluates (parsed by `promql_parser`).

The subset: vector selectors with `=`, `!=`, `=~`, `!~`, `offset` and `@`; `rate`, `irate`,
`increase` over a range selector; `sum`, `avg`, `min`, `max`, `count` with `by`/`without`;
`histogram_quantile`; unary minus; `+ - * / % ^` and comparisons (with `bool`) between a vector
and a scalar or between two scalars (folded here, with Go's float semantics). Anything else is
`UnsupportedError` ("unsupported in airis: ..."); text that does not parse is `BadDataError`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import promql_parser as pp

from backend.metrics.promql.errors import BadDataError, UnsupportedError
from backend.metrics.promql.matchers import Matcher, MatchOp

__all__ = [
    "AGGREGATIONS",
    "ARITHMETIC",
    "COMPARISONS",
    "RANGE_FUNCTIONS",
    "Aggregate",
    "HistogramQuantile",
    "Negate",
    "Node",
    "RangeCall",
    "Scalar",
    "Selector",
    "VectorNode",
    "VectorScalar",
    "parse_selector",
    "plan",
    "scalar_binary",
]

RANGE_FUNCTIONS: Final = ("rate", "irate", "increase")
AGGREGATIONS: Final = ("sum", "avg", "min", "max", "count")
ARITHMETIC: Final = ("+", "-", "*", "/", "%", "^")
COMPARISONS: Final = ("==", "!=", ">", "<", ">=", "<=")
_MS: Final = timedelta(milliseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MATCH_OPS: Final = (
    (pp.MatchOp.Equal, MatchOp.EQUAL),
    (pp.MatchOp.NotEqual, MatchOp.NOT_EQUAL),
    (pp.MatchOp.Re, MatchOp.REGEX),
    (pp.MatchOp.NotRe, MatchOp.NOT_REGEX),
)


@dataclass(frozen=True, slots=True)
class Selector:
    """An instant vector selector: its matchers (the name as `__name__`), offset and `@` time, in ms."""

    matchers: tuple[Matcher, ...]
    offset: int = 0
    at: int | None = None


@dataclass(frozen=True, slots=True)
class RangeCall:
    """`rate`, `irate` or `increase` of a range selector of `range` ms."""

    function: str
    selector: Selector
    range: int


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`op` (sum, avg, min, max, count) of `child`, grouped `by` labels or `without` them."""

    op: str
    child: VectorNode
    labels: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True, slots=True)
class HistogramQuantile:
    """`histogram_quantile(quantile, child)` over `_bucket` series (the `le` label)."""

    quantile: float
    child: VectorNode


@dataclass(frozen=True, slots=True)
class VectorScalar:
    """`child op scalar` (or `scalar op child` when `scalar_left`); comparisons filter unless `bool`."""

    op: str
    child: VectorNode
    scalar: float
    scalar_left: bool = False
    bool: bool = False


@dataclass(frozen=True, slots=True)
class Negate:
    """Unary minus of a vector."""

    child: VectorNode


@dataclass(frozen=True, slots=True)
class Scalar:
    """A number (literals and arithmetic between them)."""

    value: float


VectorNode = Selector | RangeCall | Aggregate | HistogramQuantile | VectorScalar | Negate
Node = VectorNode | Scalar


def plan(query: str, start_ms: int, end_ms: int) -> Node:
    """The plan of `query` (`@ start()` / `@ end()` resolve to the query's `start_ms` / `end_ms`)."""
    if not query.strip():
        raise BadDataError("empty query")
    try:
        expr = pp.parse(query)
    except ValueError as err:
        raise BadDataError(f"parse error: {err}") from None
    return _Planner(start_ms, end_ms).node(expr)


def parse_selector(text: str) -> tuple[Matcher, ...]:
    """The matchers of a series selector (`match[]` of /api/v1/series); BadDataError if it is anything else."""
    try:
        expr = pp.parse(text)
    except ValueError as err:
        raise BadDataError(f"parse error: {err}") from None
    if not isinstance(expr, pp.VectorSelector):
        raise BadDataError(f"{text!r} is not a series selector")
    return _Planner(0, 0).selector(expr).matchers


def _match_op(op: pp.MatchOp) -> MatchOp:
    """The parser's operator as ours (its enum values are not hashable)."""
    return next(ours for theirs, ours in _MATCH_OPS if op == theirs)


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else delta // _MS


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:
        return math.nan


def _power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and b.is_integer() and int(b) % 2 else math.inf
    except ValueError:
        if a == 0 and b < 0:
            return -math.inf if math.copysign(1.0, a) < 0 and b.is_integer() and int(b) % 2 else math.inf
        return math.nan


_SCALAR_OPS: Final[dict[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
    "%": _modulo,
    "^": _power,
}
_COMPARE_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def scalar_binary(op: str, a: float, b: float) -> float:
    """`a op b` for two scalars with Go's float64 semantics (comparisons are `bool`: 1 or 0)."""
    if op in _COMPARE_OPS:
        return 1.0 if _COMPARE_OPS[op](a, b) else 0.0
    return _SCALAR_OPS[op](a, b)


class _Planner:
    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms

    def node(self, expr: Any) -> Node:
        if isinstance(expr, pp.ParenExpr):
            return self.node(expr.expr)
        if isinstance(expr, pp.NumberLiteral):
            return Scalar(float(expr.val))
        if isinstance(expr, pp.VectorSelector):
            return self.selector(expr)
        if isinstance(expr, pp.Call):
            return self.call(expr)
        if isinstance(expr, pp.AggregateExpr):
            return self.aggregate(expr)
        if isinstance(expr, pp.UnaryExpr):
            child = self.node(expr.expr)
            return Scalar(-child.value) if isinstance(child, Scalar) else Negate(child)
        if isinstance(expr, pp.BinaryExpr):
            return self.binary(expr)
        if isinstance(expr, pp.MatrixSelector):
            raise UnsupportedError(
                "a range vector as the query's result (use it inside rate, irate or increase)"
            )
        if isinstance(expr, pp.SubqueryExpr):
            raise UnsupportedError("subqueries")
        if isinstance(expr, pp.StringLiteral):
            raise UnsupportedError("string literals")
        raise UnsupportedError(f"expression {type(expr).__name__}")

    def vector(self, expr: Any, where: str) -> VectorNode:
        node = self.node(expr)
        if isinstance(node, Scalar):
            raise BadDataError(f"expected an instant vector in {where}, got a scalar")
        return node

    def selector(self, expr: pp.VectorSelector) -> Selector:
        if expr.matchers.or_matchers:
            raise UnsupportedError("`or` between matchers inside a selector")
        matchers = [Matcher(m.name, _match_op(m.op), m.value) for m in expr.matchers.matchers]
        if expr.name is not None and not any(m.name == "__name__" for m in matchers):
            matchers.insert(0, Matcher("__name__", MatchOp.EQUAL, expr.name))
        at = None
        if expr.at is not None:
            if expr.at.type == pp.AtModifierType.Start:
                at = self.start_ms
            elif expr.at.type == pp.AtModifierType.End:
                at = self.end_ms
            elif expr.at.at is not None:
                at = (expr.at.at - _EPOCH) // _MS
        return Selector(tuple(matchers), _ms(expr.offset), at)

    def call(self, expr: pp.Call) -> VectorNode:
        name = expr.func.name
        args = list(expr.args)
        if name in RANGE_FUNCTIONS:
            (arg,) = args
            if isinstance(arg, pp.SubqueryExpr):
                raise UnsupportedError(f"subqueries (in {name})")
            if not isinstance(arg, pp.MatrixSelector):
                raise BadDataError(f"expected a range vector in {name}")
            return RangeCall(name, self.selector(arg.vector_selector), _ms(arg.range))
        if name == "histogram_quantile":
            quantile, child = args
            q = self.node(quantile)
            if not isinstance(q, Scalar):
                raise UnsupportedError("histogram_quantile with a quantile that is not a number")
            return HistogramQuantile(q.value, self.vector(child, name))
        raise UnsupportedError(f"function {name}()")

    def aggregate(self, expr: pp.AggregateExpr) -> Aggregate:
        op = str(expr.op)
        if op not in AGGREGATIONS:
            raise UnsupportedError(f"aggregation {op}")
        child = self.vector(expr.expr, op)
        modifier = expr.modifier
        if modifier is None:
            return Aggregate(op, child)
        without = modifier.type == pp.AggModifierType.Without
        return Aggregate(op, child, tuple(modifier.labels), without)

    def binary(self, expr: pp.BinaryExpr) -> Node:
        op = str(expr.op)
        if op not in ARITHMETIC and op not in COMPARISONS:
            raise UnsupportedError(f"the {op} operator")
        returns_bool = bool(expr.modifier is not None and expr.modifier.return_bool)
        lhs, rhs = self.node(expr.lhs), self.node(expr.rhs)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return Scalar(scalar_binary(op, lhs.value, rhs.value))
        if isinstance(rhs, Scalar):
            assert not isinstance(lhs, Scalar)
            return VectorScalar(op, lhs, rhs.value, False, returns_bool)
        if isinstance(lhs, Scalar):
            return VectorScalar(op, rhs, lhs.value, True, returns_bool)
        raise UnsupportedError(f"binary operations between two vectors ({op})")
