"""The `traces_service` extension: its config, its factory, and its app served on its endpoint."""

from __future__ import annotations

import httpx
import pytest

from backend.clickhouse.backend import ClickHouseBackend
from backend.service import ServiceConfig, storage_dependency
from backend.traces.config import TracesServiceConfig
from backend.traces.factory import FACTORY
from backend.traces.service import TracesService
from collector.component import ComponentId
from collector.errors import ConfigError
from collector.pdata import Batch
from exporters.clickhouse import traces
from tests.backend.conftest import BackendHost, extension_settings, no_auth
from tests.backend.traces import traces_data


def test_factory_defaults_and_dependency_on_storage() -> None:
    config = FACTORY.default_config()
    assert FACTORY.type == "traces_service"
    assert isinstance(config, TracesServiceConfig) and isinstance(config, ServiceConfig)
    assert config.endpoint == "127.0.0.1:8003" and config.storage == "main"
    assert FACTORY.dependencies is storage_dependency
    assert list(FACTORY.dependencies(config)) == [ComponentId("clickhouse_storage")]  # auth not set yet
    assert isinstance(FACTORY.create(extension_settings("traces_service"), config), TracesService)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        TracesServiceConfig(endpoint="nowhere", max_limit=0, max_concurrent_queries=0).validate()
    assert {p.path for p in err.value.problems} == {
        "endpoint",
        "max_limit",
        "max_concurrent_queries",
        "auth::authenticator",
    }
    TracesServiceConfig(auth=no_auth()).validate()


async def test_the_service_answers_on_its_endpoint(clickhouse_backend: ClickHouseBackend) -> None:
    await traces.write(clickhouse_backend, "otel_traces", Batch.from_otlp(traces_data.request()))
    service = TracesService(
        extension_settings("traces_service"), TracesServiceConfig(endpoint="127.0.0.1:0", auth=no_auth())
    )
    await service.start(BackendHost(clickhouse_backend))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            health = (await client.get("/health")).json()
            assert health == {"status": "ok", "service": "airis trace service"}
            trace = (await client.get(f"/api/traces/{traces_data.ORDER}")).json()["data"][0]
            assert [s["operationName"] for s in trace["spans"]] == ["process order", "UPDATE stock"]
            native = (await client.get(f"/v1/traces/{traces_data.CHECKOUT}")).json()
            assert len(native["spans"]) == 6
    finally:
        await service.shutdown()
        await service.shutdown()
