"""The critical path of hand-built traces, including Jaeger UI's own test shapes (TracePage/CriticalPath)."""

from __future__ import annotations

import itertools
import random

from backend.traces.critical_path import FOLLOWS_FROM_KEY, critical_path, is_blocking, self_times
from backend.traces.model import Span, SpanLink

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(
    span_id: str,
    parent: str,
    start: int,
    end: int,
    kind: str = "Internal",
    links: list[SpanLink] | None = None,
) -> Span:
    """A span of TRACE named `op-<id>` in service `svc-<id>`, from `start` to `end` (ns)."""
    return Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=f"op-{span_id}",
        service=f"svc-{span_id}",
        kind=kind,
        start_ns=start,
        duration_ns=end - start,
        status_code="Unset",
        links=links or [],
    )


def path(spans: list[Span]) -> list[tuple[str, int, int]]:
    """The critical path as (span id, start, end) in time order."""
    return [(s.span.span_id, s.start_ns, s.end_ns) for s in critical_path(spans)]


# --- Jaeger UI's test cases (testCases/test1..test9), times as there (start, start + duration) ------


def test_jaeger_test1_two_sequential_children_alternate_with_the_parent() -> None:
    spans = [span("E", "C", 50, 60), span("C", "", 1, 101), span("D", "C", 20, 40)]
    assert path(spans) == [("C", 1, 20), ("D", 20, 40), ("C", 40, 50), ("E", 50, 60), ("C", 60, 101)]


def test_jaeger_test2_of_two_overlapping_children_the_last_finishing_one_is_on_the_path() -> None:
    spans = [span("X", "", 1, 101), span("A", "X", 10, 50), span("C", "X", 20, 60)]
    assert path(spans) == [("X", 1, 20), ("C", 20, 60), ("X", 60, 101)]


def test_jaeger_test3_a_child_starting_after_its_parent_ended_is_dropped() -> None:
    spans = [span("A", "", 100, 140), span("B", "A", 150, 200)]
    assert path(spans) == [("A", 100, 140)]


def test_jaeger_test4_a_dropped_child_takes_its_subtree_with_it() -> None:
    spans = [span("A", "", 1, 31), span("B", "A", 40, 80), span("C", "B", 50, 60)]
    assert path(spans) == [("A", 1, 31)]


def test_jaeger_test5_a_follows_from_child_and_its_subtree_are_not_on_the_path() -> None:
    follows = SpanLink(TRACE, "A", attributes={FOLLOWS_FROM_KEY: "follows_from"})
    spans = [span("A", "", 1, 31), span("B", "A", 10, 20, links=[follows]), span("C", "B", 12, 14)]
    assert path(spans) == [("A", 1, 31)]


def test_jaeger_test6_a_grandchild_starting_before_its_trimmed_parent_is_trimmed_to_it() -> None:
    # B outlives A (trimmed to 15..30); C starts before B (trimmed to 15..25).
    spans = [span("A", "", 1, 30), span("B", "A", 15, 35), span("C", "B", 10, 25)]
    assert path(spans) == [("A", 1, 15), ("C", 15, 25), ("B", 25, 30)]


def test_jaeger_test7_a_chain_of_outliving_children_is_cut_at_the_root_end() -> None:
    spans = [span("A", "", 1, 30), span("B", "A", 15, 35), span("C", "B", 20, 40)]
    assert path(spans) == [("A", 1, 15), ("B", 15, 20), ("C", 20, 30)]


def test_jaeger_test8_a_child_covering_its_whole_parent_is_the_whole_path() -> None:
    spans = [span("A", "", 10, 30), span("B", "A", 5, 35)]
    assert path(spans) == [("B", 10, 30)]


def test_jaeger_test9_a_child_ending_before_its_parent_started_is_dropped() -> None:
    spans = [span("A", "", 10, 30), span("B", "A", 1, 5)]
    assert path(spans) == [("A", 10, 30)]


# --- further shapes -----------------------------------------------------------------------------------


def test_a_single_span_trace_is_its_own_path() -> None:
    assert path([span("R", "", 100, 250)]) == [("R", 100, 250)]
    assert self_times(critical_path([span("R", "", 100, 250)])) == {"R": 150}


def test_no_spans_no_path() -> None:
    assert critical_path([]) == []


def test_back_to_back_sequential_children_as_jaeger_ui() -> None:
    # A child must end strictly before the next one on the path starts: B ends as C starts, so
    # B's 10..20 goes to P, and A (ending before 20) is on the path again.
    spans = [span("P", "", 0, 35), span("A", "P", 0, 10), span("B", "P", 10, 20), span("C", "P", 20, 30)]
    assert path(spans) == [("A", 0, 10), ("P", 10, 20), ("C", 20, 30), ("P", 30, 35)]


def test_of_parallel_overlapping_children_only_the_blocking_chain_is_on_the_path() -> None:
    # A and B run in parallel (B ends last); C overlaps B's start, so from B's start the path goes to
    # the child that ended before it: D.
    spans = [
        span("P", "", 0, 100),
        span("D", "P", 5, 15),
        span("A", "P", 20, 60),
        span("C", "P", 25, 45),
        span("B", "P", 30, 90),
    ]
    assert path(spans) == [("P", 0, 5), ("D", 5, 15), ("P", 15, 30), ("B", 30, 90), ("P", 90, 100)]
    assert self_times(critical_path(spans)) == {"P": 5 + 15 + 10, "D": 10, "B": 60}


def test_a_child_outliving_its_parent_is_trimmed_to_the_parent_end() -> None:
    spans = [span("P", "", 0, 50), span("A", "P", 10, 80), span("G", "A", 60, 70)]
    # A is cut at 50; G starts after the cut A ends, so it is dropped.
    assert path(spans) == [("P", 0, 10), ("A", 10, 50)]


def test_a_consumer_of_a_producer_is_async_and_not_on_the_path() -> None:
    spans = [
        span("R", "", 0, 100),
        span("PUB", "R", 10, 20, kind="Producer"),
        span("SUB", "PUB", 15, 19, kind="Consumer"),
        span("W", "SUB", 16, 18),
    ]
    assert path(spans) == [("R", 0, 10), ("PUB", 10, 20), ("R", 20, 100)]
    assert not is_blocking(spans[2], spans[1])
    assert is_blocking(spans[1], spans[0])


def test_a_consumer_under_a_client_span_still_blocks() -> None:
    spans = [span("R", "", 0, 100), span("SUB", "R", 10, 40, kind="Consumer")]
    assert path(spans) == [("R", 0, 10), ("SUB", 10, 40), ("R", 40, 100)]


def test_a_child_of_link_or_a_link_to_another_span_keeps_the_child_blocking() -> None:
    child_of = SpanLink(TRACE, "R", attributes={FOLLOWS_FROM_KEY: "child_of"})
    other = SpanLink(TRACE, "X", attributes={FOLLOWS_FROM_KEY: "follows_from"})
    spans = [span("R", "", 0, 100), span("A", "R", 10, 40, links=[child_of, other])]
    assert path(spans) == [("R", 0, 10), ("A", 10, 40), ("R", 40, 100)]


def test_orphans_are_roots_of_their_own_paths() -> None:
    # O's parent is not in the trace (not yet arrived): it is a root, as Jaeger UI shows it.
    spans = [
        span("R", "", 0, 50),
        span("A", "R", 10, 20),
        span("O", "missing", 30, 70),
        span("K", "O", 40, 60),
    ]
    assert path(spans) == [
        ("R", 0, 10),
        ("A", 10, 20),
        ("R", 20, 50),
        ("O", 30, 40),
        ("K", 40, 60),
        ("O", 60, 70),
    ]


def test_children_ending_together_yield_to_the_first_started() -> None:
    spans = [span("P", "", 0, 100), span("A", "P", 10, 80), span("B", "P", 20, 80)]
    assert path(spans) == [("P", 0, 10), ("A", 10, 80), ("P", 80, 100)]


def test_zero_duration_children_do_not_stall_the_walk() -> None:
    spans = [span("P", "", 0, 30), span("Z", "P", 20, 20), span("Y", "P", 20, 20), span("C", "P", 20, 30)]
    assert path(spans) == [("P", 0, 20), ("C", 20, 30)]


def test_a_deep_chain_is_walked_without_recursion() -> None:
    depth = 5000
    spans = [span(f"{i:05d}", f"{i - 1:05d}" if i else "", i, 2 * depth - i) for i in range(depth)]
    sections = critical_path(spans)
    assert sum(s.duration_ns for s in sections) == 2 * depth
    assert len(sections) == 2 * depth - 1  # down the left edges, the innermost whole, up the right


def _random_trace(rng: random.Random, size: int) -> list[Span]:
    spans = [span("0", "", 0, 1000)]
    for i in range(1, size):
        start = rng.randrange(-50, 1000)
        spans.append(span(str(i), str(rng.randrange(i)), start, start + rng.randrange(0, 400)))
    return spans


def test_sections_of_random_traces_tile_the_root_in_time_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        spans = _random_trace(rng, rng.randrange(1, 60))
        sections = critical_path(spans)
        assert sections[0].start_ns == 0 and sections[-1].end_ns == 1000
        for before, after in itertools.pairwise(sections):
            assert before.end_ns == after.start_ns
        assert all(s.duration_ns > 0 for s in sections)
        assert sum(self_times(sections).values()) == 1000
