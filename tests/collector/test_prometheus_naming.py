"""OTel <-> Prometheus naming: each rule of the collector's translator, as a table of cases."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from collector.prometheus_naming import (
    CumulativeAccumulator,
    MetricKind,
    NamingError,
    attribute_string,
    build_metric_name,
    build_unit,
    family_of,
    format_float,
    job_and_instance,
    metric_kind,
    normalize_label,
    service_attributes,
    target_info_attributes,
    trim_suffixes,
)

G, C, U = MetricKind.GAUGE, MetricKind.MONOTONIC_COUNTER, MetricKind.NON_MONOTONIC_COUNTER
H, E, S = MetricKind.HISTOGRAM, MetricKind.EXPONENTIAL_HISTOGRAM, MetricKind.SUMMARY


@pytest.mark.parametrize(
    ("name", "unit", "kind", "namespace", "expected"),
    [
        # unit suffixes
        ("response_time", "ms", G, "", "response_time_milliseconds"),
        ("memory.usage", "By", G, "", "memory_usage_bytes"),
        ("http.server.duration", "s", H, "", "http_server_duration_seconds"),
        ("request_size", "By", E, "", "request_size_bytes"),
        ("response_time", "ms", S, "", "response_time_milliseconds"),
        ("uptime", "d", G, "", "uptime_days"),
        ("temperature", "Cel", G, "", "temperature_celsius"),
        ("usage", "%", G, "", "usage_percent"),
        ("custom_metric", "custom_unit", G, "", "custom_metric_custom_unit"),
        (
            "metric__with__underscores",
            "unit__with__underscores",
            G,
            "",
            "metric_with_underscores_unit_with_underscores",
        ),
        ("custom_metric", "unit@with#special/chars", G, "", "custom_metric_unit_with_special_per_chars"),
        # `/` -> `per`
        ("throughput", "By/s", G, "", "throughput_bytes_per_second"),
        ("requests", "1/s", G, "", "requests_per_second"),
        ("rate", "{packets}/min", G, "", "rate_per_min"),
        # `{...}` annotations dropped
        ("custom_metric", "{custom}", G, "", "custom_metric"),
        ("custom_metric", "By/{custom}", G, "", "custom_metric_bytes"),
        ("http.server.active_requests", "{request}", U, "", "http_server_active_requests"),
        # a unit already named is not repeated
        ("response_time_seconds", "s", G, "", "response_time_seconds"),
        ("cpu_seconds_total", "s", C, "", "cpu_seconds_total"),
        # `_total` for monotonic sums only (and moved to the end)
        ("requests", "", C, "", "requests_total"),
        ("requests_total", "", C, "", "requests_total"),
        ("total_requests", "", C, "", "requests_total"),
        ("items", "1", C, "", "items_total"),
        ("active_connections", "", U, "", "active_connections"),
        ("process.cpu.time", "s", C, "", "process_cpu_time_seconds_total"),
        # `_ratio` for gauges of unit 1
        ("cpu_usage", "1", G, "", "cpu_usage_ratio"),
        ("cpu_usage_ratio", "1", G, "", "cpu_usage_ratio"),
        ("ratio_of_cpu", "1", G, "", "of_cpu_ratio"),
        ("utilization", "1", U, "", "utilization"),
        # namespace, then the digit rule
        ("requests", "1/s", C, "app", "app_requests_per_second_total"),
        ("123_requests", "", C, "app", "app_123_requests_total"),
        ("123metric", "", G, "", "_123metric"),
        # invalid characters split the name, `:` is kept
        ("metric@@##$$name", "", G, "", "metric_name"),
        ("ns:sub.metric", "", G, "", "ns:sub_metric"),
        ("métric", "", G, "", "m_tric"),
        ("unknown_metric", "", MetricKind.UNKNOWN, "", "unknown_metric"),
    ],
)
def test_metric_names_follow_the_translator_with_suffixes(
    name: str, unit: str, kind: MetricKind, namespace: str, expected: str
) -> None:
    assert build_metric_name(name, unit, kind, namespace) == expected


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [
        ("simple_metric", "", "simple_metric"),
        ("metric@with#special$chars", "", "metric_with_special_chars"),
        ("metric__keeps__underscores", "", "metric__keeps__underscores"),
        ("123metric", "", "_123metric"),
        ("simple_metric", "test_namespace", "test_namespace_simple_metric"),
        ("metric", "test@namespace!!??", "test_namespace_metric"),
        ("requests", "", "requests"),  # no `_total` without suffixes
    ],
)
def test_metric_names_without_suffixes_only_replace_invalid_characters(
    name: str, namespace: str, expected: str
) -> None:
    assert build_metric_name(name, "s", C, namespace, add_suffixes=False) == expected


@pytest.mark.parametrize("name", ["", "@#$%"])
@pytest.mark.parametrize("add_suffixes", [True, False])
def test_a_name_with_nothing_valid_is_an_error(name: str, add_suffixes: bool) -> None:
    with pytest.raises(NamingError):
        build_metric_name(name, "", G, add_suffixes=add_suffixes)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("s", "seconds"),
        ("ms", "milliseconds"),
        ("By", "bytes"),
        ("KiBy", "kibibytes"),
        ("By/s", "bytes_per_second"),
        ("1/s", "per_second"),
        ("1", ""),
        ("{request}", ""),
        ("m/s", "meters_per_second"),
        ("unknown", "unknown"),
    ],
)
def test_units_translate_as_the_unit_namer(unit: str, expected: str) -> None:
    assert build_unit(unit) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.method", "http_method"),
        ("http-method", "http_method"),
        ("label with spaces", "label_with_spaces"),
        ("ünïcode", "key_n_code"),  # `_n_code` starts with one `_`
        ("0digit", "key_0digit"),
        ("_private", "key_private"),
        ("__reserved__", "__reserved__"),
        ("valid_name", "valid_name"),
        ("a.b..c", "a_b__c"),  # each invalid character becomes one `_`
    ],
)
def test_label_names_are_sanitized_as_the_label_namer(key: str, expected: str) -> None:
    assert normalize_label(key) == expected


@pytest.mark.parametrize("key", ["", "...", "_."])
def test_a_label_with_nothing_valid_is_an_error(key: str) -> None:
    with pytest.raises(NamingError):
        normalize_label(key)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.005, "0.005"),
        (1.0, "1"),
        (2.5, "2.5"),
        (1e-05, "0.00001"),
        (1e21, "1000000000000000000000"),
        (-3.0, "-3"),
        (0.0, "0"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_le_and_quantile_values_are_formatted_as_go_formats_them(value: float, expected: str) -> None:
    assert format_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="GET"), "GET"),
        (AnyValue(int_value=-42), "-42"),
        (AnyValue(double_value=1.5), "1.5"),
        (AnyValue(double_value=2.0), "2"),
        (AnyValue(double_value=1e-7), "1e-7"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(bytes_value=b"\x01\x02"), "AQI="),
        (
            AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")])),
            '[1,"a"]',
        ),
        (
            AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=False))])),
            '{"k":false}',
        ),
        (AnyValue(), ""),
    ],
)
def test_attribute_values_become_label_values_as_pdata_writes_them(value: AnyValue, expected: str) -> None:
    assert attribute_string(value) == expected


@pytest.mark.parametrize(
    ("resource", "job", "instance"),
    [
        (
            {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1"},
            "shop/api",
            "i-1",
        ),
        ({"service.name": "api"}, "api", None),
        ({"service.namespace": "shop", "service.instance.id": "i-1"}, None, "i-1"),
        ({"host.name": "h"}, None, None),
    ],
)
def test_job_and_instance_come_from_the_service_attributes(
    resource: dict[str, str], job: str | None, instance: str | None
) -> None:
    assert job_and_instance(resource) == (job, instance)


def test_target_info_carries_every_non_identifying_resource_attribute() -> None:
    resource = {"service.name": "api", "service.instance.id": "i-1", "host.name": "h", "os.type": "linux"}
    assert target_info_attributes(resource) == {"host.name": "h", "os.type": "linux"}
    assert target_info_attributes({"service.name": "api", "service.namespace": "shop"}) is None


@pytest.mark.parametrize(
    ("job", "instance", "expected"),
    [
        (
            "shop/api",
            "i-1",
            {"service.namespace": "shop", "service.name": "api", "service.instance.id": "i-1"},
        ),
        ("api", "", {"service.name": "api"}),
        ("a/b/c", "h:9100", {"service.name": "a/b/c", "service.instance.id": "h:9100"}),
        ("", "", {}),
    ],
)
def test_job_and_instance_map_back_to_service_attributes(
    job: str, instance: str, expected: dict[str, str]
) -> None:
    assert service_attributes(job, instance) == expected


def test_job_and_instance_round_trip() -> None:
    resource = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1"}
    job, instance = job_and_instance(resource)
    assert job is not None and instance is not None
    assert service_attributes(job, instance) == resource


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ("up", [("up", "")]),
        (
            "http_duration_seconds_bucket",
            [("http_duration_seconds_bucket", ""), ("http_duration_seconds", "_bucket")],
        ),
        ("rpc_count", [("rpc_count", ""), ("rpc", "_count")]),
        ("requests_total", [("requests_total", ""), ("requests", "_total")]),
        ("_sum", [("_sum", "")]),
    ],
)
def test_a_series_name_lists_the_families_it_may_belong_to(
    series: str, expected: list[tuple[str, str]]
) -> None:
    assert family_of(series) == expected


@pytest.mark.parametrize(
    ("name", "kind", "unit", "expected"),
    [
        ("requests_total", C, "", "requests"),
        ("cpu_seconds_total", C, "seconds", "cpu"),
        ("memory_usage_bytes", G, "bytes", "memory_usage"),
        ("throughput_bytes_per_second", G, "bytes_per_second", "throughput"),
        ("requests_total", G, "", "requests_total"),  # only sums lose `_total`
        ("seconds", G, "seconds", "seconds"),  # never trimmed to nothing
        ("up", G, "", "up"),
    ],
)
def test_trim_suffixes_is_the_translators_reverse(
    name: str, kind: MetricKind, unit: str, expected: str
) -> None:
    assert trim_suffixes(name, kind, unit) == expected


@pytest.mark.parametrize(
    ("field", "kind"),
    [("gauge", G), ("histogram", H), ("exponential_histogram", E), ("summary", S)],
)
def test_metric_kind_of_an_otlp_metric(field: str, kind: MetricKind) -> None:
    metric = Metric(name="m")
    getattr(metric, field).SetInParent()
    assert metric_kind(metric) is kind


def test_sums_are_counters_only_when_monotonic() -> None:
    counter, updown = Metric(name="c"), Metric(name="u")
    counter.sum.is_monotonic = True
    updown.sum.SetInParent()
    assert (metric_kind(counter), metric_kind(updown), metric_kind(Metric())) == (C, U, MetricKind.UNKNOWN)


def test_delta_sums_accumulate_per_series_from_the_first_start() -> None:
    acc = CumulativeAccumulator()
    a, b = ("a",), ("b",)
    assert acc.add_sum(a, 100, 200, 5.0) == (100, 5.0)
    assert acc.add_sum(b, 150, 200, 1.0) == (150, 1.0)
    assert acc.add_sum(a, 200, 300, 2.5) == (100, 7.5)
    assert acc.add_sum(a, 300, 400, 0.5) == (100, 8.0)
    assert acc.add_sum(b, 200, 300, 1.0) == (150, 2.0)


def test_a_delta_not_newer_than_the_last_is_ignored() -> None:
    acc = CumulativeAccumulator()
    assert acc.add_sum("s", 0, 200, 1.0) == (200, 1.0)
    assert acc.add_sum("s", 100, 200, 9.0) is None
    assert acc.add_sum("s", 50, 150, 9.0) is None
    assert acc.add_sum("s", 200, 300, 1.0) == (200, 2.0)


def test_the_accumulator_forgets_the_least_recently_used_series() -> None:
    acc = CumulativeAccumulator(max_series=2)
    acc.add_sum("a", 0, 1, 1.0)
    acc.add_sum("b", 0, 1, 1.0)
    acc.add_sum("a", 1, 2, 1.0)
    acc.add_sum("c", 0, 1, 1.0)
    assert len(acc) == 2
    assert acc.add_sum("b", 1, 2, 1.0) == (1, 1.0)  # starts over
    assert acc.add_sum("a", 2, 3, 1.0) is not None


def test_delta_histograms_accumulate_and_restart_when_bounds_change() -> None:
    acc = CumulativeAccumulator()
    first = acc.add_histogram("h", 10, 20, 3, 1.5, [1.0, 2.0], [1, 1, 1])
    assert first is not None and (first.count, first.sum, first.counts, first.start) == (
        3,
        1.5,
        [1, 1, 1],
        10,
    )
    second = acc.add_histogram("h", 20, 30, 2, None, [1.0, 2.0], [0, 2, 0])
    assert second is not None and (second.count, second.sum, second.counts) == (5, 1.5, [1, 3, 1])
    assert acc.add_histogram("h", 20, 30, 1, 1.0, [1.0, 2.0], [1, 0, 0]) is None
    changed = acc.add_histogram("h", 30, 40, 1, 2.0, [5.0], [1, 0])
    assert changed is not None and (changed.count, changed.counts, changed.start) == (1, [1, 0], 30)
