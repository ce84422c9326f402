"""Planning PromQL: the subset airis evaluates, what it refuses and how, and scalar arithmetic."""

from __future__ import annotations

import math

import pytest

from backend.metrics.promql.errors import BadDataError, UnsupportedError
from backend.metrics.promql.matchers import Matcher, MatchOp, anchored
from backend.metrics.promql.plan import (
    Aggregate,
    HistogramQuantile,
    Negate,
    RangeCall,
    Scalar,
    Selector,
    VectorScalar,
    parse_selector,
    plan,
    scalar_binary,
)

NAME = Matcher("__name__", MatchOp.EQUAL, "http_requests_total")


def test_a_selector_keeps_its_matchers_offset_and_at_in_milliseconds() -> None:
    node = plan('http_requests_total{code=~"2..", job!="a", path!~"/x.*", m="GET"} offset 1m30s', 0, 0)
    assert node == Selector(
        (
            NAME,
            Matcher("code", MatchOp.REGEX, "2.."),
            Matcher("job", MatchOp.NOT_EQUAL, "a"),
            Matcher("path", MatchOp.NOT_REGEX, "/x.*"),
            Matcher("m", MatchOp.EQUAL, "GET"),
        ),
        offset=90_000,
    )
    assert plan("http_requests_total offset -1m", 0, 0) == Selector((NAME,), offset=-60_000)
    assert plan("http_requests_total @ 100.5", 0, 0) == Selector((NAME,), at=100_500)
    assert plan("http_requests_total @ start()", 7, 9) == Selector((NAME,), at=7)
    assert plan("http_requests_total @ end()", 7, 9) == Selector((NAME,), at=9)


def test_functions_aggregations_and_quantiles_nest_as_written() -> None:
    node = plan("histogram_quantile(0.9, sum by (le) (rate(http_requests_total[5m])))", 0, 0)
    rate = RangeCall("rate", Selector((NAME,)), 300_000)
    assert node == HistogramQuantile(0.9, Aggregate("sum", rate, ("le",)))
    assert plan("avg without (instance, job) (irate(http_requests_total[1m]))", 0, 0) == Aggregate(
        "avg", RangeCall("irate", Selector((NAME,)), 60_000), ("instance", "job"), without=True
    )
    assert plan("count(increase(http_requests_total[2m] offset 1m))", 0, 0) == Aggregate(
        "count", RangeCall("increase", Selector((NAME,), offset=60_000), 120_000)
    )


def test_scalars_fold_and_sides_are_remembered() -> None:
    selector = Selector((NAME,))
    assert plan("(1 + 2) * 3 - 2 ^ 3", 0, 0) == Scalar(1.0)
    assert plan("2 * http_requests_total", 0, 0) == VectorScalar("*", selector, 2.0, scalar_left=True)
    assert plan("http_requests_total / (4 - 2)", 0, 0) == VectorScalar("/", selector, 2.0)
    assert plan("http_requests_total > bool 1", 0, 0) == VectorScalar(">", selector, 1.0, bool=True)
    assert plan("-http_requests_total", 0, 0) == Negate(selector)
    assert plan("-(2)", 0, 0) == Scalar(-2.0)


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("/", 1.0, 0.0, math.inf),
        ("/", -1.0, 0.0, -math.inf),
        ("/", 0.0, 0.0, math.nan),
        ("%", 5.5, 2.0, 1.5),
        ("%", -5.5, 2.0, -1.5),
        ("%", 1.0, 0.0, math.nan),
        ("%", math.inf, 2.0, math.nan),
        ("^", 2.0, 0.5, math.sqrt(2)),
        ("^", -8.0, 1 / 3, math.nan),
        ("^", 10.0, 400.0, math.inf),
        ("^", 0.0, -1.0, math.inf),
        ("==", 1.0, 1.0, 1.0),
        ("!=", 1.0, 1.0, 0.0),
        ("<=", math.nan, 1.0, 0.0),
    ],
)
def test_scalar_arithmetic_follows_go_float_semantics(op: str, a: float, b: float, expected: float) -> None:
    result = scalar_binary(op, a, b)
    assert (math.isnan(result) and math.isnan(expected)) or result == expected


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        ("topk(3, http_requests_total)", "aggregation topk"),
        ("quantile(0.5, http_requests_total)", "aggregation quantile"),
        ("abs(http_requests_total)", "function abs()"),
        ("delta(http_requests_total[5m])", "function delta()"),
        ("rate(http_requests_total[5m:1m])", "subqueries (in rate)"),
        ("http_requests_total[5m]", "a range vector as the query's result"),
        ("http_requests_total / http_requests_total", "binary operations between two vectors (/)"),
        ("http_requests_total and http_requests_total", "the and operator"),
        ("http_requests_total atan2 1", "the atan2 operator"),
        ('"text"', "string literals"),
        ('http_requests_total{a="b" or c="d"}', "`or` between matchers inside a selector"),
        ("histogram_quantile(scalar(up), http_requests_total)", "function scalar()"),
    ],
)
def test_outside_the_subset_is_unsupported_and_says_what(query: str, feature: str) -> None:
    with pytest.raises(UnsupportedError) as caught:
        plan(query, 0, 0)
    assert str(caught.value).startswith(f"unsupported in airis: {feature}")


@pytest.mark.parametrize("query", ["", "   ", "sum(", "rate(x)", 'x{a=~"("}', "foo(x)", "{}"])
def test_text_that_does_not_parse_is_bad_data(query: str) -> None:
    with pytest.raises(BadDataError):
        plan(query, 0, 0)


def test_a_series_selector_is_matchers_and_nothing_else() -> None:
    assert parse_selector('up{job="a"}') == (
        Matcher("__name__", MatchOp.EQUAL, "up"),
        Matcher("job", MatchOp.EQUAL, "a"),
    )
    with pytest.raises(BadDataError, match="is not a series selector"):
        parse_selector("rate(up[5m])")


def test_regexes_are_anchored_and_dot_stops_at_newlines_as_in_prometheus_2() -> None:
    assert anchored("a|b.*") == "(?-s)^(?:a|b.*)$"
    assert str(Matcher("path", MatchOp.NOT_REGEX, '/a"b\\')) == 'path!~"/a\\"b\\\\"'
