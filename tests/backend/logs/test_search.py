"""GET /v1/logs: full-text search, each filter alone and combined, newest-first pages with a cursor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import NANOS
from tests.backend.logs.fixtures import T0, Record, write

MS = 1_000_000
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")
RANGE = {"start": str(T0 // NANOS - 1), "end": str(T0 // NANOS + 10)}
PAGES_T0 = T0 + 3600 * NANOS
"""The pagination test's own hour."""
PAGES_RANGE = {"start": str(PAGES_T0 // NANOS - 1), "end": str(PAGES_T0 // NANOS + 10)}

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECORDS = [
    Record(
        "Payment FAILED for order 42",
        T0 + 1 * MS,
        service="payments",
        severity=17,
        attributes={"logger": "pay", "order.id": "42"},
        resource={"region": "eu"},
        trace_id=TRACE,
        span_id=SPAN,
    ),
    Record("payment failed: card declined", T0 + 2 * MS, severity=13, attributes={"logger": "pay"}),
    Record("connection reset by peer", T0 + 3 * MS, severity=17, severity_text="Error"),
    Record("reconnection reset by peer", T0 + 4 * MS, attributes={"logger": ""}),
    Record("user_id=42 logged in", T0 + 5 * MS),
    Record("GET /api/v1/users took 15 ms", T0 + 6 * MS, severity=5),
    Record("façade ready", T0 + 7 * MS, resource={"region": "us"}),
]


async def bodies(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """The bodies the search answers, in its order (asserting it succeeded)."""
    response = await client.get("/v1/logs", params={**RANGE, **params})
    assert response.status_code == 200, response.text
    return [r["body"] for r in response.json()["records"]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(module_backend: ClickHouseBackend, module_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The module's service, with RECORDS written."""
    await write(module_backend, RECORDS)
    return module_client


async def test_a_record_comes_back_whole(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/logs", params={**RANGE, "q": "order"})
    [record] = response.json()["records"]
    time_ns = T0 + MS
    assert record == {
        "id": record["id"],
        "time": "2026-11-18T11:06:40.001000000Z",
        "time_unix_nano": str(time_ns),
        "severity_text": "ERROR",
        "severity_number": 17,
        "service": "payments",
        "body": "Payment FAILED for order 42",
        "trace_id": TRACE.hex(),
        "span_id": SPAN.hex(),
        "trace_flags": 0,
        "attributes": {"logger": "pay", "order.id": "42"},
        "resource": {"service.name": "payments", "region": "eu"},
        "scope": {"name": "tests", "version": ""},
        "event_name": "",
    }
    assert record["id"].startswith(f"{time_ns}-")
    assert response.json()["next_cursor"] is None


async def test_words_match_whole_tokens_ignoring_case(client: httpx.AsyncClient) -> None:
    assert await bodies(client, q="failed") == [
        "payment failed: card declined",
        "Payment FAILED for order 42",
    ]
    assert await bodies(client, q="PAYMENT Failed card") == ["payment failed: card declined"]
    assert await bodies(client, q="fail") == []  # a word is a whole token, not a prefix
    assert await bodies(client, q="failed", match_case="true") == ["payment failed: card declined"]
    assert await bodies(client, q="FAILED", match_case="true") == ["Payment FAILED for order 42"]


async def test_phrases_match_their_text_as_written_between_token_boundaries(
    client: httpx.AsyncClient,
) -> None:
    assert await bodies(client, q='"connection reset"') == ["connection reset by peer"]
    assert await bodies(client, q='"RESET BY peer"') == [
        "reconnection reset by peer",
        "connection reset by peer",
    ]
    assert await bodies(client, q='"peer by reset"') == []  # the words, not in this order
    assert await bodies(client, q='"failed for"') == ["Payment FAILED for order 42"]
    assert await bodies(client, q='"payment for"') == []  # not next to each other
    assert await bodies(client, q='"payment failed" declined') == ["payment failed: card declined"]


async def test_words_with_punctuation_match_as_typed(client: httpx.AsyncClient) -> None:
    assert await bodies(client, q="user_id=42") == ["user_id=42 logged in"]
    assert await bodies(client, q="42") == ["user_id=42 logged in", "Payment FAILED for order 42"]
    assert await bodies(client, q="/api/v1/users") == ["GET /api/v1/users took 15 ms"]
    assert await bodies(client, q="failed:") == ["payment failed: card declined"]
    assert await bodies(client, q="id=4") == []
    assert await bodies(client, q="façade") == ["façade ready"]


async def test_no_match_and_no_query(client: httpx.AsyncClient) -> None:
    assert await bodies(client, q="nothing") == []
    assert await bodies(client, q="failed nothing") == []
    assert len(await bodies(client)) == len(RECORDS)
    assert await bodies(client, limit="2") == ["façade ready", "GET /api/v1/users took 15 ms"]


async def test_each_filter_alone(client: httpx.AsyncClient) -> None:
    assert await bodies(client, service="payments") == ["Payment FAILED for order 42"]
    assert len(await bodies(client, service="api")) == 6
    assert await bodies(client, severity="error") == [
        "connection reset by peer",
        "Payment FAILED for order 42",
    ]
    assert await bodies(client, severity="Warn") == ["payment failed: card declined"]
    assert await bodies(client, min_severity="warn") == [
        "connection reset by peer",
        "payment failed: card declined",
        "Payment FAILED for order 42",
    ]
    assert await bodies(client, min_severity="17") == [
        "connection reset by peer",
        "Payment FAILED for order 42",
    ]
    assert await bodies(client, trace_id=TRACE.hex().upper()) == ["Payment FAILED for order 42"]
    assert await bodies(client, attr="logger:pay") == [
        "payment failed: card declined",
        "Payment FAILED for order 42",
    ]
    assert await bodies(client, attr="order.id:42") == ["Payment FAILED for order 42"]
    assert await bodies(client, attr="logger:") == ["reconnection reset by peer"]
    assert len(await bodies(client, attr="logger")) == 3  # the key is present
    assert await bodies(client, resource="region:us") == ["façade ready"]
    assert await bodies(client, resource="service.name:payments") == ["Payment FAILED for order 42"]
    window = {"start": f"{T0 // NANOS}.002", "end": f"{T0 // NANOS}.004"}
    response = await client.get("/v1/logs", params=window)
    assert [r["body"] for r in response.json()["records"]] == [
        "reconnection reset by peer",
        "connection reset by peer",
        "payment failed: card declined",
    ]


async def test_filters_combine_and_repeat(client: httpx.AsyncClient) -> None:
    assert await bodies(client, q="failed", min_severity="error") == ["Payment FAILED for order 42"]
    assert await bodies(client, q="reset", severity="error", attr="logger") == []
    params = [("service", "payments"), ("service", "api"), ("q", "payment"), ("attr", "logger:pay")]
    response = await client.get("/v1/logs", params=[*RANGE.items(), *params])
    assert [r["body"] for r in response.json()["records"]] == [
        "payment failed: card declined",
        "Payment FAILED for order 42",
    ]
    both = [("attr", "logger:pay"), ("attr", "order.id:42"), ("resource", "region:eu")]
    response = await client.get("/v1/logs", params=[*RANGE.items(), *both])
    assert [r["body"] for r in response.json()["records"]] == ["Payment FAILED for order 42"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"q": '"open'}, 'q: has an unbalanced quote (")'),
        ({"trace_id": "xyz"}, "trace_id: 'xyz' is not 32 hex digits"),
        ({"min_severity": "loud"}, "min_severity: 'loud' is not a severity number or trace|debug|"),
        ({"min_severity": "300"}, "min_severity: 300 must be between 0 and 255"),
        ({"attr": ":v"}, "attr: ':v' must be key:value or key"),
        ({"match_case": "maybe"}, "match_case: 'maybe' is not true or false"),
        ({"limit": "0"}, "limit: 0 must be between 1 and 10000"),
        ({"start": "20", "end": "10"}, "start, end: the end is before the start"),
        ({"q": "x" * 1001}, "q: is longer than 1000 characters"),
        ({"q": " ".join(f"w{i}" for i in range(33))}, "q: has more than 32 distinct words"),
    ],
)
async def test_bad_input_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    response = await client.get("/v1/logs", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


async def test_pages_cover_every_record_once_across_equal_timestamps(
    module_backend: ClickHouseBackend, client: httpx.AsyncClient
) -> None:
    same = PAGES_T0 + 500 * MS
    records = [Record(f"tick {i}", PAGES_T0 + i * MS) for i in range(8)]
    records += [Record(f"tock {i}", same) for i in range(12)]
    records += [Record("tock twin", same), Record("tock twin", same)]  # equal in time and content
    records += [Record(f"tuck {i}", PAGES_T0 + 900 * MS + i * MS) for i in range(5)]
    await write(module_backend, records)

    for limit in (1, 3, 4, 7, 30):
        seen = await every_page(client, limit)
        assert sorted(r["body"] for r in seen) == sorted(r.body for r in records), limit
        keys = [(int(r["time_unix_nano"]), int(r["id"].split("-")[1], 16)) for r in seen]
        assert keys == sorted(keys, reverse=True)  # newest first, ties in one order on every page


async def every_page(client: httpx.AsyncClient, limit: int) -> list[dict[str, Any]]:
    """Every record of the pagination window, following next_cursor page by page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(40):
        params = {**PAGES_RANGE, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/logs", params=params)).json()
        assert 1 <= len(page["records"]) <= limit
        seen += page["records"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("more pages than records")


async def test_a_tampered_or_foreign_cursor_is_a_400(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1/logs", params={**RANGE, "limit": "2"})).json()
    cursor = first["next_cursor"]
    assert cursor
    second = await client.get("/v1/logs", params={**RANGE, "limit": "2", "cursor": cursor})
    assert second.status_code == 200
    assert [r["body"] for r in second.json()["records"]] == [
        "user_id=42 logged in",
        "reconnection reset by peer",
    ]
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad in (flipped, cursor[:-2], "garbage!", cursor + "AAAA"):
        response = await client.get("/v1/logs", params={**RANGE, "limit": "2", "cursor": bad})
        assert response.status_code == 400
        assert response.json()["error"].startswith("cursor: ")
    other_query = await client.get("/v1/logs", params={**RANGE, "q": "peer", "cursor": cursor})
    assert other_query.status_code == 400
    assert "belongs to a query with other parameters" in other_query.json()["error"]
