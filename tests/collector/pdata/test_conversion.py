"""OTLP <-> Arrow conversion is lossless up to semantic equivalence, in both directions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.pdata import AnyValueType, MalformedData, MetricType, NumberValueType
from collector.pdata.arrow_schema import logs_schema, metrics_schema, traces_schema
from collector.pdata.arrow_to_otlp import logs_to_otlp, metrics_to_otlp, traces_to_otlp
from collector.pdata.otlp_to_arrow import logs_to_arrow, metrics_to_arrow, traces_to_arrow
from tests.collector.pdata import fixtures
from tests.collector.pdata.normalize import normalize, normalize_table, rows

CASES: list[tuple[str, Callable[[], Any], Callable[[Any], pa.Table], Callable[[pa.Table], Any]]] = [
    ("traces", fixtures.traces_request, traces_to_arrow, traces_to_otlp),
    ("logs", fixtures.logs_request, logs_to_arrow, logs_to_otlp),
    ("metrics", fixtures.metrics_request, metrics_to_arrow, metrics_to_otlp),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("name", "build", "to_arrow", "to_otlp"), CASES, ids=IDS)
def test_otlp_to_arrow_to_otlp_is_lossless(
    name: str,
    build: Callable[[], Any],
    to_arrow: Callable[[Any], pa.Table],
    to_otlp: Callable[[pa.Table], Any],
) -> None:
    request = build()
    assert normalize(to_otlp(to_arrow(request))) == normalize(request)


@pytest.mark.parametrize(("name", "build", "to_arrow", "to_otlp"), CASES, ids=IDS)
def test_arrow_to_otlp_to_arrow_is_lossless(
    name: str,
    build: Callable[[], Any],
    to_arrow: Callable[[Any], pa.Table],
    to_otlp: Callable[[pa.Table], Any],
) -> None:
    table = to_arrow(build())
    again = to_arrow(to_otlp(table))
    assert again.schema == table.schema
    assert rows(again) == rows(table)


@pytest.mark.parametrize(("name", "build", "to_arrow", "to_otlp"), CASES, ids=IDS)
def test_tables_follow_the_declared_schema(
    name: str,
    build: Callable[[], Any],
    to_arrow: Callable[[Any], pa.Table],
    to_otlp: Callable[[pa.Table], Any],
) -> None:
    schema = {"traces": traces_schema, "logs": logs_schema, "metrics": metrics_schema}[name]()
    assert to_arrow(build()).schema == schema


@pytest.mark.parametrize(("name", "build", "to_arrow", "to_otlp"), CASES, ids=IDS)
def test_a_sliced_table_converts_only_its_rows(
    name: str,
    build: Callable[[], Any],
    to_arrow: Callable[[Any], pa.Table],
    to_otlp: Callable[[pa.Table], Any],
) -> None:
    table = to_arrow(build())
    part = table.slice(2, 5)
    assert rows(to_arrow(to_otlp(part))) == rows(part)


@pytest.mark.parametrize(("name", "build", "to_arrow", "to_otlp"), CASES, ids=IDS)
def test_tables_without_index_columns_group_by_equal_resource_and_scope(
    name: str,
    build: Callable[[], Any],
    to_arrow: Callable[[Any], pa.Table],
    to_otlp: Callable[[pa.Table], Any],
) -> None:
    request = build()
    table = to_arrow(request)
    indexes = [c for c in ("resource_index", "scope_index", "metric_index") if c in table.column_names]
    back = to_otlp(table.drop_columns(indexes))
    assert normalize(back) == normalize(request)


def test_empty_requests_give_empty_tables_and_back() -> None:
    for _, _, to_arrow, to_otlp in CASES:
        table = to_arrow(type(to_otlp(pa.table({})))())
        assert table.num_rows == 0
        assert normalize(to_otlp(table)) == []


def test_every_any_value_kind_is_typed_and_nested_values_are_serialized_any_values() -> None:
    table = traces_to_arrow(fixtures.traces_request())
    attributes = {a["key"]: a for a in table.column("attributes")[0].as_py()}
    assert attributes["str"]["type"] == AnyValueType.STRING and attributes["str"]["str"] == "text"
    assert attributes["empty_str"]["type"] == AnyValueType.STRING and attributes["empty_str"]["str"] == ""
    assert attributes["false"]["type"] == AnyValueType.BOOL and attributes["false"]["bool"] is False
    assert attributes["int"]["int"] == -(2**63)
    assert attributes["double"]["double"] == 3.5
    assert attributes["bytes"]["bytes"] == b"\x00\xff"
    assert attributes["empty_value"]["type"] == attributes["unset_value"]["type"] == AnyValueType.EMPTY
    nested = attributes["nested"]
    assert nested["type"] == AnyValueType.ARRAY and nested["str"] is None
    assert AnyValue.FromString(nested["bytes"]) == fixtures.nested_value()
    assert attributes["kvlist"]["type"] == AnyValueType.KVLIST


def test_span_columns_hold_ids_times_status_events_and_links() -> None:
    table = traces_to_arrow(fixtures.traces_request())
    first, link_span, last = (
        table.slice(0, 1).to_pylist()[0],
        table.slice(2, 1).to_pylist()[0],
        table.to_pylist()[-1],
    )
    assert first["trace_id"] == fixtures.TRACE_ID and first["parent_span_id"] == b""
    assert (
        first["resource_schema_url"] == "https://schema/r1"
        and first["scope_schema_url"] == "https://schema/s1"
    )
    assert first["resource_dropped_attributes_count"] == 2 and first["scope_dropped_attributes_count"] == 1
    assert [e["name"] for e in first["events"]] == ["exception", "bare"]
    assert link_span["links"][0]["flags"] == 0x301 and link_span["status_code"] == 2
    assert link_span["status_message"] == "boom" and link_span["dropped_links_count"] == 6
    assert table.column("end_time_unix_nano")[5].as_py() == 2**64 - 1
    assert table.column("kind").to_pylist()[:6] == [0, 1, 2, 3, 4, 5]
    assert last["trace_id"] is None and last["span_id"] is None  # empty ids are null, and back to b""
    back = traces_to_otlp(table).resource_spans[-1].scope_spans[-1].spans[-1]
    assert back.trace_id == b"" and back.span_id == b"" and back.name == "no ids"


def test_a_wrong_width_span_id_is_malformed() -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"short", span_id=fixtures.SPAN_ID)
    with pytest.raises(MalformedData, match="trace_id"):
        traces_to_arrow(request)


def test_log_body_keeps_the_difference_between_unset_and_empty() -> None:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(severity_text="no body")
    records.add(body=AnyValue())
    table = logs_to_arrow(request)
    assert table.column("body").to_pylist()[0] is None
    assert table.column("body").to_pylist()[1]["type"] == AnyValueType.EMPTY
    back = logs_to_otlp(table).resource_logs[0].scope_logs[0].log_records
    assert not back[0].HasField("body") and back[1].HasField("body")


def _metric_rows(name: str) -> list[dict[str, Any]]:
    table = metrics_to_arrow(fixtures.metrics_request())
    return [r for r in table.to_pylist() if r["metric_name"] == name]


def test_metrics_without_points_become_one_row_without_point() -> None:
    for name, metric_type in (("gauge.empty", MetricType.GAUGE), ("no.data", MetricType.NONE)):
        (row,) = _metric_rows(name)
        assert row["has_point"] is False and row["metric_type"] == metric_type
        assert row["attributes"] is None and row["time_unix_nano"] is None
    (row,) = _metric_rows("sum.empty")
    assert row["aggregation_temporality"] == 1 and row["is_monotonic"] is True


def test_histogram_optional_fields_keep_their_presence() -> None:
    full, bare, partial = _metric_rows("histogram")
    assert (full["sum"], full["min"], full["max"]) == (12.5, 0.5, 9.0)
    assert (bare["sum"], bare["min"], bare["max"]) == (None, None, None)
    assert (partial["sum"], partial["min"], partial["max"]) == (0.0, 0.0, None)
    assert full["bucket_counts"] == [1, 2, 3] and full["explicit_bounds"] == [1.0, 5.0]
    back = metrics_to_otlp(metrics_to_arrow(fixtures.metrics_request()))
    points = back.resource_metrics[0].scope_metrics[0].metrics[3].histogram.data_points
    assert [p.HasField("sum") for p in points] == [True, False, True]
    assert [p.HasField("max") for p in points] == [True, False, False]


def test_number_points_and_exemplars_say_which_value_they_carry() -> None:
    double, integer, unset = _metric_rows("gauge.mixed")
    assert (double["value_type"], double["value_double"], double["value_int"]) == (
        NumberValueType.DOUBLE,
        1.5,
        None,
    )
    assert (integer["value_type"], integer["value_int"], integer["flags"]) == (NumberValueType.INT, -7, 1)
    assert unset["value_type"] == NumberValueType.NONE
    assert double["metric_metadata"][0]["key"] == "meta" and double["aggregation_temporality"] is None
    exemplars = double["exemplars"]
    assert [e["value_type"] for e in exemplars] == [
        NumberValueType.DOUBLE,
        NumberValueType.INT,
        NumberValueType.NONE,
    ]
    assert exemplars[0]["trace_id"] == fixtures.TRACE_ID and exemplars[1]["value_int"] == -4


def test_exponential_histogram_and_summary_columns() -> None:
    exp, _ = _metric_rows("exponential")
    assert (exp["scale"], exp["zero_count"], exp["zero_threshold"]) == (-2, 2, 1e-9)
    assert (exp["positive_offset"], exp["positive_bucket_counts"]) == (-3, [1, 2])
    assert (exp["negative_offset"], exp["negative_bucket_counts"]) == (4, [3, 0, 1])
    summary, _ = _metric_rows("summary")
    assert summary["quantile_values"] == [{"quantile": 0.0, "value": 1.0}, {"quantile": 0.99, "value": 4.0}]
    assert (summary["count"], summary["sum"], summary["exemplars"]) == (4, 10.0, None)


def test_a_user_built_table_with_only_some_columns_converts() -> None:
    table = pa.table(
        {
            "resource_attributes": pa.array(
                [[{"key": "service.name", "type": 1, "str": "a"}]] * 2
                + [[{"key": "service.name", "type": 1, "str": "b"}]]
            ),
            "name": ["one", "two", "three"],
            "trace_id": [fixtures.TRACE_ID] * 3,
            "kind": pa.array([1, 2, 3], pa.int64()),
        }
    )
    request = traces_to_otlp(table)
    assert [len(rs.scope_spans[0].spans) for rs in request.resource_spans] == [2, 1]
    assert request.resource_spans[1].resource.attributes[0].value.string_value == "b"
    assert [s.kind for s in request.resource_spans[0].scope_spans[0].spans] == [1, 2]


def test_a_column_of_the_wrong_type_is_malformed() -> None:
    with pytest.raises(MalformedData, match="trace_id"):
        traces_to_otlp(pa.table({"trace_id": [b"short"]}))


def test_index_columns_only_number_groups() -> None:
    table = traces_to_arrow(fixtures.traces_request())
    shifted = table.set_column(0, "resource_index", pc.add(table.column("resource_index"), 100))
    assert normalize_table(shifted).equals(normalize_table(table))
