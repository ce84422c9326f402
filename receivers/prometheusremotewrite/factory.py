"""The `prometheusremotewrite` receiver's factory and the receiver: one HTTP server per id.

Imports cheaply: starlette and uvicorn are imported by `start`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from collector.component import Consumer, Host, ReceiverFactory, Settings, Stability
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import ReceiverTelemetry
from receivers.prometheusremotewrite.config import PrometheusRemoteWriteReceiverConfig
from receivers.prometheusremotewrite.translate import RemoteWriteTranslator

if TYPE_CHECKING:
    from receivers.prometheusremotewrite.server import RemoteWriteHttpServer

__all__ = ["FACTORY", "PrometheusRemoteWriteReceiver", "create_receiver"]


def _airis_version() -> str:
    try:
        return version("airis")
    except PackageNotFoundError:
        return "dev"


class PrometheusRemoteWriteReceiver:
    """Serves remote write 1.0 and hands each request on to the metrics pipeline as one OTLP batch."""

    def __init__(
        self, settings: Settings, config: PrometheusRemoteWriteReceiverConfig, next_consumer: Consumer
    ) -> None:
        self.settings = settings
        self.config = config
        self.next = next_consumer
        self.what = f"receiver {settings.id}"
        self.translator = RemoteWriteTranslator(
            "airis", _airis_version(), config.trim_metric_suffixes, max_series=config.max_cached_series
        )
        self.telemetry = ReceiverTelemetry(settings.telemetry, str(settings.id), "http")
        self.server: RemoteWriteHttpServer | None = None
        self._lock = asyncio.Lock()

    @property
    def port(self) -> int:
        """The bound port, 0 before start."""
        return self.server.port if self.server is not None else 0

    async def start(self, host: Host) -> None:
        """Bind the endpoint; OSError naming it if it cannot listen."""
        async with self._lock:
            if self.server is not None:
                return
            from receivers.prometheusremotewrite.server import RemoteWriteHttpServer

            server = RemoteWriteHttpServer(self, self.config)
            await server.start()
            self.server = server

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish; idempotent and safe without start."""
        async with self._lock:
            server, self.server = self.server, None
            if server is not None:
                await server.shutdown()

    async def write(self, body: bytes) -> None:
        """Translate one decompressed WriteRequest and hand it on (InvalidWriteRequestError if invalid).

        Raises what the next consumer raises, after counting the points as refused.
        """
        translation = self.translator.translate(body)
        if translation.points == 0:
            return
        batch = Batch.from_otlp_bytes(Signal.METRICS, translation.otlp)
        try:
            await self.next.consume(batch)
        except BaseException:
            self.telemetry.refused(Signal.METRICS, translation.points)
            raise
        self.telemetry.accepted(Signal.METRICS, translation.points)


def create_receiver(
    settings: Settings, config: PrometheusRemoteWriteReceiverConfig, nexts: Mapping[Signal, Consumer]
) -> PrometheusRemoteWriteReceiver:
    """The receiver feeding the metrics pipelines; no I/O until `start`."""
    if Signal.METRICS not in nexts:
        raise ValueError("the prometheusremotewrite receiver only produces metrics")
    return PrometheusRemoteWriteReceiver(settings, config, nexts[Signal.METRICS])


FACTORY: ReceiverFactory[PrometheusRemoteWriteReceiverConfig] = ReceiverFactory(
    type="prometheusremotewrite",
    config_type=PrometheusRemoteWriteReceiverConfig,
    create=create_receiver,
    signals={Signal.METRICS: Stability.ALPHA},
)
