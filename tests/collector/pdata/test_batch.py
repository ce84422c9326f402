"""The Batch: lazily built, cached forms; counting; split and merge keep every item."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.pdata import Batch, MalformedData
from collector.signal import Signal
from tests.collector.pdata import fixtures
from tests.collector.pdata.normalize import canonical, normalize, rows

REQUESTS: list[tuple[Signal, Callable[[], Any], int]] = [
    (Signal.TRACES, fixtures.traces_request, fixtures.TRACES_SPANS),
    (Signal.LOGS, fixtures.logs_request, fixtures.LOGS_RECORDS),
    (Signal.METRICS, fixtures.metrics_request, fixtures.METRICS_POINTS),
]
IDS = [str(s) for s, _, _ in REQUESTS]
REPO = Path(__file__).resolve().parents[3]


def _items(batch: Batch) -> list[Any]:
    """Every item of a batch in order with its resource and scope, canonical; metric points are
    flattened (with their metric's name) so split metrics compare equal to whole ones."""
    resources_field, scopes_field, items_field = {
        Signal.TRACES: ("resource_spans", "scope_spans", "spans"),
        Signal.LOGS: ("resource_logs", "scope_logs", "log_records"),
        Signal.METRICS: ("resource_metrics", "scope_metrics", "metrics"),
    }[batch.signal]
    out: list[Any] = []
    for rg in getattr(batch.otlp(), resources_field):
        for sg in getattr(rg, scopes_field):
            context = (repr(canonical(rg.resource)), rg.schema_url, repr(canonical(sg.scope)), sg.schema_url)
            for item in getattr(sg, items_field):
                if batch.signal is not Signal.METRICS:
                    out.append((context, canonical(item)))
                    continue
                metric = canonical(item)
                data: dict[str, Any] = next((v for k, v in metric.items() if k in _DATA), {})
                points = data.pop("data_points", [])
                out.extend((context, metric, p) for p in points) if points else out.append((context, metric))
    return out


_DATA = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_from_otlp_infers_the_signal_and_counts_items(
    signal: Signal, build: Callable[[], Any], count: int
) -> None:
    batch = Batch.from_otlp(build())
    assert batch.signal is signal
    assert len(batch) == count
    assert not batch.has_arrow


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_an_otlp_pass_through_never_builds_arrow(
    signal: Signal, build: Callable[[], Any], count: int
) -> None:
    data = build().SerializeToString()
    batch = Batch.from_otlp_bytes(signal, data)
    assert len(batch) == count
    assert batch.otlp_bytes() is data or batch.otlp_bytes() == data
    assert batch.otlp() == build()
    assert [len(b) for b in batch.split(5)] and len(Batch.merge([batch, batch])) == 2 * count
    assert batch._arrow is None


def test_from_otlp_bytes_keeps_the_received_bytes() -> None:
    data = fixtures.traces_request().SerializeToString()
    batch = Batch.from_otlp_bytes(Signal.TRACES, data)
    batch.otlp()
    assert batch.otlp_bytes() == data


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_forms_are_built_once_and_cached(signal: Signal, build: Callable[[], Any], count: int) -> None:
    batch = Batch.from_otlp_bytes(signal, build().SerializeToString())
    assert batch.otlp() is batch.otlp()
    assert batch.arrow() is batch.arrow()
    from_arrow = Batch.from_arrow(signal, batch.arrow())
    assert from_arrow.otlp() is from_arrow.otlp()
    assert from_arrow.otlp_bytes() is from_arrow.otlp_bytes()


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_an_arrow_batch_counts_without_building_otlp(
    signal: Signal, build: Callable[[], Any], count: int
) -> None:
    batch = Batch.from_arrow(signal, Batch.from_otlp(build()).arrow())
    assert len(batch) == count
    assert not batch.has_otlp
    assert normalize(batch.otlp()) == normalize(build())


def test_garbage_bytes_raise_malformed_data_when_parsed() -> None:
    batch = Batch.from_otlp_bytes(Signal.TRACES, b"\xff\xff\xff\xff garbage")
    with pytest.raises(MalformedData, match="invalid OTLP traces request"):
        batch.otlp()
    with pytest.raises(ValueError):
        len(batch)


def test_from_otlp_rejects_other_messages() -> None:
    with pytest.raises(TypeError, match="not an OTLP export request"):
        Batch.from_otlp(fixtures.every_value()[0])


@pytest.mark.parametrize("max_items", [1, 2, 3, 5, 100])
@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_split_keeps_every_item_in_order_and_respects_the_limit(
    signal: Signal, build: Callable[[], Any], count: int, max_items: int
) -> None:
    batch = Batch.from_otlp(build())
    parts = batch.split(max_items)
    assert all(0 < len(p) <= max_items for p in parts) or count == 0
    assert sum(len(p) for p in parts) == count
    assert [item for p in parts for item in _items(p)] == _items(batch)
    if signal is not Signal.METRICS:  # a split metric stays two Metric messages after merging
        assert normalize(Batch.merge(parts).otlp()) == normalize(batch.otlp())


def test_split_keeps_resource_and_scope_of_each_item() -> None:
    parts = Batch.from_otlp(fixtures.traces_request()).split(4)
    second = parts[1].otlp()
    assert second.resource_spans[0].schema_url == "https://schema/r1"
    assert second.resource_spans[0].scope_spans[0].scope.name == "lib.a"
    assert [s.name for s in second.resource_spans[0].scope_spans[0].spans] == ["span-4", "span-5"]
    assert second.resource_spans[-1].resource.attributes[0].value.string_value == "worker"


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_split_of_an_arrow_batch_slices_rows(signal: Signal, build: Callable[[], Any], count: int) -> None:
    table = Batch.from_otlp(build()).arrow()
    parts = Batch.from_arrow(signal, table).split(4)
    assert all(not p.has_otlp and p.arrow().num_rows <= 4 for p in parts)
    assert sum(p.arrow().num_rows for p in parts) == table.num_rows


def test_a_batch_within_the_limit_is_not_split() -> None:
    batch = Batch.from_otlp(fixtures.logs_request())
    assert batch.split(1000) == [batch]


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_merge_concatenates_otlp_batches(signal: Signal, build: Callable[[], Any], count: int) -> None:
    merged = Batch.merge(
        [Batch.from_otlp(build()), Batch.from_otlp_bytes(signal, build().SerializeToString())]
    )
    assert len(merged) == 2 * count
    assert _items(merged) == _items(Batch.from_otlp(build())) * 2


@pytest.mark.parametrize(("signal", "build", "count"), REQUESTS, ids=IDS)
def test_merge_of_arrow_batches_stays_arrow_and_keeps_groups_apart(
    signal: Signal, build: Callable[[], Any], count: int
) -> None:
    table = Batch.from_otlp(build()).arrow()
    merged = Batch.merge([Batch.from_arrow(signal, table), Batch.from_arrow(signal, table)])
    assert not merged.has_otlp
    assert len(merged) == 2 * count
    assert rows(merged.arrow()) == rows(table) + [
        {**r, **{k: r[k] + _group_count(table, k) for k in _INDEXES if k in r}} for r in rows(table)
    ]
    assert _items(merged) == _items(Batch.from_otlp(build())) * 2


_INDEXES = ("resource_index", "scope_index", "metric_index")


def _group_count(table: Any, column: str) -> int:
    return len(set(table.column(column).to_pylist()))


def test_merge_rejects_mixed_signals_and_nothing() -> None:
    with pytest.raises(ValueError, match="different signals"):
        Batch.merge([Batch.from_otlp(fixtures.logs_request()), Batch.from_otlp(fixtures.traces_request())])
    with pytest.raises(ValueError, match="nothing to merge"):
        Batch.merge([])


def test_empty_requests_have_no_items() -> None:
    batch = Batch.from_otlp(ExportLogsServiceRequest())
    assert len(batch) == 0
    assert batch.split(10) == [batch]
    assert batch.arrow().num_rows == 0


def test_importing_pdata_and_passing_otlp_through_does_not_import_pyarrow_or_polars() -> None:
    script = textwrap.dedent(
        """
        import sys
        import collector.pdata
        from collector.pdata import Batch
        from collector.signal import Signal
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        for i in range(3):
            request.resource_spans.add().scope_spans.add().spans.add(name=str(i))
        batch = Batch.from_otlp(request)
        assert len(batch) == 3
        raw = Batch.from_otlp_bytes(Signal.TRACES, batch.otlp_bytes())
        assert len(raw) == 3
        assert [len(b) for b in raw.split(2)] == [2, 1]
        assert len(Batch.merge([batch, raw])) == 6
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "polars", "numpy"))
        print(",".join(leaked))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_serialized_batches_merge_by_concatenation_without_parsing() -> None:
    first, second = (Batch.from_otlp(fixtures.traces_request()), Batch.from_otlp(fixtures.traces_request()))
    a = Batch.from_otlp_bytes(Signal.TRACES, first.otlp_bytes())
    b = Batch.from_otlp_bytes(Signal.TRACES, second.otlp_bytes())
    merged = Batch.merge([a, b])
    assert merged._otlp is None  # nothing was parsed to merge
    assert merged.otlp_bytes() == first.otlp_bytes() + second.otlp_bytes()
    assert len(merged) == len(first) + len(second)
    assert list(merged.otlp().resource_spans) == [*first.otlp().resource_spans, *second.otlp().resource_spans]


def test_client_metadata_travels_with_splits_and_same_metadata_merges() -> None:
    meta = {"x-tenant": ("a",)}
    batch = Batch.from_otlp_bytes(
        Signal.TRACES, Batch.from_otlp(fixtures.traces_request()).otlp_bytes(), metadata=meta
    )
    parts = batch.split(1)
    assert len(parts) == len(batch) and all(p.metadata == meta for p in parts)
    assert Batch.merge(parts).metadata == meta
    other = Batch.from_otlp_bytes(Signal.TRACES, batch.otlp_bytes(), metadata={"x-tenant": ("b",)})
    assert Batch.merge([batch, other]).metadata == {}


def test_check_counts_received_bytes_and_keeps_only_them() -> None:
    data = Batch.from_otlp(fixtures.traces_request()).otlp_bytes()
    batch = Batch.from_otlp_bytes(Signal.TRACES, data)
    assert batch.check() == len(Batch.from_otlp(fixtures.traces_request()))
    assert batch._otlp is None and batch.otlp_bytes() == data
    with pytest.raises(MalformedData):
        Batch.from_otlp_bytes(Signal.TRACES, b"\xff\xff\xff").check()
