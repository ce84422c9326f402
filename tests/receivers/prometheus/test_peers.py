"""Against real peers: the node exporter and Prometheus as targets, and Prometheus itself as the
reference scraper of the same targets with the same scrape config (what it stores must be what the
receiver sends: names, labels after relabeling, values, the report series)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.receivers.prometheus.helpers import (
    NODE_EXPORTER,
    OPENMETRICS,
    PROMETHEUS,
    REPORT,
    Exposition,
    Peer,
    Point,
    TinyTarget,
    as_prometheus_series,
    have,
    normalize_bound_labels,
    parse_text,
    prometheus_series,
    prometheus_targets,
    start_node_exporter,
    start_prometheus,
    wait_until,
)
from tests.receivers.prometheus.test_scrape import recorder, running, scrapes, until

pytestmark = pytest.mark.skipif(
    not (have(PROMETHEUS) and have(NODE_EXPORTER)), reason="needs /usr/bin/prometheus and the node exporter"
)

KIND_OF_TYPE = {
    "counter": "sum",
    "gauge": "gauge",
    "untyped": "gauge",
    "histogram": "histogram",
    "summary": "summary",
}


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[Peer]:
    peer = start_node_exporter()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def prometheus_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """A Prometheus server used as a scrape target (its own /metrics)."""
    workdir = tmp_path_factory.mktemp("prometheus-target")
    peer = start_prometheus("global: {scrape_interval: 1s}\nscrape_configs: []\n", workdir)
    yield peer
    peer.stop()


def receiver_yaml(job: str, address: str, interval: str = "500ms") -> str:
    return f"""
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: {job}
          scrape_interval: {interval}
          static_configs: [{{targets: ["{address}"]}}]
exporters: {{recorder: }}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [recorder]}}
"""


def _fetch(address: str) -> Exposition:
    response = httpx.get(f"http://{address}/metrics", headers={"Accept": "text/plain"}, timeout=10)
    return parse_text(response.text)


def _counterish(name: str, types: dict[str, str]) -> bool:
    """Whether a sample only ever grows: a counter, or a histogram's/summary's buckets, sum and count."""
    if types.get(name) == "counter":
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) in ("histogram", "summary"):
            return True
    return False


STATIC = {
    "node_memory_MemTotal_bytes",
    "node_boot_time_seconds",
    "process_start_time_seconds",
    "process_max_fds",
    "node_filesystem_size_bytes",
    "go_gc_duration_seconds",
}


def _static(name: str) -> bool:
    """Series that do not change while a process runs (build and host facts)."""
    return name.endswith("_info") or name in STATIC


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


async def _compare_with_live_target(tmp_path: Path, address: str, job: str) -> None:
    """Fetch the target, let the receiver scrape it, fetch again: what the receiver sent lies between."""
    async with running(tmp_path, receiver_yaml(job, address)):
        await until(lambda: len(recorder().batches) >= 1)
        before = await asyncio.to_thread(_fetch, address)
        fetched_ms = time.time() * 1000
        count = len(recorder().batches)

        def scraped_after_fetch() -> bool:
            return any(
                p.name == "up" and p.time > fetched_ms * 1_000_000 for s in scrapes()[count - 1 :] for p in s
            )

        await until(scraped_after_fetch)
        after = await asyncio.to_thread(_fetch, address)
    points = next(s for s in scrapes() if any(p.name == "up" and p.time > fetched_ms * 1_000_000 for p in s))
    assert next(p for p in points if p.name == "up").value == 1.0
    received = normalize_bound_labels(
        {k: v for k, v in as_prometheus_series(points, with_target=False).items() if k[0] not in REPORT}
    )
    a, b = normalize_bound_labels(before.samples), normalize_bound_labels(after.samples)
    both = set(a) & set(b)
    assert both <= set(received), sorted(both - set(received))[:5]
    assert set(received) <= set(a) | set(b), sorted(set(received) - set(a) - set(b))[:5]
    checked_counters = checked_constants = 0
    for key in both:
        got, first, last = received[key], a[key], b[key]
        if _counterish(key[0], before.types):
            assert first <= got <= last or math.isnan(got), (key, first, got, last)
            checked_counters += 1
        elif _static(key[0]) and _same(first, last):
            assert _same(got, first), (key, first, got)
            checked_constants += 1
    assert checked_counters > 10 and checked_constants > 3
    # Types: every exposed family arrives with its OTLP kind and its Prometheus type.
    for point in points:
        if point.name in REPORT:
            continue
        exposed = before.types.get(point.name) or after.types.get(point.name)
        if exposed is None:
            continue
        assert point.kind == KIND_OF_TYPE[exposed], (point.name, exposed, point.kind)
        assert point.prom_type == ("unknown" if exposed == "untyped" else exposed)
        if exposed == "counter":
            assert point.monotonic and point.start > 0


async def test_node_exporter_series_arrive_with_their_names_labels_values_and_types(
    tmp_path: Path, node_exporter: Peer
) -> None:
    await _compare_with_live_target(tmp_path, node_exporter.address, "node")
    node = [p for s in scrapes() for p in s if p.name == "node_cpu_seconds_total"]
    assert node and all(p.kind == "sum" and p.attrs.keys() >= {"cpu", "mode"} for p in node)


async def test_prometheus_own_metrics_arrive_with_their_histograms_and_summaries(
    tmp_path: Path, prometheus_target: Peer
) -> None:
    await _compare_with_live_target(tmp_path, prometheus_target.address, "prometheus")
    kinds = {p.kind for s in scrapes() for p in s}
    assert {"histogram", "summary", "sum", "gauge"} <= kinds


async def test_counter_start_times_hold_across_scrapes_of_the_node_exporter(
    tmp_path: Path, node_exporter: Peer
) -> None:
    async with running(tmp_path, receiver_yaml("node", node_exporter.address, "200ms")):
        await until(lambda: len(recorder().batches) >= 3)
    first, *later = scrapes()[:3]
    starts = {p.key(): p.start for p in first if p.kind == "sum"}
    for points in later:
        for p in points:
            if p.kind == "sum" and p.key() in starts:
                assert p.start == starts[p.key()] or p.start == p.time  # kept, or a genuine reset


# --- Prometheus as the reference scraper ----------------------------------------------------------

TEXT_BODY = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",job="exposed-job",path="/a \\"quoted\\" \\\\ x"} 1027
http_requests_total{code="500",env="exposed-env"} 3
# TYPE queue_depth gauge
queue_depth{queue="q1"} -4.5
queue_depth{queue="q2"} NaN
# TYPE latency_seconds histogram
latency_seconds_bucket{route="r",le="0.05"} 3
latency_seconds_bucket{route="r",le="0.5"} 7
latency_seconds_bucket{route="r",le="+Inf"} 9
latency_seconds_sum{route="r"} 4.25
latency_seconds_count{route="r"} 9
# TYPE gc_pause summary
gc_pause{quantile="0.5"} 0.01
gc_pause{quantile="0.99"} 0.2
gc_pause_sum 1.5
gc_pause_count 40
untyped_total_thing 8
debug_internal_series 1
"""

OPENMETRICS_BODY = """\
# TYPE jobs counter
# HELP jobs Jobs done.
jobs_total{kind="batch"} 17 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 1.0
jobs_created{kind="batch"} 1700000000.0
# TYPE temp_celsius gauge
# UNIT temp_celsius celsius
temp_celsius{room="b"} 21.5
# TYPE size_bytes histogram
# UNIT size_bytes bytes
size_bytes_bucket{le="100.0"} 2
size_bytes_bucket{le="1000.0"} 5
size_bytes_bucket{le="+Inf"} 6
size_bytes_sum 3200.0
size_bytes_count 6
size_bytes_created 1700000000.0
# EOF
"""

SCRAPE_CONFIGS = [
    {
        "job_name": "text",
        "static_configs": [{"targets": ["TEXT"], "labels": {"env": "target-env", "__meta_owner": "team-a"}}],
        "relabel_configs": [
            {"regex": "__meta_(.+)", "replacement": "owner_${1}", "action": "labelmap"},
            {"source_labels": ["__address__"], "modulus": 16, "target_label": "shard", "action": "hashmod"},
            {"source_labels": ["env"], "regex": "(\\w+)-env", "target_label": "stage", "replacement": "$1"},
            {"source_labels": ["stage"], "target_label": "STAGE_UP", "action": "uppercase"},
        ],
        "metric_relabel_configs": [
            {"source_labels": ["__name__"], "regex": "debug_.*", "action": "drop"},
            {"source_labels": ["queue"], "regex": "q(\\d)", "target_label": "queue_no", "replacement": "$1"},
            {"regex": "shard", "action": "labeldrop"},
        ],
    },
    {"job_name": "openmetrics", "static_configs": [{"targets": ["OPENMETRICS"]}], "honor_labels": True},
    {"job_name": "dead", "static_configs": [{"targets": ["DEAD"]}]},
    {
        "job_name": "dropped",
        "static_configs": [{"targets": ["TEXT"]}],
        "relabel_configs": [{"source_labels": ["__address__"], "regex": ".*", "action": "drop"}],
    },
]


def _scrape_configs(text: str, openmetrics: str, dead: str, interval: str) -> list[dict[str, object]]:
    raw = (
        json.dumps(SCRAPE_CONFIGS).replace('"TEXT"', f'"{text}"').replace('"OPENMETRICS"', f'"{openmetrics}"')
    )
    jobs: list[dict[str, object]] = json.loads(raw.replace('"DEAD"', f'"{dead}"'))
    for job in jobs:
        job["scrape_interval"] = interval
    return jobs


async def test_prometheus_stores_what_the_receiver_sends_for_the_same_targets(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with TinyTarget([TEXT_BODY]) as text, TinyTarget([OPENMETRICS_BODY], OPENMETRICS) as om:
        prometheus = start_prometheus(
            json.dumps({"scrape_configs": _scrape_configs(text.address, om.address, dead, "1s")}), tmp_path
        )
        try:
            wait_until(
                lambda: len(prometheus_series(prometheus.port, "scrape_series_added == 0")) >= 3,
                what="two scrapes of each target by Prometheus",
            )
            reference = prometheus_series(prometheus.port, '{job=~".+"}')
            targets = prometheus_targets(prometheus.port)
        finally:
            prometheus.stop()
        yaml_text = receiver_yaml("x", "y").replace(
            'scrape_configs:\n        - job_name: x\n          scrape_interval: 500ms\n          static_configs: [{targets: ["y"]}]',
            # the collector's YAML writes a literal $ as $$
            "scrape_configs: "
            + json.dumps(_scrape_configs(text.address, om.address, dead, "200ms")).replace("$", "$$"),
        )
        async with running(tmp_path, yaml_text):
            await until(lambda: all(len(scrapes(job)) >= 2 for job in ("text", "openmetrics", "dead")))
    latest: list[Point] = []
    for job in ("text", "openmetrics", "dead"):
        latest += scrapes(job)[-1]

    ours = normalize_bound_labels(as_prometheus_series(latest))
    theirs = normalize_bound_labels(
        {
            k: v
            for k, v in reference.items()
            if not k[0].endswith("_created") and k[0] != "scrape_duration_seconds"
        }
    )
    ours = {k: v for k, v in ours.items() if k[0] != "scrape_duration_seconds"}
    assert set(ours) == set(theirs), (
        sorted(set(ours) - set(theirs))[:4],
        sorted(set(theirs) - set(ours))[:4],
    )
    for key, value in theirs.items():
        assert _same(ours[key], value), (key, ours[key], value)

    # Target labels after relabeling match Prometheus's, and the dropped job has no target.
    active = {t["scrapePool"]: t["labels"] for t in targets["activeTargets"]}
    assert "dropped" not in active and any(
        t["discoveredLabels"]["job"] == "dropped" for t in targets["droppedTargets"]
    )
    text_points = [p for p in latest if p.resource["service.name"] == "text" and p.name == "up"]
    assert {**text_points[0].attrs, "job": "text", "instance": text.address} == active["text"]
    # _created became start times.
    jobs_total = next(p for p in latest if p.name == "jobs_total")
    assert jobs_total.start == 1_700_000_000 * 1_000_000_000
    assert next(p for p in latest if p.name == "size_bytes").unit == "By"
