"""The logs_service extension: its routes, /health and OpenAPI document on its own endpoint."""

from __future__ import annotations

import httpx


async def test_the_service_lists_its_routes_and_answers_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "airis log service"}
    document = (await client.get("/openapi.json")).json()
    assert set(document["paths"]) == {
        "/v1/logs",
        "/v1/logs/facets",
        "/v1/logs/histogram",
        "/v1/logs/tail",
        "/health",
    }
    assert document["paths"]["/v1/logs/tail"]["get"]["summary"] == (
        "Live tail: matching records as they land, as Server-Sent Events (resume with Last-Event-ID)."
    )
    assert (await client.get("/v1/logs")).json() == {"records": [], "next_cursor": None}
