"""Scrapes to OTLP, as the collector's prometheusreceiver converts them: one converter, bodies in, points out."""

from __future__ import annotations

import math

from collector.prometheus_naming import unit_to_ucum
from receivers.prometheus.config import RelabelConfig
from receivers.prometheus.convert import SCOPE_NAME, ScrapeConverter, resource_attributes
from receivers.prometheus.relabel import compile_rules
from tests.receivers.prometheus.helpers import OPENMETRICS, REPORT, TEXT, Point, by_name, payload_points

T0 = 1_700_000_000_000  # ms
NS = 1_000_000
INSTANCE = "127.0.0.1:9100"


def converter(labels: dict[str, str] | None = None, **kwargs: object) -> ScrapeConverter:
    target = {"job": "node", "instance": INSTANCE, **(labels or {})}
    return ScrapeConverter("node", INSTANCE, "http", target, **kwargs)  # type: ignore[arg-type]


def scrape(c: ScrapeConverter, body: str, at_ms: int, content_type: str = TEXT) -> dict[str, list[Point]]:
    result = c.convert(body, content_type, at_ms, 0.25)
    return by_name(payload_points(result.payload))


def one(points: dict[str, list[Point]], name: str) -> Point:
    assert len(points[name]) == 1, points[name]
    return points[name][0]


COUNTER_AND_GAUGE = """\
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="400",method="post"} 3
# HELP temperature_celsius Current temperature.
# TYPE temperature_celsius gauge
temperature_celsius{room="a b \\"c\\" \\\\ d\\ne"} -12.5
# A comment that is not metadata.
untyped_thing 42
"""


def test_counter_becomes_a_monotonic_cumulative_sum_named_as_exposed() -> None:
    points = scrape(converter(), COUNTER_AND_GAUGE, T0)
    counters = points["http_requests_total"]
    assert [(p.kind, p.monotonic, p.prom_type) for p in counters] == [("sum", True, "counter")] * 2
    assert {(p.attrs["code"], p.attrs["method"]): p.value for p in counters} == {
        ("200", "get"): 1027.0,
        ("400", "post"): 3.0,
    }
    assert counters[0].description == "Requests served."
    assert counters[0].time == T0 * NS and counters[0].start == T0 * NS


def test_gauge_and_untyped_become_gauges_without_start_time() -> None:
    points = scrape(converter(), COUNTER_AND_GAUGE, T0)
    gauge, untyped = one(points, "temperature_celsius"), one(points, "untyped_thing")
    assert (gauge.kind, gauge.value, gauge.start, gauge.prom_type) == ("gauge", -12.5, 0, "gauge")
    assert (untyped.kind, untyped.value, untyped.prom_type) == ("gauge", 42.0, "unknown")


def test_label_values_are_unescaped() -> None:
    points = scrape(converter(), COUNTER_AND_GAUGE, T0)
    assert one(points, "temperature_celsius").attrs == {"room": 'a b "c" \\ d\ne'}


def test_job_and_instance_make_the_resource_and_other_target_labels_the_attributes() -> None:
    points = scrape(converter({"env": "prod"}), COUNTER_AND_GAUGE, T0)
    gauge = one(points, "temperature_celsius")
    assert gauge.resource == {
        "service.name": "node",
        "service.instance.id": INSTANCE,
        "server.port": "9100",
        "url.scheme": "http",
    }
    assert gauge.scope == SCOPE_NAME
    assert gauge.attrs["env"] == "prod" and "job" not in gauge.attrs and "instance" not in gauge.attrs


def test_server_address_is_set_only_for_discernible_hosts() -> None:
    assert resource_attributes("j", "db-1.example:5432", "https") == [
        ("service.name", "j"),
        ("server.address", "db-1.example"),
        ("service.instance.id", "db-1.example:5432"),
        ("server.port", "5432"),
        ("url.scheme", "https"),
    ]
    for loopback in ("localhost:80", "127.0.0.1:80", "[::1]:80", "0.0.0.0:80"):
        assert "server.address" not in dict(resource_attributes("j", loopback, "http"))
    assert dict(resource_attributes("j", "[2001:db8::1]:9100", "http"))["server.address"] == "2001:db8::1"


def test_counter_start_time_is_the_first_observation_until_the_value_decreases() -> None:
    c = converter()
    body = "# TYPE c_total counter\nc_total {}\n"
    starts = []
    for i, value in enumerate([5, 7, 7, 2, 3]):
        point = one(scrape(c, body.format(value), T0 + i * 1000), "c_total")
        starts.append((point.start - T0 * NS) // (1000 * NS))
        assert point.time == (T0 + i * 1000) * NS
    assert starts == [0, 0, 0, 3, 3]


def test_created_series_give_the_start_time_in_openmetrics() -> None:
    body = """\
# TYPE requests counter
# HELP requests Requests.
requests_total{path="/"} 10.0
requests_created{path="/"} 1699999990.5
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
latency_seconds_bucket{le="0.5"} 1
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 1.5
latency_seconds_count 2
latency_seconds_created 1699999980.25
# EOF
"""
    points = scrape(converter(), body, T0, OPENMETRICS)
    counter = one(points, "requests_total")
    assert counter.kind == "sum" and counter.value == 10.0
    assert counter.start == 1_699_999_990_500_000_000
    assert "requests_created" not in points
    histogram = one(points, "latency_seconds")
    assert histogram.start == 1_699_999_980_250_000_000 and histogram.unit == "s"


def test_histogram_buckets_are_decumulated_without_the_inf_bound() -> None:
    body = """\
# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{method="a",le="0.1"} 2
rpc_seconds_bucket{method="a",le="0.5"} 5
rpc_seconds_bucket{method="a",le="1"} 5
rpc_seconds_bucket{method="a",le="+Inf"} 9
rpc_seconds_sum{method="a"} 12.5
rpc_seconds_count{method="a"} 9
"""
    h = one(scrape(converter(), body, T0), "rpc_seconds")
    assert (h.kind, h.prom_type, h.description) == ("histogram", "histogram", "RPC latency.")
    assert h.bounds == [0.1, 0.5, 1.0] and h.bucket_counts == [2, 3, 0, 4]
    assert (h.count, h.sum, h.attrs) == (9, 12.5, {"method": "a"})
    assert h.start == h.time == T0 * NS


def test_histogram_reset_starts_again_when_the_count_decreases() -> None:
    c = converter()
    body = '# TYPE h histogram\nh_bucket{{le="+Inf"}} {0}\nh_sum {1}\nh_count {0}\n'
    starts = [
        one(scrape(c, body.format(n, s), T0 + i * 1000), "h").start
        for i, (n, s) in enumerate([(4, 2.0), (6, 3.0), (1, 0.5)])
    ]
    assert starts == [T0 * NS, T0 * NS, (T0 + 2000) * NS]


def test_summary_keeps_quantiles_sum_and_count() -> None:
    body = """\
# TYPE rpc_duration summary
rpc_duration{quantile="0.5"} 0.2
rpc_duration{quantile="0.99"} 1.5
rpc_duration_sum 17
rpc_duration_count 40
"""
    s = one(scrape(converter(), body, T0), "rpc_duration")
    assert (s.kind, s.count, s.sum, s.quantiles) == ("summary", 40, 17.0, {0.5: 0.2, 0.99: 1.5})


def test_a_series_that_disappears_gets_one_point_with_no_recorded_value() -> None:
    c = converter()
    both = "# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n"
    only_b = "# TYPE a_total counter\n# TYPE b gauge\nb 3\n"
    scrape(c, both, T0)
    second = scrape(c, only_b, T0 + 1000)
    stale = one(second, "a_total")
    assert stale.stale and stale.time == (T0 + 1000) * NS and stale.start == T0 * NS
    assert not one(second, "b").stale
    assert "a_total" not in scrape(c, only_b, T0 + 2000)


def test_stale_histograms_and_summaries_keep_their_shape() -> None:
    c = converter()
    scrape(
        c,
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'
        '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 3\ns_count 2\n',
        T0,
    )
    points = scrape(c, "# nothing\n", T0 + 1000)
    h, s = one(points, "h"), one(points, "s")
    assert h.stale and h.bounds == [1.0] and h.bucket_counts == [0, 0]
    assert s.stale and list(s.quantiles) == [0.5]


def test_series_with_explicit_timestamps_do_not_go_stale() -> None:
    c = converter()
    first = scrape(c, "a 1 1699999999000\n", T0)
    assert one(first, "a").time == 1_699_999_999_000 * NS
    assert "a" not in scrape(c, "b 1\n", T0 + 1000)


def test_openmetrics_timestamps_are_seconds_and_can_be_ignored() -> None:
    body = "# TYPE a gauge\na 1 1699999999.5\n# EOF\n"
    assert one(scrape(converter(), body, T0, OPENMETRICS), "a").time == 1_699_999_999_500 * NS
    ignoring = converter(honor_timestamps=False)
    assert one(scrape(ignoring, body, T0, OPENMETRICS), "a").time == T0 * NS


def test_special_values_are_kept() -> None:
    points = scrape(converter(), "a NaN\nb +Inf\nc -Inf\nd 1e3\n", T0)
    assert math.isnan(one(points, "a").value)
    assert (one(points, "b").value, one(points, "c").value, one(points, "d").value) == (
        math.inf,
        -math.inf,
        1000.0,
    )


def test_the_report_series_are_gauges_with_the_target_labels() -> None:
    c = converter({"env": "prod"})
    result = c.convert(COUNTER_AND_GAUGE, TEXT, T0, 0.25)
    points = by_name(payload_points(result.payload))
    values = {name: one(points, name).value for name in REPORT}
    assert values == {
        "up": 1.0,
        "scrape_duration_seconds": 0.25,
        "scrape_samples_scraped": 4.0,
        "scrape_samples_post_metric_relabeling": 4.0,
        "scrape_series_added": 4.0,
    }
    assert one(points, "up").attrs == {"env": "prod"} and one(points, "up").kind == "gauge"
    assert one(points, "scrape_duration_seconds").unit == "s"
    assert result.points == 4 + len(REPORT)
    again = by_name(payload_points(c.convert(COUNTER_AND_GAUGE, TEXT, T0 + 1000, 0.25).payload))
    assert one(again, "scrape_series_added").value == 0.0


def test_a_failed_scrape_reports_up_0_and_marks_every_series_stale() -> None:
    c = converter()
    scrape(c, COUNTER_AND_GAUGE, T0)
    result = c.failed(T0 + 1000, 0.5, "connection refused")
    points = by_name(payload_points(result.payload))
    assert one(points, "up").value == 0.0 and not result.up
    assert all(
        p.stale
        for name in ("http_requests_total", "temperature_celsius", "untyped_thing")
        for p in points[name]
    )
    assert one(points, "scrape_samples_scraped").value == 0.0


def test_an_unparsable_body_fails_the_scrape() -> None:
    for body, content_type in [
        ("good 1\nbad line here\n", TEXT),
        ('dup{a="1",a="2"} 1\n', TEXT),
        ("# TYPE x counter\nx_total 1\n", OPENMETRICS),  # no # EOF
        ("# TYPE x wrongtype\n", TEXT),
        ("x notanumber\n", TEXT),
        ("# TYPE t gauge\n# UNIT t celsius\nt 1\n# EOF\n", OPENMETRICS),  # the unit must end the name
    ]:
        result = converter().convert(body, content_type, T0, 0.1)
        assert not result.up, body
        assert one(by_name(payload_points(result.payload)), "up").value == 0.0


def test_target_info_becomes_resource_attributes() -> None:
    body = '# TYPE target info\ntarget_info{env="prod",version="1.2"} 1\n# TYPE a gauge\na 1\n# EOF\n'
    points = scrape(converter(), body, T0, OPENMETRICS)
    assert "target_info" not in points
    assert one(points, "a").resource["env"] == "prod" and one(points, "a").resource["version"] == "1.2"


def test_exposed_labels_clashing_with_target_labels_are_renamed_unless_honored() -> None:
    body = 'a{job="other",env="exposed"} 1\n'
    plain = one(scrape(converter({"env": "target"}), body, T0), "a")
    assert plain.attrs == {"env": "target", "exported_env": "exposed", "exported_job": "other"}
    assert plain.resource["service.name"] == "node"
    honored = one(scrape(converter({"env": "target"}, honor_labels=True), body, T0), "a")
    assert honored.attrs == {"env": "exposed"} and honored.resource["service.name"] == "other"


def test_metric_relabeling_drops_and_rewrites_series() -> None:
    rules = compile_rules(
        [
            RelabelConfig(source_labels=["__name__"], regex="go_.*", action="drop"),
            RelabelConfig(
                source_labels=["path"], regex="/api/(.*)", target_label="endpoint", replacement="$1"
            ),
            RelabelConfig(regex="path", action="labeldrop"),
        ]
    )
    c = converter(metric_relabel=rules)
    result = c.convert('go_goroutines 7\nreqs{path="/api/users"} 3\n', TEXT, T0, 0.1)
    points = by_name(payload_points(result.payload))
    assert "go_goroutines" not in points
    assert one(points, "reqs").attrs == {"endpoint": "users"}
    assert (result.samples_scraped, result.samples_post_relabeling) == (2, 1)


def test_otel_scope_labels_select_the_scope() -> None:
    body = 'a{otel_scope_name="lib",otel_scope_version="2.0",otel_scope_tier="x",k="v"} 1\n'
    c = converter()
    points = by_name(payload_points(c.convert(body, TEXT, T0, 0.1).payload))
    a = one(points, "a")
    assert (a.scope, a.attrs) == ("lib", {"k": "v"})
    assert one(points, "up").scope == SCOPE_NAME


def test_openmetrics_exemplars_are_kept_with_trace_and_span_ids() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    body = (
        "# TYPE hits counter\n"
        f'hits_total 5 # {{trace_id="{trace}",span_id="00f067aa0ba902b7",user="x"}} 1.0 1699999999.0\n'
        "# EOF\n"
    )
    (exemplar,) = one(scrape(converter(), body, T0, OPENMETRICS), "hits_total").exemplars
    assert exemplar.trace_id.hex() == trace and exemplar.span_id.hex() == "00f067aa0ba902b7"
    assert exemplar.as_double == 1.0 and exemplar.time_unix_nano == 1_699_999_999_000 * NS
    assert [(kv.key, kv.value.string_value) for kv in exemplar.filtered_attributes] == [("user", "x")]


def test_a_type_change_between_scrapes_retypes_the_series() -> None:
    c = converter()
    assert one(scrape(c, "# TYPE a gauge\na 1\n", T0), "a").kind == "gauge"
    assert one(scrape(c, "# TYPE a counter\na 2\n", T0 + 1000), "a").kind == "sum"


def test_more_samples_than_the_limit_fail_the_scrape() -> None:
    result = converter(sample_limit=2).convert("a 1\nb 2\nc 3\n", TEXT, T0, 0.1)
    assert not result.up and "sample limit" in result.error


def test_lines_with_tabs_and_no_labels_parse_like_the_others() -> None:
    points = scrape(converter(), 'a\t1\nb{x="1"}\t2\t1699999999000\nc  3\n', T0)
    assert (one(points, "a").value, one(points, "b").value, one(points, "c").value) == (1.0, 2.0, 3.0)


def test_units_are_translated_to_ucum() -> None:
    assert [unit_to_ucum(u) for u in ("seconds", "bytes", "bytes_per_second", "widgets", "")] == [
        "s",
        "By",
        "By/s",
        "widgets",
        "",
    ]


def test_series_unseen_for_long_are_forgotten_with_their_start_time() -> None:
    c = converter(keep_scrapes=2)
    body = "# TYPE c_total counter\nc_total 5\n"
    first = one(scrape(c, body, T0), "c_total")
    for i in range(1, 4):
        scrape(c, "# TYPE c_total counter\n", T0 + i * 1000)
    again = one(scrape(c, body, T0 + 4000), "c_total")
    assert first.start == T0 * NS and again.start == (T0 + 4000) * NS
    assert len(c.cache) == 1
