"""The `metrics_service` extension: its factory and config, and the app it serves (native + Prometheus routes)."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from backend.clickhouse.backend import ClickHouseBackend
from backend.metrics.config import MetricsServiceConfig
from backend.metrics.factory import FACTORY
from backend.metrics.prometheus_api import prometheus_routes
from backend.metrics.service import MetricsService
from backend.service import Store
from collector.component import ComponentId, Kind
from collector.errors import ConfigError
from tests.backend.conftest import (
    BackendHost,
    backend_config,
    chdb_folder,
    clickhouse_backend,
    extension_settings,
    no_auth,
)

__all__ = ["backend_config", "chdb_folder", "clickhouse_backend"]  # the chDB fixtures, used by name


def test_factory_makes_a_metrics_service_on_8001_after_its_storage() -> None:
    config = FACTORY.default_config()
    assert (FACTORY.type, FACTORY.kind) == ("metrics_service", Kind.EXTENSION)
    assert (config.endpoint, config.storage, config.max_series, config.max_points) == (
        "127.0.0.1:8001",
        "main",
        400,
        11_000,
    )
    assert list(FACTORY.dependencies(config)) == [ComponentId("clickhouse_storage")]  # auth not set yet
    assert isinstance(FACTORY.create(extension_settings("metrics_service"), config), MetricsService)


def test_config_reports_every_problem_with_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        MetricsServiceConfig(endpoint="nowhere", max_series=0, max_points=-1).validate()
    assert [p.path for p in caught.value.problems] == [
        "endpoint",
        "auth::authenticator",
        "max_series",
        "max_points",
    ]
    MetricsServiceConfig(auth=no_auth()).validate()


async def test_service_serves_the_native_and_the_prometheus_routes(
    clickhouse_backend: ClickHouseBackend,
) -> None:
    config = MetricsServiceConfig(endpoint="127.0.0.1:0", auth=no_auth())
    service = MetricsService(extension_settings("metrics_service"), config)
    await service.start(BackendHost(clickhouse_backend))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            assert (await client.get("/health")).json() == {
                "status": "ok",
                "service": "airis metrics service",
            }
            assert (await client.get("/v1/metrics")).json() == {"metrics": []}
            bad = await client.get("/v1/query_range", params={"agg": "sum"})
            assert (bad.status_code, bad.json()) == (400, {"error": "metric: is required"})
            # ({name:path} takes names with "/", which OTel allows)
            paths = {p.replace(":path", "") for p in (await client.get("/openapi.json")).json()["paths"]}
    finally:
        await service.shutdown()
    native = {
        "/v1/metrics",
        "/v1/metrics/{name}/labels",
        "/v1/metrics/{name}/labels/{label}/values",
        "/v1/query_range",
    }
    prometheus = {
        r.path for r in prometheus_routes(Store(clickhouse_backend, config), config) if isinstance(r, Route)
    }
    assert native | prometheus <= paths
