"""The health_check extension answers on its path only, with the collector's bodies."""

from __future__ import annotations

import logging

import httpx

from collector.component import ComponentId, Kind, ServiceStatus, Settings
from collector.configstruct import decode
from collector.telemetry import MetricsRegistry
from extensions.health_check.extension import HealthCheck
from extensions.health_check.factory import HealthCheckConfig


class FakeHost:
    """Only the status part of a Host matters here."""

    status = ServiceStatus.STARTING

    def extension(self, id: ComponentId) -> object:
        raise KeyError(id)

    def extensions(self) -> dict[ComponentId, object]:
        return {}


async def test_it_follows_the_service_status_on_its_path() -> None:
    settings = Settings(
        ComponentId("health_check"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("t")
    )
    check = HealthCheck(settings, HealthCheckConfig(endpoint="127.0.0.1:0", path="/health"))
    host = FakeHost()
    await check.start(host)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{check.port}") as client:
            assert (await client.get("/health")).status_code == 503
            host.status = ServiceStatus.RUNNING
            response = await client.get("/health")
            assert response.status_code == 200
            assert response.json()["status"] == "Server available"
            assert (await client.get("/")).status_code == 404
    finally:
        await check.shutdown()
        await check.shutdown()


def test_its_config_is_checked() -> None:
    _, problems = decode(
        HealthCheckConfig, {"endpoint": "nope", "path": "health"}, "extensions::health_check"
    )
    assert [str(p) for p in problems] == [
        "extensions::health_check: 'nope' is not a host:port address (e.g. 127.0.0.1:8888)"
    ]
    _, problems = decode(HealthCheckConfig, {"path": "health"}, "extensions::health_check")
    assert [str(p) for p in problems] == ["extensions::health_check: path 'health' must start with '/'"]
