"""The `nop` receiver: a pipeline placeholder that starts, stops and sends nothing."""

from __future__ import annotations

import logging

from collector.component import ComponentId, Kind, Settings
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from receivers.nop.factory import FACTORY
from tests.components import JOURNAL


async def test_starts_and_stops_and_sends_nothing() -> None:
    settings = Settings(ComponentId("nop"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger("nop"))
    receiver = FACTORY.create(settings, FACTORY.default_config(), {})
    await receiver.start(None)  # type: ignore[arg-type]
    await receiver.shutdown()
    await receiver.shutdown()
    assert JOURNAL.events == []
    assert set(FACTORY.signals) == set(Signal)
