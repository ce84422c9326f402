"""Relay pagination of searchTraces and logs: walking pages with `first`/`after` until hasNextPage is
false yields every item exactly once, in the order of a single big page; any edge's cursor resumes
right after that edge; a cursor the API did not return is BAD_USER_INPUT.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.conftest import Stack
from tests.gateway.telemetry import TENANTS, TRACES, trace_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRACES_PAGE = """query($filter: TraceFilter, $first: Int!, $after: String) {
  searchTraces(filter: $filter, first: $first, after: $after) {
    edges { cursor node { traceId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
LOGS_PAGE = """query($filter: LogFilter, $first: Int!, $after: String) {
  logs(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id body } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
TRACE_LOGS_PAGE = """query($id: ID!, $first: Int!, $after: String) { trace(traceId: $id) {
  logs(first: $first, after: $after) {
    edges { cursor node { id body } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


async def page(stack: Stack, query: str, path: list[str], **variables: Any) -> dict[str, Any]:
    answer = await stack.graphql(query, variables)
    assert "errors" not in answer, answer
    found: dict[str, Any] = answer["data"]
    for key in path:
        found = found[key]
    return found


async def walk(stack: Stack, query: str, path: list[str], first: int, **variables: Any) -> list[list[str]]:
    """Every page's item ids, following endCursor until hasNextPage is false."""
    pages: list[list[str]] = []
    after = None
    while True:
        connection = await page(stack, query, path, first=first, after=after, **variables)
        edges, info = connection["edges"], connection["pageInfo"]
        ids = [edge["node"].get("traceId") or edge["node"]["id"] for edge in edges]
        pages.append(ids)
        assert info["hasPreviousPage"] is (after is not None)
        assert (info["startCursor"], info["endCursor"]) == (
            (edges[0]["cursor"], edges[-1]["cursor"]) if edges else (None, None)
        )
        if not info["hasNextPage"]:
            return pages
        assert len(ids) == first
        after = info["endCursor"]
        assert len(pages) <= 50, "pagination does not end"


@pytest.mark.parametrize("first", [1, 2, 4, 6])
async def test_search_traces_pages_cover_every_trace_once_in_order(open_stack: Stack, first: int) -> None:
    whole = await page(open_stack, TRACES_PAGE, ["searchTraces"], first=100)
    everything = [edge["node"]["traceId"] for edge in whole["edges"]]
    assert sorted(everything) == sorted(trace_id(t, n) for t in TENANTS for n in range(TRACES))
    assert whole["pageInfo"]["hasNextPage"] is False
    pages = await walk(open_stack, TRACES_PAGE, ["searchTraces"], first)
    assert [len(p) for p in pages[:-1]] == [first] * (len(pages) - 1)
    assert [trace for p in pages for trace in p] == everything


async def test_search_traces_pages_keep_the_first_pages_filter(open_stack: Stack) -> None:
    errors = {"status": "ERROR"}
    pages = await walk(open_stack, TRACES_PAGE, ["searchTraces"], 1, filter=errors)
    whole = await page(open_stack, TRACES_PAGE, ["searchTraces"], first=10, filter=errors)
    assert pages == [[e["node"]["traceId"]] for e in whole["edges"]]
    assert sorted(trace for p in pages for trace in p) == [trace_id("acme", 0), trace_id("globex", 0)]


async def test_search_traces_resumes_after_any_edge(open_stack: Stack) -> None:
    first_page = await page(open_stack, TRACES_PAGE, ["searchTraces"], first=4)
    everything = [
        e["node"]["traceId"]
        for e in (await page(open_stack, TRACES_PAGE, ["searchTraces"], first=100))["edges"]
    ]
    for i, edge in enumerate(first_page["edges"]):
        rest = await page(open_stack, TRACES_PAGE, ["searchTraces"], first=100, after=edge["cursor"])
        assert [e["node"]["traceId"] for e in rest["edges"]] == everything[i + 1 :]


@pytest.mark.parametrize("first", [1, 5, 12])
async def test_logs_pages_cover_every_record_once_in_order(open_stack: Stack, first: int) -> None:
    whole = await page(open_stack, LOGS_PAGE, ["logs"], first=1000)
    everything = [edge["node"]["id"] for edge in whole["edges"]]
    assert len(everything) == len(set(everything)) == len(TENANTS) * TRACES * 2
    bodies = [edge["node"]["body"] for edge in whole["edges"]]
    assert sorted(bodies) == sorted(
        f"{t} order {n} handled by {s}"
        for t in TENANTS
        for n in range(TRACES)
        for s in ("frontend", "backend")
    )
    pages = await walk(open_stack, LOGS_PAGE, ["logs"], first)
    assert [record for p in pages for record in p] == everything
    assert len(pages) == -(-len(everything) // first)  # a full last page already says hasNextPage false


async def test_logs_pages_with_a_filter(open_stack: Stack) -> None:
    pages = await walk(open_stack, LOGS_PAGE, ["logs"], 2, filter={"query": "acme"})
    whole = await page(open_stack, LOGS_PAGE, ["logs"], first=100, filter={"query": "acme"})
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [r for p in pages for r in p] == [e["node"]["id"] for e in whole["edges"]]
    assert all(e["node"]["body"].startswith("acme ") for e in whole["edges"])


async def test_logs_resume_after_any_edge(open_stack: Stack) -> None:
    everything = [e["node"]["id"] for e in (await page(open_stack, LOGS_PAGE, ["logs"], first=100))["edges"]]
    first_page = await page(open_stack, LOGS_PAGE, ["logs"], first=5)
    second_page = await page(
        open_stack, LOGS_PAGE, ["logs"], first=5, after=first_page["pageInfo"]["endCursor"]
    )
    for offset, edges in ((0, first_page["edges"]), (5, second_page["edges"])):
        for i, edge in enumerate(edges):
            rest = await page(open_stack, LOGS_PAGE, ["logs"], first=3, after=edge["cursor"])
            assert [e["node"]["id"] for e in rest["edges"]] == everything[offset + i + 1 : offset + i + 4]
            assert rest["pageInfo"]["hasNextPage"] is (offset + i + 4 < len(everything))


async def test_a_traces_logs_page_too(open_stack: Stack) -> None:
    trace = trace_id("acme", 1)
    pages = await walk(open_stack, TRACE_LOGS_PAGE, ["trace", "logs"], 1, id=trace)
    assert len(pages) == 2
    whole = await page(open_stack, TRACE_LOGS_PAGE, ["trace", "logs"], id=trace, first=10)
    assert [r for p in pages for r in p] == [e["node"]["id"] for e in whole["edges"]]
    assert [e["node"]["body"] for e in whole["edges"]] == [
        "acme order 1 handled by backend",
        "acme order 1 handled by frontend",
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [(TRACES_PAGE, "searchTraces"), (LOGS_PAGE, "logs")],
)
@pytest.mark.parametrize("cursor", ["garbage", "bm90IGpzb24=", "WzEsMl0=", "eyJjIjo1LCJvIjoieCJ9"])
async def test_a_cursor_the_api_did_not_return_is_bad_user_input(
    open_stack: Stack, query: str, field: str, cursor: str
) -> None:
    # Not base64; base64 of "not json"; of a JSON list; of {"c": 5, "o": "x"}.
    answer = await open_stack.graphql(query, {"first": 2, "after": cursor})
    assert answer["status"] == 200
    assert answer["data"] == {field: None}
    [error] = answer["errors"]
    assert error["path"] == [field]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "after: is not a cursor this API returned"


async def test_a_logs_cursor_of_another_query_is_refused_by_the_service(open_stack: Stack) -> None:
    first_page = await page(open_stack, LOGS_PAGE, ["logs"], first=2, filter={"query": "acme"})
    answer = await open_stack.graphql(
        LOGS_PAGE, {"first": 2, "after": first_page["pageInfo"]["endCursor"], "filter": {"query": "globex"}}
    )
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "service": "logs"}
    assert "belongs to a query with other parameters" in error["message"]


@pytest.mark.parametrize(
    ("query", "field", "maximum"), [(TRACES_PAGE, "searchTraces", 1000), (LOGS_PAGE, "logs", 1000)]
)
@pytest.mark.parametrize("first", [0, -1, 1001])
async def test_first_out_of_range_is_bad_user_input(
    open_stack: Stack, query: str, field: str, maximum: int, first: int
) -> None:
    answer = await open_stack.graphql(query, {"first": first})
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"first: {first} must be between 1 and {maximum}"
