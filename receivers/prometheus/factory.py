"""The `prometheus` receiver's factory and the receiver: one `ScrapeJob` per scrape config.

Imports cheaply: httpx and the scraping code are imported by `start`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from collector.component import Consumer, Host, ReceiverFactory, Settings, Stability
from collector.signal import Signal
from receivers.prometheus.config import PrometheusReceiverConfig

if TYPE_CHECKING:
    from receivers.prometheus.scrape import ScrapeJob

__all__ = ["FACTORY", "PrometheusReceiver", "create_receiver"]


class PrometheusReceiver:
    """Scrapes the configured Prometheus targets and hands their metrics to the metrics pipeline."""

    def __init__(
        self, settings: Settings, config: PrometheusReceiverConfig, nexts: Mapping[Signal, Consumer]
    ) -> None:
        self.settings, self.config = settings, config
        self.consumer = nexts[Signal.METRICS]
        self.jobs: list[ScrapeJob] = []
        self._lock = asyncio.Lock()

    async def start(self, host: Host) -> None:
        """Start every scrape job (ConfigError naming the key of an unusable TLS file)."""
        from collector.telemetry import ReceiverTelemetry
        from receivers.prometheus.scrape import ScrapeJob

        async with self._lock:
            if self.jobs:
                return
            prometheus = self.config.prometheus()
            telemetry = ReceiverTelemetry(self.settings.telemetry, str(self.settings.id), "http")
            base = f"receivers::{self.settings.id}::config::scrape_configs"
            try:
                for i, job_config in enumerate(prometheus.scrape_configs):
                    job = ScrapeJob(
                        job_config,
                        prometheus.global_,
                        self.consumer,
                        telemetry,
                        self.settings.logger,
                        f"{base}::{i}",
                        user_agent=f"airis/{_version()}",
                    )
                    self.jobs.append(job)
                    await job.start()
            except BaseException:
                await self._stop_jobs()
                raise

    async def shutdown(self) -> None:
        """Stop scraping; idempotent and safe without start."""
        async with self._lock:
            await self._stop_jobs()

    async def _stop_jobs(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            await job.stop()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("airis")
    except PackageNotFoundError:
        return "dev"


def create_receiver(
    settings: Settings, config: PrometheusReceiverConfig, nexts: Mapping[Signal, Consumer]
) -> PrometheusReceiver:
    """One receiver for all the scrape jobs; no I/O until `start`."""
    return PrometheusReceiver(settings, config, nexts)


FACTORY: ReceiverFactory[PrometheusReceiverConfig] = ReceiverFactory(
    type="prometheus",
    config_type=PrometheusReceiverConfig,
    create=create_receiver,
    signals={Signal.METRICS: Stability.BETA},
)
