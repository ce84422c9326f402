"""GET /v1/logs/histogram: matching records per time bucket, optionally per severity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.logs.histogram import auto_step, bucket_count
from backend.service import NANOS
from tests.backend.logs.fixtures import T0, Record, write

pytestmark = pytest.mark.asyncio(loop_scope="module")
S = NANOS
START = T0 // S  # T0 is a whole minute plus 40 s: 11:06:40
RECORDS = [
    Record("a", T0),
    Record("b", T0 + 5 * S, severity=17),
    Record("c", T0 + 19 * S + S - 1),  # last nanosecond of 11:06:59
    Record("d", T0 + 20 * S, severity=17),  # 11:07:00
    Record("e", T0 + 65 * S, service="other"),  # 11:07:45
    Record("outside", T0 + 200 * S),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(module_backend: ClickHouseBackend, module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The module's service, with RECORDS written."""
    await write(module_backend, RECORDS)
    return module_client


async def histogram(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/v1/logs/histogram", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_buckets_are_aligned_to_the_step_and_empty_ones_count_zero(client: httpx.AsyncClient) -> None:
    result = await histogram(client, start=str(START), end=str(START + 120), step="1m")
    assert result["step_ns"] == str(60 * S)
    assert result["total"] == 5
    assert [(b["time"], b["count"]) for b in result["buckets"]] == [
        ("2026-11-18T11:06:00.000000000Z", 3),
        ("2026-11-18T11:07:00.000000000Z", 2),
        ("2026-11-18T11:08:00.000000000Z", 0),
    ]
    assert result["buckets"][1]["time_unix_nano"] == str((START + 20) * S)


async def test_counts_per_severity_and_filters(client: httpx.AsyncClient) -> None:
    result = await histogram(client, start=str(START), end=str(START + 119), step="20s", by="severity")
    assert [(b["count"], b["severity"]) for b in result["buckets"]] == [
        (3, {"INFO": 2, "ERROR": 1}),  # 11:06:40 (a, b and c)
        (1, {"ERROR": 1}),  # 11:07:00
        (0, {}),  # 11:07:20
        (1, {"INFO": 1}),  # 11:07:40
        (0, {}),  # 11:08:00
        (0, {}),  # 11:08:20
    ]
    assert [b["time"][11:19] for b in result["buckets"]][:2] == ["11:06:40", "11:07:00"]
    only = await histogram(client, start=str(START), end=str(START + 119), step="20s", min_severity="error")
    assert [b["count"] for b in only["buckets"]] == [1, 1, 0, 0, 0, 0]
    other = await histogram(client, start=str(START), end=str(START + 119), step="1m", service="other")
    assert [b["count"] for b in other["buckets"]] == [0, 1, 0]  # 11:06, 11:07, 11:08


async def test_without_a_step_one_is_chosen_with_at_most_about_100_buckets(client: httpx.AsyncClient) -> None:
    result = await histogram(client, start=str(START - 3600), end=str(START + 3600))
    assert result["step_ns"] == str(120 * S)
    assert len(result["buckets"]) == bucket_count((START - 3600) * S, (START + 3600) * S, 120 * S) <= 100
    assert result["total"] == 6


async def test_automatic_steps_are_round() -> None:
    assert auto_step(0, 60 * S) == 1 * S
    assert auto_step(0, 3600 * S) == 60 * S
    assert auto_step(0, 86400 * S) == 900 * S
    assert auto_step(0, 365 * 86400 * S) == 604800 * S
    assert bucket_count(0, 10 * 365 * 86400 * S, auto_step(0, 10 * 365 * 86400 * S)) <= 100


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"step": "1s", "start": "0", "end": "3600"},
            "step: gives 3601 buckets over the range, at most 1000",
        ),
        ({"step": "0s"}, "step: must be positive"),
        ({"step": "soon"}, "step: 'soon' is not a duration"),
        ({"by": "service"}, "by: 'service' is not a breakdown (severity)"),
    ],
)
async def test_too_many_buckets_and_bad_steps_are_400s(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    response = await client.get("/v1/logs/histogram", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
