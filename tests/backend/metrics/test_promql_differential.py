"""PromQL in airis against a real Prometheus (2.42, Debian's) holding the same samples.

One dataset of OTLP metrics (counters with a reset, series that start and stop, a staleness marker,
a gauge, an up-down sum, cumulative histograms with a reset, a delta counter, a summary) is sent to
Prometheus through the `prometheusremotewrite` exporter and into ClickHouse through the clickhouse
exporter. Every query of the table below must give the same series, timestamps and values (within
1e-9 relative) from both, as instant queries at several times and as range queries; so names and
labels (the OTel -> Prometheus translation) are checked as well as evaluation. promtool's own output
is compared too.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import BackendConfig
from backend.metrics.catalog import Catalog
from backend.metrics.prometheus_api import prometheus_routes
from backend.service import ServiceConfig, Store, service_app
from collector.httpserver import HttpServer
from collector.pdata import Batch
from tests.backend.conftest import session_chdb_folder, unique_database
from tests.backend.metrics.test_catalog import counter, gauge, histogram, request, store, summary
from tests.exporters.test_prometheusremotewrite import (
    PrometheusServer,
    send,
    start_prometheus,
    stop_prometheus,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STEP = 15_000
SAMPLES = 121  # 30 minutes every 15 s
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]


def _t_end() -> int:
    import time

    return (time.time_ns() // 1_000_000 // 60_000) * 60_000 - 120_000


T_END = _t_end()
"""The last sample (a whole minute, two minutes ago: Prometheus takes remote-written samples of the last hour)."""
T0 = T_END - (SAMPLES - 1) * STEP


def _times(rng: random.Random, offset: int, jitter: int, first: int = 0, last: int = SAMPLES) -> list[int]:
    return [
        T0 + i * STEP + offset + (rng.randint(-jitter, jitter) if jitter else 0) for i in range(first, last)
    ]


def dataset() -> ExportMetricsServiceRequest:
    """The samples both sides hold (seeded, so every run sends the same shapes)."""
    rng = random.Random(6)

    def running(
        times: list[int], step: tuple[int, int], reset_at: int | None = None, scale: float = 1.0
    ) -> list[tuple[int, float | None]]:
        total, out = 0.0, []
        for i, ms in enumerate(times):
            total = rng.randint(0, 3) * scale if i == reset_at else total + rng.randint(*step) * scale
            out.append((ms, total))
        return out

    requests = counter(
        "http.server.requests",
        "",
        ({"http.method": "GET", "http.status_code": 200}, running(_times(rng, 0, 0), (0, 20))),
        (
            {"http.method": "POST", "http.status_code": 200},
            running(_times(rng, 3217, 400), (1, 9), reset_at=60),
        ),
        ({"http.method": "GET", "http.status_code": 500}, running(_times(rng, 7000, 900, 20, 100), (0, 3))),
        (
            {"http.method": "PUT", "http.status_code": 201},
            running(_times(rng, 11_111, 50), (0, 5), scale=0.37),
        ),
        description="Requests served",
    )
    memory = [
        ({"pool": "heap"}, [(ms, float(rng.randint(100, 900))) for ms in _times(rng, 0, 0)]),
        ({"pool": "stack"}, [(ms, float(rng.randint(10, 90))) for ms in _times(rng, 5_000, 300, 0, 80)]),
    ]
    marked: list[tuple[int, float | None]] = [(ms, float(rng.randint(1, 50))) for ms in _times(rng, 2_500, 0)]
    marked[90] = (marked[90][0], None)  # a staleness marker, the series resumes 10 samples later
    del marked[91:100]
    queue = [(ms, float(rng.randint(0, 10))) for ms in _times(rng, 1_000, 200)]

    def buckets(times: list[int], reset_at: int | None = None) -> list[tuple[int, list[int], float]]:
        counts, total, out = [0] * (len(BOUNDS) + 1), 0.0, []
        for i, ms in enumerate(times):
            if i == reset_at:
                counts, total = [0] * (len(BOUNDS) + 1), 0.0
            for _ in range(rng.randint(0, 12)):
                bucket = min(int(rng.expovariate(0.6)), len(BOUNDS))
                counts[bucket] += 1
                total += BOUNDS[min(bucket, len(BOUNDS) - 1)] * 0.7
            out.append((ms, list(counts), total))
        return out

    duration = histogram(
        "http.server.duration",
        "s",
        BOUNDS,
        ({"http.method": "GET"}, buckets(_times(rng, 0, 0))),
        ({"http.method": "POST"}, buckets(_times(rng, 4_321, 700), reset_at=70)),
    )
    jobs = [(ms, float(rng.randint(0, 5))) for ms in _times(rng, 500, 100)]
    latency = []
    count, total = 0, 0.0
    for ms in _times(rng, 9_000, 0):
        count += rng.randint(1, 10)
        total += rng.random() * 100
        latency.append((ms, count, total, {0.5: rng.random() * 10, 0.99: 10 + rng.random() * 90}))

    api = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1"}
    api2 = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-2"}
    worker = {"service.name": "worker", "service.instance.id": "w-1"}
    return request(
        (api, [requests, gauge("process.memory.usage", "By", *memory), duration]),
        (api2, [gauge("process.memory.usage", "By", ({"pool": "heap"}, marked))]),
        (
            worker,
            [
                counter("queue.length", "", ({}, queue), monotonic=False),
                counter("jobs.processed", "", ({"queue": "q1"}, jobs), delta=True),
                summary("rpc.latency", "ms", ({"rpc.method": "Get"}, latency)),
            ],
        ),
    )


# --- the two sides ----------------------------------------------------------------------------------


@dataclass
class Sides:
    """Prometheus and airis holding the dataset, each with its HTTP API."""

    prometheus: PrometheusServer
    airis_url: str
    client: httpx.AsyncClient

    async def get(self, url: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.get(f"{url}{path}", params=params)
        body: dict[str, Any] = answer.json()
        assert body["status"] == "success", (url, path, params, body)
        return body

    async def both(self, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        prometheus, airis = await asyncio.gather(
            self.get(self.prometheus.url, path, params), self.get(self.airis_url, path, params)
        )
        return prometheus, airis


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = start_prometheus(
        tmp_path_factory.mktemp("prometheus"), "global: {}\n", "--web.enable-remote-write-receiver"
    )
    try:
        yield server
    finally:
        stop_prometheus(server)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sides(prometheus: PrometheusServer) -> AsyncIterator[Sides]:
    otlp = dataset()
    await send(Batch.from_otlp(otlp), f"{prometheus.url}/api/v1/write", attempt_timeout=30)
    config = BackendConfig(
        endpoint=f"chdb://{session_chdb_folder()}", database=unique_database(), create_schema=True
    )
    backend = ClickHouseBackend.from_config("differential", config)
    await backend.start()
    server = None
    try:
        await store(backend, otlp)
        store_ = Store(backend, ServiceConfig())
        app = service_app("metrics", prometheus_routes(store_, ServiceConfig(), Catalog(store_, max_age=0)))
        server = HttpServer(app, "127.0.0.1:0", "airis prometheus api")
        await server.start()
        async with httpx.AsyncClient(timeout=60) as client:
            yield Sides(prometheus, f"http://127.0.0.1:{server.port}", client)
    finally:
        if server is not None:
            await server.shutdown()
        await backend.command(f"DROP DATABASE IF EXISTS `{backend.database}` SYNC")
        await backend.close()


# --- comparison ------------------------------------------------------------------------------------


def _close(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """How airis's `data` differs from Prometheus's (empty when they agree)."""
    if expected["resultType"] != actual["resultType"]:
        return [f"result type {actual['resultType']} != {expected['resultType']}"]
    if expected["resultType"] == "scalar":
        want, got = expected["result"], actual["result"]
        return [] if want[0] == got[0] and _close(want[1], got[1]) else [f"scalar {got} != {want}"]
    key = "values" if expected["resultType"] == "matrix" else "value"

    def by_labels(data: dict[str, Any]) -> dict[tuple[tuple[str, str], ...], list[list[Any]]]:
        return {
            tuple(sorted(s["metric"].items())): s[key] if key == "values" else [s[key]]
            for s in data["result"]
        }

    want, got = by_labels(expected), by_labels(actual)
    problems = [f"missing series {dict(k)}" for k in want.keys() - got.keys()]
    problems += [f"unexpected series {dict(k)}" for k in got.keys() - want.keys()]
    for labels in want.keys() & got.keys():
        w, g = want[labels], got[labels]
        if [p[0] for p in w] != [p[0] for p in g]:
            problems.append(f"{dict(labels)}: timestamps {[p[0] for p in g]} != {[p[0] for p in w]}")
            continue
        bad = [(p[0], q[1], p[1]) for p, q in zip(w, g, strict=True) if not _close(p[1], q[1])]
        if bad:
            problems.append(f"{dict(labels)}: (time, airis, prometheus) {bad[:5]}")
    return problems


INSTANTS = (T0 + 60_000, T0 + 7 * 60_000 + 30_000, T_END + 4 * 60_000 + 1)
RANGES = ((T0 - 120_000, T_END + 7 * 60_000, 60), (T0 + 1_234, T_END, 37))


async def _compare(
    sides: Sides,
    query: str,
    instants: tuple[int, ...] = INSTANTS,
    ranges: tuple[tuple[int, int, int], ...] = RANGES,
) -> None:
    """The query gives the same result from both, at instants and over ranges of different steps."""
    asks = [("/api/v1/query", {"query": query, "time": at / 1000}) for at in instants]
    asks += [
        ("/api/v1/query_range", {"query": query, "start": start / 1000, "end": end / 1000, "step": step})
        for start, end, step in ranges
    ]
    answers = await asyncio.gather(*(sides.both(path, params) for path, params in asks))
    problems = []
    for (path, params), (prom, ours) in zip(asks, answers, strict=True):
        where = f"{path} {params}"
        problems += [f"{where}: {p}" for p in _differences(prom["data"], ours["data"])]
        if path.endswith("range"):
            assert prom["data"]["result"], f"{where} returns nothing: not a useful case"
    assert not problems, f"{query}:\n" + "\n".join(problems)


# --- the queries -----------------------------------------------------------------------------------

SELECTORS = [
    "http_server_requests_total",
    'http_server_requests_total{http_method="GET"}',
    'http_server_requests_total{http_method!="GET"}',
    'http_server_requests_total{http_status_code=~"2.."}',
    'http_server_requests_total{http_status_code!~"5..", instance=~"i-.*"}',
    '{__name__=~"http_server_requests_.*", job="shop/api"}',
    'process_memory_usage_bytes{job=~"shop/.+"}',
    "queue_length",
    'rpc_latency_milliseconds{quantile="0.99"}',
    "rpc_latency_milliseconds_count",
    'http_server_duration_seconds_bucket{le=~"0.1|\\\\+Inf"}',
    "http_server_duration_seconds_sum",
]
RANGE_FUNCTIONS = [
    "rate(http_server_requests_total[1m])",
    "rate(http_server_requests_total[5m])",
    "irate(http_server_requests_total[1m])",
    "increase(http_server_requests_total[2m])",
    "rate(http_server_duration_seconds_count[3m])",
    "increase(http_server_duration_seconds_bucket[1m])",
    "irate(process_memory_usage_bytes[45s])",
]
AGGREGATIONS = [
    "sum(rate(http_server_requests_total[5m]))",
    "sum by (http_method) (rate(http_server_requests_total[5m]))",
    "sum without (instance) (http_server_requests_total)",
    "avg by (job) (process_memory_usage_bytes)",
    "min(process_memory_usage_bytes)",
    "max by (instance) (process_memory_usage_bytes)",
    "count(http_server_requests_total)",
    "count by (http_status_code) (http_server_requests_total)",
    "sum by (job, __name__) (queue_length)",
]
QUANTILES = [
    "histogram_quantile(0.5, sum by (le) (rate(http_server_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (le) (rate(http_server_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.99, sum by (le, http_method) (rate(http_server_duration_seconds_bucket[2m])))",
    "histogram_quantile(0.75, rate(http_server_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.9, http_server_duration_seconds_bucket)",
]
OFFSETS_AND_ARITHMETIC = [
    "http_server_requests_total offset 5m",
    "rate(http_server_requests_total[5m] offset 3m)",
    "sum(process_memory_usage_bytes offset 10m)",
    "2 * rate(http_server_requests_total[1m])",
    "http_server_requests_total / 10",
    "100 - process_memory_usage_bytes",
    "-queue_length",
    "queue_length ^ 2",
    "process_memory_usage_bytes % 7",
    "process_memory_usage_bytes > 500",
    "queue_length >= bool 3",
    "5 < queue_length",
    "1 + 2 * 3",
    "(1 + 2) / 0",
    "queue_length / 0",
    f"process_memory_usage_bytes @ {(T0 + 600_000) / 1000}",
]


@pytest.mark.parametrize("query", SELECTORS)
async def test_selectors_with_every_matcher_agree_with_prometheus(sides: Sides, query: str) -> None:
    await _compare(sides, query)


@pytest.mark.parametrize("query", RANGE_FUNCTIONS)
async def test_rate_irate_increase_agree_with_prometheus(sides: Sides, query: str) -> None:
    await _compare(sides, query)


@pytest.mark.parametrize(
    "query", ["rate(jobs_processed_total[2m])", "increase(jobs_processed_total[1m])", "jobs_processed_total"]
)
async def test_delta_sums_accumulated_from_the_queried_range_agree_with_prometheus(
    sides: Sides, query: str
) -> None:
    # Prometheus holds the exporter's running total since its first point; airis accumulates from the
    # start of what a query reads, so the two agree when that start is before the series' first point.
    instants = (T0 + 15_000, T0 + 60_000, T0 + 119_000)
    ranges = ((T0 - 120_000, T_END + 7 * 60_000, 60), (T0 - 30_000, T0 + 25 * 60_000, 37))
    await _compare(sides, query, instants, ranges)


@pytest.mark.parametrize("query", AGGREGATIONS)
async def test_aggregations_agree_with_prometheus(sides: Sides, query: str) -> None:
    await _compare(sides, query)


@pytest.mark.parametrize("query", QUANTILES)
async def test_histogram_quantile_agrees_with_prometheus(sides: Sides, query: str) -> None:
    await _compare(sides, query)


@pytest.mark.parametrize("query", OFFSETS_AND_ARITHMETIC)
async def test_offsets_and_scalar_arithmetic_agree_with_prometheus(sides: Sides, query: str) -> None:
    await _compare(sides, query)


async def test_series_and_label_values_agree_with_prometheus(sides: Sides) -> None:
    window = {"start": T0 / 1000, "end": T_END / 1000}
    for path, params in (
        (
            "/api/v1/series",
            {**window, "match[]": ['http_server_requests_total{http_method="GET"}', "queue_length"]},
        ),
        ("/api/v1/label/job/values", window),
        ("/api/v1/label/http_method/values", window),
        ("/api/v1/label/le/values", window),
    ):
        prom, ours = await sides.both(path, params)
        key = (lambda s: sorted(s.items())) if path.endswith("series") else None
        assert sorted(ours["data"], key=key) == sorted(prom["data"], key=key), path


async def _promtool(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        PROMTOOL, "query", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool is not installed")
async def test_promtool_prints_the_same_instant_and_range_results_from_both(sides: Sides) -> None:
    at = (T0 + 600_000) // 1000
    query = 'sum by (http_method) (rate(http_server_requests_total{http_method=~"GET|POST"}[5m]))'
    ours = await _promtool("instant", f"--time={at}", sides.airis_url, query)
    theirs = await _promtool("instant", f"--time={at}", sides.prometheus.url, query)

    def parsed(output: str) -> dict[str, tuple[str, str]]:
        """labels -> (value, time) of promtool's `{labels} => value @[time]` lines."""
        out = {}
        for line in output.splitlines():
            labels, _, rest = line.partition(" => ")
            value, _, stamp = rest.partition(" @")
            out[labels] = (value, stamp)
        return out

    assert parsed(ours).keys() == parsed(theirs).keys() == {'{http_method="GET"}', '{http_method="POST"}'}
    for labels, (value, stamp) in parsed(ours).items():
        assert stamp == f"[{at}]" == parsed(theirs)[labels][1]
        assert _close(value, parsed(theirs)[labels][0])
    start, end = f"{T0 / 1000:.0f}", f"{(T0 + 300_000) / 1000:.0f}"
    ranged = ["range", f"--start={start}", f"--end={end}", "--step=1m"]
    ours = await _promtool(*ranged, sides.airis_url, "queue_length")
    assert ours == await _promtool(*ranged, sides.prometheus.url, "queue_length")
    lines = ours.splitlines()
    assert lines[0] == 'queue_length{instance="w-1", job="worker"} =>'
    # its first point is a second after the range starts, so the first step has nothing to show
    assert [line.split(" @[")[1] for line in lines[1:]] == [f"{int(start) + 60 * i}]" for i in range(1, 6)]
