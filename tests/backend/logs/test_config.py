"""The logs_service extension's config and factory."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.logs.config import LogsServiceConfig
from backend.logs.factory import FACTORY
from collector.auth.setting import AuthSetting
from collector.component import ComponentId
from collector.errors import ConfigError


def test_defaults_serve_on_8002_from_the_main_backend() -> None:
    config = FACTORY.default_config()
    assert isinstance(config, LogsServiceConfig)
    assert (config.endpoint, config.storage, config.storage_extension) == (
        "127.0.0.1:8002",
        "main",
        "clickhouse_storage",
    )
    assert config.tail_poll_interval == timedelta(seconds=1)
    assert FACTORY.type == "logs_service"
    config.auth = AuthSetting("auth")
    config.validate()
    assert list(FACTORY.dependencies(config)) == [ComponentId("clickhouse_storage"), ComponentId("auth")]


def test_every_bad_key_is_reported_with_its_name() -> None:
    config = LogsServiceConfig(
        endpoint="nowhere",
        tail_poll_interval=timedelta(0),
        tail_lateness=timedelta(seconds=-1),
        tail_max_streams=0,
        tail_max_rate=0,
        tail_max_lag=timedelta(0),
        tail_keepalive=timedelta(0),
    )  # and no auth::authenticator
    with pytest.raises(ConfigError) as err:
        config.validate()
    assert {p.path for p in err.value.problems} == {
        "endpoint",
        "tail_poll_interval",
        "tail_lateness",
        "tail_max_streams",
        "tail_max_rate",
        "tail_max_lag",
        "tail_keepalive",
        "auth::authenticator",
    }
