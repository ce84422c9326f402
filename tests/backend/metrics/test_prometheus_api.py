"""The Prometheus HTTP API of the metrics service: parameters (URL or form), answers and errors as Prometheus's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.catalog import Catalog
from backend.metrics.prometheus_api import BUILD_INFO, prometheus_routes
from backend.service import ServiceConfig, Store, service_app
from tests.backend.conftest import fresh_backend
from tests.backend.metrics.test_catalog import (
    T0,
    counter,
    every,
    gauge,
    histogram,
    in_module_loop,
    request,
    store,
)

API = {"service.name": "api", "service.instance.id": "i-1"}
WEB = {"service.name": "web", "service.namespace": "shop", "service.instance.id": "w-1"}
AT = (T0 + 60_000) / 1000


async def _client(backend: ClickHouseBackend, **config: Any) -> httpx.AsyncClient:
    service_config = ServiceConfig(**config)
    store_ = Store(backend, service_config)
    app = service_app("metrics", prometheus_routes(store_, service_config, Catalog(store_, max_age=0)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://airis")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stored() -> AsyncIterator[ClickHouseBackend]:
    """A database holding a counter in two services, a gauge, a histogram (points every 15 s for 2 minutes)."""
    async with fresh_backend("prometheus-api") as backend:
        await _store_fixture_data(backend)
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(stored: ClickHouseBackend) -> AsyncIterator[httpx.AsyncClient]:
    """The API over `stored`."""
    async with await _client(stored) as client:
        yield client


async def _store_fixture_data(backend: ClickHouseBackend) -> None:
    times = every(T0, 9)
    await store(
        backend,
        request(
            (
                API,
                [
                    counter(
                        "http.requests",
                        "",
                        ({"code": 200}, [(t, 10.0 * i) for i, t in enumerate(times)]),
                        ({"code": 500}, [(t, 1.0 * i) for i, t in enumerate(times)]),
                        description="Requests served.",
                    ),
                    gauge("memory.usage", "By", ({}, [(t, 100.0 + i) for i, t in enumerate(times)])),
                    histogram(
                        "latency",
                        "s",
                        [0.1, 1.0],
                        ({}, [(t, [i, 2 * i, 1], 0.5 * i) for i, t in enumerate(times)]),
                    ),
                ],
            ),
            (
                WEB,
                [counter("http.requests", "", ({"code": 200}, [(t, 3.0 * i) for i, t in enumerate(times)]))],
            ),
        ),
    )


@in_module_loop
async def test_an_instant_query_answers_a_vector_in_prometheus_json(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v1/query", params={"query": 'http_requests_total{code="200"}', "time": AT})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {
                    "metric": {
                        "__name__": "http_requests_total",
                        "code": "200",
                        "instance": "i-1",
                        "job": "api",
                    },
                    "value": [AT, "40"],
                },
                {
                    "metric": {
                        "__name__": "http_requests_total",
                        "code": "200",
                        "instance": "w-1",
                        "job": "shop/web",
                    },
                    "value": [AT, "12"],
                },
            ],
        },
    }


@in_module_loop
async def test_a_post_form_body_is_read_like_the_url(api: httpx.AsyncClient) -> None:
    form = {"query": "sum by (job) (rate(http_requests_total[1m]))", "time": "2023-11-14T22:14:20Z"}
    posted = await api.post("/api/v1/query", data=form)
    got = await api.get("/api/v1/query", params={**form, "time": "1700000060"})
    assert posted.status_code == got.status_code == 200
    assert posted.json() == got.json()
    assert {r["metric"]["job"]: r["value"][1] for r in got.json()["data"]["result"]} == {
        "api": "0.7333333333333333",
        "shop/web": "0.2",
    }


@in_module_loop
async def test_a_range_query_answers_a_matrix_with_steps_as_seconds_or_durations(
    api: httpx.AsyncClient,
) -> None:
    params = {"query": "memory_usage_bytes", "start": T0 / 1000, "end": (T0 + 60_000) / 1000}
    by_seconds = await api.get("/api/v1/query_range", params={**params, "step": "30"})
    by_duration = await api.post("/api/v1/query_range", data={**params, "step": "30s"})
    assert by_seconds.json() == by_duration.json()
    data = by_seconds.json()["data"]
    assert data["resultType"] == "matrix"
    assert data["result"] == [
        {
            "metric": {"__name__": "memory_usage_bytes", "instance": "i-1", "job": "api"},
            "values": [[T0 / 1000, "100"], [(T0 + 30_000) / 1000, "102"], [(T0 + 60_000) / 1000, "104"]],
        }
    ]


@in_module_loop
async def test_a_scalar_query_answers_a_scalar_and_a_matrix_of_one_series(api: httpx.AsyncClient) -> None:
    instant = await api.get("/api/v1/query", params={"query": "1 + 1", "time": AT})
    assert instant.json()["data"] == {"resultType": "scalar", "result": [AT, "2"]}
    ranged = await api.get(
        "/api/v1/query_range", params={"query": "2 / 0", "start": AT, "end": AT + 10, "step": 10}
    )
    assert ranged.json()["data"]["result"] == [{"metric": {}, "values": [[AT, "+Inf"], [AT + 10, "+Inf"]]}]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/query", {"query": "sum("}, "parse error: "),
        ("/api/v1/query", {}, 'invalid parameter "query": missing'),
        (
            "/api/v1/query",
            {"query": "up", "time": "yesterday"},
            'invalid parameter "time": cannot parse "yesterday"',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "10", "end": "5", "step": "1"},
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "5", "step": "0"},
            "zero or negative query resolution step widths are not accepted",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "11001", "step": "1"},
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "5", "step": "soon"},
            'invalid parameter "step"',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "end": "5", "step": "1"},
            'invalid parameter "start": missing',
        ),
        ("/api/v1/series", {}, "no match[] parameter provided"),
        ("/api/v1/series", {"match[]": "rate(up[5m])"}, 'invalid parameter "match[]"'),
        ("/api/v1/label/0bad/values", {}, 'invalid label name: "0bad"'),
        ("/api/v1/labels", {"start": "0", "end": str(40 * 86400)}, "longer than max_range"),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "0", "end": str(40 * 86400), "step": "1h"},
            "longer than max_range",
        ),
        (
            "/api/v1/query",
            {"query": "rate(http_requests_total[100d])", "time": "1700000000"},
            "would read 2400 h",
        ),
    ],
)
@in_module_loop
async def test_bad_input_is_a_400_bad_data_saying_what(
    api: httpx.AsyncClient, path: str, params: dict[str, str], message: str
) -> None:
    answer = await api.get(path, params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert message in body["error"]


@in_module_loop
async def test_11000_points_per_series_are_allowed(api: httpx.AsyncClient) -> None:
    answer = await api.get(
        "/api/v1/query_range", params={"query": "1", "start": "0", "end": "11000", "step": "1"}
    )
    assert answer.status_code == 200
    assert len(answer.json()["data"]["result"][0]["values"]) == 11_001


@in_module_loop
async def test_unsupported_promql_is_a_422_execution_error_naming_the_feature(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v1/query", params={"query": "topk(2, http_requests_total)", "time": AT})
    assert answer.status_code == 422
    assert answer.json() == {
        "status": "error",
        "errorType": "execution",
        "error": "unsupported in airis: aggregation topk",
    }


@in_module_loop
async def test_series_that_end_up_with_the_same_labels_are_an_execution_error(api: httpx.AsyncClient) -> None:
    query = 'rate({__name__=~"http_requests_total|memory_usage_bytes", job="api", code=~"200|"}[1m])'
    answer = await api.get("/api/v1/query", params={"query": query, "time": AT})
    assert answer.status_code == 200  # different label sets once the names are dropped
    clash = await api.get(
        "/api/v1/query", params={"query": "-{__name__=~'latency_seconds_(sum|count)'}", "time": AT}
    )
    assert clash.status_code == 422
    assert clash.json()["error"] == "vector cannot contain metrics with the same labelset"


@in_module_loop
async def test_a_query_past_its_timeout_is_a_503_timeout(api: httpx.AsyncClient) -> None:
    answer = await api.get(
        "/api/v1/query", params={"query": "http_requests_total", "time": AT, "timeout": "1ns"}
    )
    assert answer.status_code == 503
    assert answer.json()["errorType"] == "timeout"


@in_module_loop
async def test_too_many_series_is_an_execution_error(stored: ClickHouseBackend) -> None:
    async with await _client(stored, max_limit=1) as client:
        answer = await client.get("/api/v1/query", params={"query": "http_requests_total", "time": AT})
    assert answer.status_code == 422
    assert "selects more than 1 series" in answer.json()["error"]


@in_module_loop
async def test_series_lists_the_label_sets_of_every_match_in_the_range(api: httpx.AsyncClient) -> None:
    params = {
        "match[]": ['http_requests_total{job="api"}', "memory_usage_bytes"],
        "start": T0 / 1000,
        "end": AT,
    }
    answer = await api.post("/api/v1/series", data=params)
    assert answer.json() == {
        "status": "success",
        "data": [
            {"__name__": "http_requests_total", "code": "200", "instance": "i-1", "job": "api"},
            {"__name__": "http_requests_total", "code": "500", "instance": "i-1", "job": "api"},
            {"__name__": "memory_usage_bytes", "instance": "i-1", "job": "api"},
        ],
    }
    later = await api.get("/api/v1/series", params={**params, "start": AT + 3600, "end": AT + 7200})
    assert later.json()["data"] == []
    limited = await api.get("/api/v1/series", params={**params, "limit": "2"})
    assert len(limited.json()["data"]) == 2
    assert limited.json()["warnings"] == ["results truncated due to limit"]


@in_module_loop
async def test_labels_and_label_values_cover_names_attributes_job_instance_and_le(
    api: httpx.AsyncClient,
) -> None:
    window = {"start": T0 / 1000, "end": AT}
    labels = await api.get("/api/v1/labels", params=window)
    assert labels.json()["data"] == ["__name__", "code", "instance", "job", "le"]
    matched = await api.post("/api/v1/labels", data={**window, "match[]": "memory_usage_bytes"})
    assert matched.json()["data"] == ["__name__", "instance", "job"]
    names = await api.get("/api/v1/label/__name__/values", params=window)
    assert names.json()["data"] == [
        "http_requests_total",
        "latency_seconds_bucket",
        "latency_seconds_count",
        "latency_seconds_sum",
        "memory_usage_bytes",
    ]
    jobs = await api.get("/api/v1/label/job/values", params=window)
    assert jobs.json()["data"] == ["api", "shop/web"]
    le = await api.get("/api/v1/label/le/values", params={**window, "match[]": "latency_seconds_bucket"})
    assert le.json()["data"] == ["+Inf", "0.1", "1"]


@in_module_loop
async def test_metadata_gives_type_help_and_unit_per_family(api: httpx.AsyncClient) -> None:
    everything = await api.get("/api/v1/metadata")
    assert everything.json()["data"] == {
        "http_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}],
        "latency_seconds": [{"type": "histogram", "help": "", "unit": "seconds"}],
        "memory_usage_bytes": [{"type": "gauge", "help": "", "unit": "bytes"}],
    }
    one = await api.get("/api/v1/metadata", params={"metric": "latency_seconds"})
    assert list(one.json()["data"]) == ["latency_seconds"]
    first = await api.get("/api/v1/metadata", params={"limit": "1"})
    assert list(first.json()["data"]) == ["http_requests_total"]


@in_module_loop
async def test_buildinfo_names_the_prometheus_version_followed(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v1/status/buildinfo")
    assert answer.json() == {"status": "success", "data": BUILD_INFO}
    assert BUILD_INFO["version"] == "2.42.0"


@in_module_loop
async def test_the_routes_are_described_in_the_openapi_document(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert paths["/api/v1/query_range"]["post"]["summary"].startswith(
        "Evaluate a PromQL expression over a range"
    )
    assert set(paths) >= {
        "/api/v1/query",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/{name}/values",
        "/api/v1/metadata",
        "/api/v1/status/buildinfo",
    }
