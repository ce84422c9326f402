"""Dependency graph, RED metrics and latency distribution over spans written by the clickhouse exporter.

The data (`analytics_request`), all from BASE (2026-01-01T00:00:00Z), times in ms from a trace's start:

- ten checkout traces, trace i at BASE + 6 s * i (the first minute):
  frontend `GET /checkout` SERVER root 0..200 (Error when i in 3, 7)
    frontend `POST /orders` CLIENT 5..(api end + 2)
      api `POST /orders` SERVER 7..7 + 10 (i + 1) (Error when i in 3, 7)
        api `SELECT orders` CLIENT 8..14 → db `SELECT orders` SERVER 9..12 (Error when i = 7)
        api `GET stock` CLIENT 8..13 (in parallel) → db `GET stock` SERVER 9..11
        api `publish order` PRODUCER 15..16 (i even) → worker `process order` CONSUMER 30..330
          (Error when i = 4)
- five cart traces at BASE + 63 s + 6 s * k: frontend `GET /cart` SERVER root lasting 4 (k + 1)
- worker `nightly cleanup` INTERNAL root at BASE + 125 s lasting 1 s
- an api `orphan call` CLIENT whose parent was never stored, at BASE + 40 s
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import ServiceConfig, Store
from backend.traces.analytics import (
    DependencyLink,
    LatencyBucket,
    SpanSelection,
    dependency_links,
    latency_distribution,
    log_bounds,
    red_metrics,
)
from collector.pdata import Batch
from exporters.clickhouse import traces
from tests.backend.conftest import fresh_backend

pytestmark = pytest.mark.asyncio(loop_scope="module")

MS = 1_000_000
SECOND = 1_000_000_000
BASE = 1_767_225_600 * SECOND
MINUTE = 60 * SECOND
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
OK, ERROR = 1, 2


def trace_id(group: int, index: int) -> str:
    """The trace id of trace `index` of `group` (1: checkout, 2: cart, 3: cleanup, 4: orphan)."""
    return f"{group:016x}{index:016x}"


def span_id(index: int, role: int) -> str:
    """The span id of `role` (1..9) in trace `index`."""
    return f"{index:08x}{role:08x}"


def _span(
    trace: str, span: str, parent: str, name: str, kind: int, start_ns: int, end_ns: int, error: bool = False
) -> Span:
    return Span(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        status=Status(code=ERROR if error else OK),  # type: ignore[arg-type]
    )


ROOT, FE_CLIENT, API_SERVER, SELECT_CLIENT, SELECT_SERVER, STOCK_CLIENT, STOCK_SERVER, PUBLISH, CONSUME = (
    range(1, 10)
)


def checkout_trace(i: int) -> dict[str, list[Span]]:
    """Trace i of the checkout group, by service."""
    tid, t0 = trace_id(1, i), BASE + 6 * SECOND * i

    def at(ms: float) -> int:
        return t0 + int(ms * MS)

    def sid(role: int) -> str:
        return span_id(i, role)

    api_end = 7 + 10 * (i + 1)
    spans = {
        "frontend": [
            _span(tid, sid(ROOT), "", "GET /checkout", SERVER, at(0), at(200), error=i in (3, 7)),
            _span(tid, sid(FE_CLIENT), sid(ROOT), "POST /orders", CLIENT, at(5), at(api_end + 2)),
        ],
        "api": [
            _span(
                tid,
                sid(API_SERVER),
                sid(FE_CLIENT),
                "POST /orders",
                SERVER,
                at(7),
                at(api_end),
                error=i in (3, 7),
            ),
            _span(tid, sid(SELECT_CLIENT), sid(API_SERVER), "SELECT orders", CLIENT, at(8), at(14)),
            _span(tid, sid(STOCK_CLIENT), sid(API_SERVER), "GET stock", CLIENT, at(8), at(13)),
        ],
        "db": [
            _span(
                tid,
                sid(SELECT_SERVER),
                sid(SELECT_CLIENT),
                "SELECT orders",
                SERVER,
                at(9),
                at(12),
                error=i == 7,
            ),
            _span(tid, sid(STOCK_SERVER), sid(STOCK_CLIENT), "GET stock", SERVER, at(9), at(11)),
        ],
        "worker": [],
    }
    if i % 2 == 0:
        spans["api"].append(
            _span(tid, sid(PUBLISH), sid(API_SERVER), "publish order", PRODUCER, at(15), at(16))
        )
        spans["worker"].append(
            _span(tid, sid(CONSUME), sid(PUBLISH), "process order", CONSUMER, at(30), at(330), error=i == 4)
        )
    return spans


def analytics_request() -> ExportTraceServiceRequest:
    """Every span of the module docstring's data, one ResourceSpans per service and trace group."""
    by_service: dict[str, list[Span]] = {"frontend": [], "api": [], "db": [], "worker": []}
    for i in range(10):
        for service, spans in checkout_trace(i).items():
            by_service[service].extend(spans)
    for k in range(5):
        start = BASE + 63 * SECOND + 6 * SECOND * k
        root = _span(
            trace_id(2, k), span_id(k, ROOT), "", "GET /cart", SERVER, start, start + 4 * (k + 1) * MS
        )
        by_service["frontend"].append(root)
    cleanup_start = BASE + 125 * SECOND
    by_service["worker"].append(
        _span(
            trace_id(3, 0),
            span_id(0, ROOT),
            "",
            "nightly cleanup",
            INTERNAL,
            cleanup_start,
            cleanup_start + SECOND,
        )
    )
    orphan_start = BASE + 40 * SECOND
    by_service["api"].append(
        _span(
            trace_id(4, 0),
            span_id(0, 2),
            "ffffffffffffffff",
            "orphan call",
            CLIENT,
            orphan_start,
            orphan_start + MS,
        )
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [{"key": "service.name", "value": {"string_value": service}}]},  # type: ignore[arg-type]
                scope_spans=[ScopeSpans(scope={"name": "io.opentelemetry.http"}, spans=spans)],  # type: ignore[arg-type]
            )
            for service, spans in by_service.items()
        ]
    )


async def analytics_data(backend: ClickHouseBackend, config: ServiceConfig | None = None) -> Store:
    """A store over `backend` holding `analytics_request`'s spans, written through the exporter."""
    await traces.write(backend, "otel_traces", Batch.from_otlp(analytics_request()))
    return Store(backend, config or ServiceConfig(max_limit=100))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def analytics_store() -> AsyncIterator[Store]:
    """A store over a fresh database of the process's chDB folder holding the data, shared by a module.

    The tests only read, so one database serves them all (a schema and an insert per test would
    take most of the module's time).
    """
    async with fresh_backend("analytics") as backend:
        yield await analytics_data(backend)


def interpolated(values: list[float], level: float) -> float:
    """The `level` quantile with linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = level * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- dependency graph -------------------------------------------------------------------------------


async def test_edges_join_children_to_parents_of_other_services_with_call_and_error_counts(
    analytics_store: Store,
) -> None:
    links = await dependency_links(analytics_store, BASE, BASE + 10 * MINUTE)
    assert links == [
        DependencyLink("api", "db", call_count=20, error_count=1),
        DependencyLink("api", "worker", call_count=5, error_count=1),
        DependencyLink("frontend", "api", call_count=10, error_count=2),
    ]


async def test_edges_count_only_spans_in_the_time_range(analytics_store: Store) -> None:
    # Traces 0..4 (trace 5 starts at 30 s): 5 calls frontend → api (one error: trace 3), 10 api → db
    # (trace 7's error is outside), producers in traces 0, 2, 4 (trace 4's consumer failed).
    links = await dependency_links(analytics_store, BASE, BASE + 27 * SECOND)
    assert links == [
        DependencyLink("api", "db", call_count=10, error_count=0),
        DependencyLink("api", "worker", call_count=3, error_count=1),
        DependencyLink("frontend", "api", call_count=5, error_count=1),
    ]


async def test_the_range_end_is_inclusive_and_both_spans_of_an_edge_must_be_in_it(
    analytics_store: Store,
) -> None:
    trace5 = BASE + 30 * SECOND
    # At trace 5's +9 ms both of its db spans (and their +8 ms parents) are in; 1 ns earlier they are not.
    at_db_start = await dependency_links(analytics_store, BASE, trace5 + 9 * MS)
    before = await dependency_links(analytics_store, BASE, trace5 + 9 * MS - 1)
    assert {(link.parent, link.child): link.call_count for link in at_db_start} == {
        ("api", "db"): 12,
        ("api", "worker"): 3,
        ("frontend", "api"): 6,
    }
    assert {(link.parent, link.child): link.call_count for link in before}[("api", "db")] == 10
    # Starting after trace 5's api span: its db children lose their parents.
    later = await dependency_links(analytics_store, trace5 + 8 * MS + 1, trace5 + SECOND)
    assert later == []


async def test_no_spans_no_edges(analytics_store: Store) -> None:
    assert await dependency_links(analytics_store, BASE - MINUTE, BASE - 1) == []


# --- RED metrics -------------------------------------------------------------------------------------


async def test_red_of_a_service_per_operation_and_minute(analytics_store: Store) -> None:
    red = await red_metrics(analytics_store, SpanSelection("frontend"), BASE, BASE + 3 * MINUTE, MINUTE, 100)
    assert red.timestamps == [BASE, BASE + MINUTE, BASE + 2 * MINUTE]
    whole, checkout, cart = red.series
    assert [whole.operation, checkout.operation, cart.operation] == [None, "GET /checkout", "GET /cart"]
    assert whole.requests == [10, 5, 0]
    assert whole.errors == [2, 0, 0]
    assert whole.request_rate == pytest.approx([10 / 60, 5 / 60, 0.0], rel=1e-12)
    assert whole.error_rate[:2] == pytest.approx([0.2, 0.0], rel=1e-12)
    assert whole.error_rate[2] is None
    assert checkout.requests == [10, 0, 0]
    assert checkout.p50_ms == checkout.p90_ms == checkout.p99_ms == [200.0, None, None]
    carts = [4.0, 8.0, 12.0, 16.0, 20.0]
    assert cart.requests == [0, 5, 0]
    assert cart.p50_ms == [None, 12.0, None]
    assert cart.p90_ms[::2] == cart.p99_ms[::2] == [None, None]
    assert cart.p90_ms[1] == pytest.approx(18.4, rel=1e-12)
    assert cart.p99_ms[1] == pytest.approx(19.84, rel=1e-12)
    assert cart.p99_ms[1] == pytest.approx(interpolated(carts, 0.99), rel=1e-12)
    assert whole.p50_ms[1] == 12.0  # the whole service's own quantiles, not an average of operations'


async def test_red_counts_server_spans_and_their_error_fraction_with_interpolated_quantiles(
    analytics_store: Store,
) -> None:
    red = await red_metrics(analytics_store, SpanSelection("api"), BASE, BASE + MINUTE, MINUTE, 100)
    # Entry spans only: the 10 `POST /orders` servers (not the clients, the producer or the orphan).
    assert [s.operation for s in red.series] == [None, "POST /orders"]
    orders = red.series[1]
    durations = [10.0 * (i + 1) for i in range(10)]
    assert orders.requests == [10]
    assert orders.error_rate == [0.2]
    assert orders.p50_ms == pytest.approx([55.0], rel=1e-12)
    assert orders.p90_ms == pytest.approx([91.0], rel=1e-12)
    assert orders.p99_ms == pytest.approx([99.1], rel=1e-12)
    assert orders.p99_ms == pytest.approx([interpolated(durations, 0.99)], rel=1e-12)


async def test_consumers_and_roots_of_any_kind_are_entry_spans(analytics_store: Store) -> None:
    red = await red_metrics(analytics_store, SpanSelection("worker"), BASE, BASE + 3 * MINUTE, MINUTE, 100)
    by_name = {s.operation: s.requests for s in red.series}
    assert by_name == {None: [5, 0, 1], "process order": [5, 0, 0], "nightly cleanup": [0, 0, 1]}
    errors = {s.operation: s.errors for s in red.series}
    assert errors["process order"] == [1, 0, 0]


async def test_chosen_kinds_replace_entry_spans_and_limit_keeps_the_busiest_operations(
    analytics_store: Store,
) -> None:
    clients = SpanSelection("api", kinds=("Client",), entry=False)
    red = await red_metrics(analytics_store, clients, BASE, BASE + MINUTE, MINUTE, 100)
    assert [(s.operation, s.requests) for s in red.series] == [
        (None, [21]),
        ("GET stock", [10]),
        ("SELECT orders", [10]),
        ("orphan call", [1]),
    ]
    limited = await red_metrics(analytics_store, clients, BASE, BASE + MINUTE, MINUTE, 1)
    assert [(s.operation, s.requests) for s in limited.series] == [(None, [21]), ("GET stock", [10])]
    every = await red_metrics(
        analytics_store, SpanSelection("api", entry=False), BASE, BASE + MINUTE, MINUTE, 100
    )
    assert every.series[0].requests == [10 + 10 + 10 + 5 + 1]


async def test_one_operation_is_selected_by_name(analytics_store: Store) -> None:
    selection = SpanSelection("frontend", operation="GET /cart")
    red = await red_metrics(analytics_store, selection, BASE, BASE + 3 * MINUTE, MINUTE, 100)
    assert [(s.operation, s.requests) for s in red.series] == [(None, [0, 5, 0]), ("GET /cart", [0, 5, 0])]


async def test_buckets_start_at_the_range_start_and_the_last_short_bucket_rates_over_its_length(
    analytics_store: Store,
) -> None:
    # 150 s in 60 s steps: [0, 60), [60, 120), [120, 150); the cleanup at 125 s is 1 request in 30 s.
    red = await red_metrics(analytics_store, SpanSelection("worker"), BASE, BASE + 150 * SECOND, MINUTE, 100)
    assert red.timestamps == [BASE, BASE + MINUTE, BASE + 2 * MINUTE]
    assert red.series[0].request_rate == pytest.approx([5 / 60, 0.0, 1 / 30], rel=1e-12)
    # Shifted by 5 s the buckets are [5 s, 65 s), [65 s, 125 s), [125 s, 185 s): the consumer at 0 s is
    # out, those at 12..48 s in the first; the cleanup at 125 s opens the last.
    shifted = await red_metrics(
        analytics_store, SpanSelection("worker"), BASE + 5 * SECOND, BASE + 185 * SECOND, MINUTE, 100
    )
    assert shifted.timestamps == [BASE + 5 * SECOND, BASE + 65 * SECOND, BASE + 125 * SECOND]
    assert shifted.series[0].requests == [4, 0, 1]
    # The range's end is exclusive: a span starting exactly at the end is not counted.
    before_cleanup = await red_metrics(
        analytics_store, SpanSelection("worker"), BASE, BASE + 125 * SECOND, MINUTE, 100
    )
    assert before_cleanup.series[0].requests == [5, 0, 0]


async def test_red_of_an_unknown_service_has_no_series(analytics_store: Store) -> None:
    red = await red_metrics(analytics_store, SpanSelection("nobody"), BASE, BASE + MINUTE, MINUTE, 100)
    assert red.series == []
    assert red.timestamps == [BASE]


# --- latency distribution ----------------------------------------------------------------------------


async def test_spanmetrics_buckets_hold_durations_up_to_and_including_their_bound(
    analytics_store: Store,
) -> None:
    selection = SpanSelection("api", operation="POST /orders")
    latency = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, None)
    assert latency.scale == "spanmetrics"
    assert latency.count == 10
    counts = {(b.lower_ms, b.upper_ms): b.count for b in latency.buckets if b.count}
    # 10 ms is in (8, 10]; 20..50 in (10, 50]; 60..100 in (50, 100].
    assert counts == {(8.0, 10.0): 1, (10.0, 50.0): 4, (50.0, 100.0): 5}
    assert len(latency.buckets) == 17
    assert latency.buckets[0] == LatencyBucket(0.0, 2.0, 0)
    assert latency.buckets[-1] == LatencyBucket(15_000.0, None, 0)


async def test_summary_statistics_of_a_latency_distribution(analytics_store: Store) -> None:
    selection = SpanSelection("api", operation="POST /orders")
    latency = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, 5)
    durations = [10.0 * (i + 1) for i in range(10)]
    assert (latency.min_ms, latency.max_ms, latency.mean_ms) == (10.0, 100.0, 55.0)
    assert latency.percentiles_ms == pytest.approx(
        {"p50": 55.0, "p75": 77.5, "p90": 91.0, "p95": 95.5, "p99": 99.1}, rel=1e-12
    )
    assert latency.percentiles_ms["p75"] == pytest.approx(interpolated(durations, 0.75), rel=1e-12)


async def test_log_buckets_span_the_shortest_to_the_longest_duration(analytics_store: Store) -> None:
    selection = SpanSelection("api", operation="POST /orders")
    two = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, 2)
    assert two.scale == "log"
    # Bounds 10, sqrt(10) * 10 = 31.62..., 100 ms: 10, 20, 30 below; 40..100 above (100 closes the last).
    assert [(b.lower_ms, b.count) for b in two.buckets] == [
        (10.0, 3),
        (pytest.approx(31.6227766, rel=1e-9), 7),
    ]
    assert two.buckets[-1].upper_ms == 100.0
    one = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, 1)
    assert one.buckets == [LatencyBucket(10.0, 100.0, 10)]
    ten = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, 10)
    assert sum(b.count for b in ten.buckets) == 10
    bounds = log_bounds(10 * MS, 100 * MS, 10)
    expected = [sum(1 for d in range(10, 101, 10) if bounds[i] <= d * MS < bounds[i + 1]) for i in range(10)]
    expected[-1] += 1  # 100 ms closes the last bucket
    assert [b.count for b in ten.buckets] == expected


async def test_a_duration_exactly_on_a_log_bound_opens_that_bucket(analytics_store: Store) -> None:
    # The carts last 4, 8, 12, 16, 20 ms; with 4 buckets of ratio 5^(1/4) none sits on a bound, with
    # bounds 4 and 20 and one bucket between, both ends are in; `log_bounds` bounds are the ones used.
    selection = SpanSelection("frontend", operation="GET /cart")
    latency = await latency_distribution(analytics_store, selection, BASE, BASE + 3 * MINUTE, 4)
    bounds = [4 * 5 ** (i / 4) for i in range(5)]
    assert [b.lower_ms for b in latency.buckets] == pytest.approx(bounds[:4], rel=1e-12)
    assert [b.count for b in latency.buckets] == [
        sum(1 for d in (4, 8, 12, 16, 20) if bounds[i] <= d < bounds[i + 1] or (i == 3 and d == 20))
        for i in range(4)
    ]
    assert [b.count for b in latency.buckets] == [1, 1, 1, 2]


async def test_equal_durations_make_one_bucket(analytics_store: Store) -> None:
    selection = SpanSelection("frontend", operation="GET /checkout")
    latency = await latency_distribution(analytics_store, selection, BASE, BASE + MINUTE, 20)
    assert latency.buckets == [LatencyBucket(200.0, 200.0, 10)]


async def test_no_spans_no_distribution(analytics_store: Store) -> None:
    latency = await latency_distribution(analytics_store, SpanSelection("nobody"), BASE, BASE + MINUTE, 20)
    assert (latency.count, latency.min_ms, latency.buckets) == (0, None, [])
    assert latency.percentiles_ms == {"p50": None, "p75": None, "p90": None, "p95": None, "p99": None}


async def test_log_bounds_run_from_low_to_high() -> None:
    assert log_bounds(10, 1000, 2) == [10.0, pytest.approx(100.0, rel=1e-12), 1000.0]
    assert log_bounds(0, 100, 2) == [0.0, 10.0, 100.0]  # a zero low is taken as 1 ns for the ratio
