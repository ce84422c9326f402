"""The `nop` exporter accepts every batch of every signal and keeps nothing."""

from __future__ import annotations

import logging

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.component import ComponentId, Kind, Settings
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from exporters.nop.factory import FACTORY


async def test_accepts_and_drops() -> None:
    settings = Settings(ComponentId("nop"), Kind.EXPORTER, MetricsRegistry(), logging.getLogger("nop"))
    exporter = FACTORY.create(settings, FACTORY.default_config(), Signal.LOGS)
    await exporter.start(None)  # type: ignore[arg-type]
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=1)
    await exporter.consume(Batch.from_otlp(request))
    await exporter.shutdown()
    assert set(FACTORY.signals) == set(Signal)
