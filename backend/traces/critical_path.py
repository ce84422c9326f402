"""The critical path of a trace as Jaeger UI computes it (TracePage/CriticalPath), over one trace's spans.

From each root span (no parent, or a parent not in the trace) the path walks back in time from the
span's end: the span is on the path from the end of its last-finishing child to the current point,
then the path descends into that child; when a span has no child left that finished before the
current point, the span is on the path back to its own start and the walk returns to its parent
at that start, which picks the child that finished last before it, and so on. Overlapping
children are skipped this way: only one of them is on the path at any moment.

As in Jaeger UI, a child counts only if it finished strictly before the current point: of two
back-to-back sequential children (one ends exactly when the next starts), the earlier one's time
goes to the parent. Each child is visited at most once.

Before walking, as Jaeger UI does: non-blocking children and their subtrees are left out — a
CONSUMER child of a PRODUCER span (Jaeger UI's rule for OTLP), and a child whose link to its
parent says `opentracing.ref_type = follows_from` (how the OpenTracing shim records FOLLOWS_FROM,
which older Jaeger UI left out); children are trimmed to their (trimmed) parent's time, and a
child entirely outside it is dropped with its subtree. So each root's sections are contiguous and
sum to its duration. Each step is a binary search over a span's children sorted by end:
O(n log n) for n spans.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from backend.traces.model import Span

FOLLOWS_FROM_KEY = "opentracing.ref_type"
"""The link attribute the OpenTracing shim sets; `follows_from` marks a non-blocking parent."""


@dataclass(frozen=True)
class PathSection:
    """Span `span` lies on the critical path from `start_ns` to `end_ns` (Unix nanoseconds)."""

    span: Span
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        """The section's length in nanoseconds."""
        return self.end_ns - self.start_ns


@dataclass
class _Node:
    """A span as the walk sees it: trimmed times and its blocking children sorted by end."""

    span: Span
    parent: _Node | None
    start_ns: int
    end_ns: int
    children: list[_Node]
    ends: list[int]
    index: int = 0
    """The position in the parent's `children`."""


def is_blocking(child: Span, parent: Span) -> bool:
    """Whether `parent`'s end waits for `child`: not a producer → consumer hop, not a FOLLOWS_FROM link."""
    if parent.kind == "Producer" and child.kind == "Consumer":
        return False
    return not any(
        link.span_id == parent.span_id
        and link.trace_id == parent.trace_id
        and link.attributes.get(FOLLOWS_FROM_KEY) == "follows_from"
        for link in child.links
    )


def _roots_and_children(spans: Sequence[Span]) -> tuple[list[Span], dict[str, list[Span]]]:
    """Root spans and each span's children, both in start order (the first of duplicate ids wins)."""
    by_id: dict[str, Span] = {}
    for span in sorted(spans, key=attrgetter("start_ns", "span_id")):
        by_id.setdefault(span.span_id, span)
    roots: list[Span] = []
    children: dict[str, list[Span]] = {}
    for span in by_id.values():
        parent = span.parent_span_id
        if parent and parent != span.span_id and parent in by_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    return roots, children


def _sanitized_tree(root: Span, children: dict[str, list[Span]]) -> _Node:
    """The root's blocking subtree with every child trimmed to its parent (outside: dropped)."""
    top = _Node(root, None, root.start_ns, max(root.end_ns, root.start_ns), [], [])
    stack = [top]
    while stack:
        node = stack.pop()
        kept: list[tuple[int, int, _Node]] = []
        for position, child in enumerate(children.get(node.span.span_id, ())):
            if not is_blocking(child, node.span):
                continue
            start, end = child.start_ns, max(child.end_ns, child.start_ns)
            if start >= node.end_ns or (start < node.start_ns and end <= node.start_ns):
                continue  # entirely after, or entirely before, its parent
            trimmed = _Node(child, node, max(start, node.start_ns), min(end, node.end_ns), [], [])
            # Among children ending together the walk takes the first started (Jaeger UI's order).
            kept.append((trimmed.end_ns, -position, trimmed))
            stack.append(trimmed)
        kept.sort(key=lambda item: item[:2])
        node.children = [item[2] for item in kept]
        node.ends = [item[0] for item in kept]
        for index, child_node in enumerate(node.children):
            child_node.index = index
    return top


def _last_finishing_child(node: _Node, returning: _Node | None) -> _Node | None:
    """The child that finished last; when returning from child `returning`, the last before it started."""
    if returning is None:
        count = len(node.children)
    else:
        count = bisect.bisect_left(node.ends, returning.start_ns, 0, returning.index)
    return node.children[count - 1] if count else None


def _walk(root: _Node) -> list[PathSection]:
    """The root's sections, latest first (Jaeger UI's computeCriticalPath, as a loop)."""
    sections: list[PathSection] = []
    node: _Node = root
    returning: _Node | None = None
    while True:
        until = node.end_ns if returning is None else returning.start_ns
        child = _last_finishing_child(node, returning)
        start = node.start_ns if child is None else child.end_ns
        if start != until:
            sections.append(PathSection(node.span, start, until))
        if child is not None:
            node, returning = child, None
        elif node.parent is not None:
            node, returning = node.parent, node
        else:
            return sections


def critical_path(spans: Sequence[Span]) -> list[PathSection]:
    """The critical path of one trace's spans, ordered by time ([] for no spans)."""
    roots, children = _roots_and_children(spans)
    sections: list[PathSection] = []
    for root in roots:
        sections.extend(reversed(_walk(_sanitized_tree(root, children))))
    sections.sort(key=lambda s: (s.start_ns, s.end_ns))
    return sections


def self_times(sections: Iterable[PathSection]) -> dict[str, int]:
    """Each span's time on the path (nanoseconds), by span id."""
    totals: dict[str, int] = {}
    for section in sections:
        totals[section.span.span_id] = totals.get(section.span.span_id, 0) + section.duration_ns
    return totals


__all__ = ["FOLLOWS_FROM_KEY", "PathSection", "critical_path", "is_blocking", "self_times"]
