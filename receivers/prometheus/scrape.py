"""Scraping: one `ScrapeJob` per scrape config (an httpx client, its targets) and one loop per target.

Each target is scraped every interval, at an offset within the interval derived from the target
(as Prometheus spreads its scrapes). Bodies above 256 KiB are converted in a worker thread so the
event loop stays responsive. A target removed from discovery gets staleness points for all its
series; shutting down does not (as in Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from collector.pdata import Batch
from collector.signal import Signal
from collector.tlsconfig import TlsClientConfig, client_ssl_context
from receivers.prometheus.config import parse_prom_duration
from receivers.prometheus.convert import ScrapeConverter, ScrapeResult
from receivers.prometheus.discovery import Target, TargetGroup, build_targets, file_groups, static_groups
from receivers.prometheus.relabel import compile_rules
from receivers.prometheus.textparse import OPENMETRICS_ACCEPT

if TYPE_CHECKING:
    from collector.component import Consumer
    from collector.telemetry import ReceiverTelemetry
    from receivers.prometheus.config import GlobalConfig, ScrapeConfig

__all__ = ["ScrapeJob", "TargetScraper", "ssl_context"]

THREAD_THRESHOLD = 256 * 1024
_TLS_MINIMUM = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def ssl_context(config: ScrapeConfig, path: str) -> ssl.SSLContext:
    """The job's TLS context from its `tls_config` (ConfigError naming a key whose file is unusable)."""
    tls = config.tls_config
    client = TlsClientConfig(
        ca_file=tls.ca_file,
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        insecure_skip_verify=tls.insecure_skip_verify,
    )
    context = client_ssl_context(client, f"{path}::tls_config")
    context.minimum_version = _TLS_MINIMUM.get(tls.min_version, ssl.TLSVersion.TLSv1_2)
    return context


class _QuietScrapes(logging.Filter):
    """Drops httpx's INFO line per request when a scrape loop makes it (one per target and interval)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return True
        return task is None or not task.get_name().startswith(TASK_PREFIX)


TASK_PREFIX = "prometheus scrape "
_QUIET = _QuietScrapes()


def _read_secret(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


class TargetScraper:
    """Scrapes one target on its interval and hands each scrape's metrics to the consumer."""

    def __init__(self, job: ScrapeJob, target: Target) -> None:
        self.job, self.target = job, target
        config = job.config
        self.converter = ScrapeConverter(
            target.label("job") or config.job_name,
            target.label("instance"),
            target.scheme,
            target.public_labels,
            honor_labels=config.honor_labels,
            honor_timestamps=config.honor_timestamps,
            metric_relabel=job.metric_rules,
            external_labels=job.global_.external_labels,
            sample_limit=config.sample_limit,
            keep_scrapes=max(2, int(max(300.0, 2 * target.interval) / target.interval)),
        )
        self.task: asyncio.Task[None] | None = None
        self.work: asyncio.Future[ScrapeResult] | None = None
        self.healthy = True

    def start(self) -> None:
        """Begin scraping (after the target's offset within the interval)."""
        self.task = asyncio.create_task(self._run(), name=f"{TASK_PREFIX}{self.target.url}")

    async def stop(self, stale: bool) -> None:
        """Stop scraping; with `stale`, send staleness points for everything last scraped."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.work is not None:
            with contextlib.suppress(Exception):
                await self.work  # a conversion running in a thread must finish first
        if stale:
            await self.job.deliver(self.converter.ended(int(time.time() * 1000)))

    def offset(self) -> float:
        """Where in the interval this target is scraped (stable per target, spread across targets)."""
        digest = hashlib.sha256(repr(self.target.labels).encode() + self.target.url.encode()).digest()
        return int.from_bytes(digest[:8], "big") % max(1, int(self.target.interval * 1000)) / 1000

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.target.interval
        await asyncio.sleep(self.offset())
        next_at = loop.time()
        while True:
            result = await self.scrape_once()
            await self.job.deliver(result)
            next_at += interval
            now = loop.time()
            if next_at < now:  # too slow: skip the ticks already missed
                next_at += interval * ((now - next_at) // interval + 1)
            await asyncio.sleep(next_at - now)

    async def scrape_once(self) -> ScrapeResult:
        """Scrape now and convert the body (or report the failure)."""
        started = time.time()
        started_ms = int(started * 1000)
        try:
            body, content_type = await self.job.fetch(self.target)
        except Exception as err:
            duration = time.time() - started
            self._log_failure(str(err) or type(err).__name__)
            return self.converter.failed(started_ms, duration, str(err))
        duration = time.time() - started
        if len(body) > THREAD_THRESHOLD:
            self.work = asyncio.ensure_future(
                asyncio.to_thread(self.converter.convert, body, content_type, started_ms, duration)
            )
            try:
                result = await asyncio.shield(self.work)
            finally:
                if self.work.done():
                    self.work = None
        else:
            result = self.converter.convert(body, content_type, started_ms, duration)
        if result.up:
            if not self.healthy:
                self.job.logger.info("target %s is up again", self.target.url)
            self.healthy = True
        else:
            self._log_failure(result.error)
        return result

    def _log_failure(self, error: str) -> None:
        level = logging.WARNING if self.healthy else logging.DEBUG
        self.job.logger.log(level, "Failed to scrape Prometheus endpoint %s: %s", self.target.url, error)
        self.healthy = False


class ScrapeJob:
    """One scrape config: its HTTP client, its targets (static and file_sd, re-read) and their loops."""

    def __init__(
        self,
        config: ScrapeConfig,
        global_: GlobalConfig,
        consumer: Consumer,
        telemetry: ReceiverTelemetry,
        logger: logging.Logger,
        path: str,
        user_agent: str = "airis",
    ) -> None:
        self.config, self.global_, self.consumer = config, global_, consumer
        self.telemetry, self.logger, self.path = telemetry, logger, path
        self.user_agent = user_agent
        self.target_rules = compile_rules(config.relabel_configs)
        self.metric_rules = compile_rules(config.metric_relabel_configs)
        self.scrapers: dict[Target, TargetScraper] = {}
        self.client: httpx.AsyncClient | None = None
        self.discovery: asyncio.Task[None] | None = None
        self.file_groups: dict[str, list[TargetGroup]] = {}

    async def start(self) -> None:
        """Open the client, discover the targets and start scraping them."""
        httpx_logger = logging.getLogger("httpx")
        if _QUIET not in httpx_logger.filters:
            httpx_logger.addFilter(_QUIET)
        self.client = httpx.AsyncClient(
            verify=ssl_context(self.config, self.path),
            follow_redirects=self.config.follow_redirects,
            trust_env=False,
        )
        self.file_groups = await asyncio.to_thread(file_groups, self.config, {})
        await self.sync()
        if self.config.file_sd_configs:
            self.discovery = asyncio.create_task(self._rediscover(), name=f"file_sd {self.config.job_name}")

    async def stop(self) -> None:
        """Stop discovery and every target loop (no staleness points) and close the client."""
        if self.discovery is not None:
            self.discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.discovery
            self.discovery = None
        scrapers, self.scrapers = list(self.scrapers.values()), {}
        for scraper in scrapers:
            await scraper.stop(stale=False)
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def targets(self) -> list[Target]:
        """The job's current targets."""
        groups = static_groups(self.config) + [
            g for path in sorted(self.file_groups) for g in self.file_groups[path]
        ]
        return build_targets(self.config, self.global_, groups, self.target_rules)

    async def sync(self) -> None:
        """Start loops for new targets and stop (with staleness points) those of vanished ones."""
        wanted = self.targets()
        for target in [t for t in self.scrapers if t not in wanted]:
            await self.scrapers.pop(target).stop(stale=True)
        for target in wanted:
            if target not in self.scrapers:
                scraper = self.scrapers[target] = TargetScraper(self, target)
                scraper.start()

    async def _rediscover(self) -> None:
        interval = min(
            max(0.05, parse_prom_duration(sd.refresh_interval)) for sd in self.config.file_sd_configs
        )
        while True:
            await asyncio.sleep(interval)
            self.file_groups = await asyncio.to_thread(file_groups, self.config, self.file_groups)
            await self.sync()

    async def fetch(self, target: Target) -> tuple[str, str]:
        """GET the target's metrics: (body text, Content-Type); raises on failure or a non-200 answer."""
        assert self.client is not None, "fetch before start"
        headers = {
            "Accept": OPENMETRICS_ACCEPT,
            "User-Agent": self.user_agent,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{target.timeout:g}",
        }
        auth: httpx.Auth | None = None
        basic = self.config.basic_auth
        if basic is not None:
            username = _read_secret(basic.username_file) if basic.username_file else basic.username
            password = _read_secret(basic.password_file) if basic.password_file else basic.password
            auth = httpx.BasicAuth(username, password)
        authorization = self.config.authorization
        if authorization is not None:
            credentials = (
                _read_secret(authorization.credentials_file)
                if authorization.credentials_file
                else authorization.credentials
            )
            headers["Authorization"] = f"{authorization.type or 'Bearer'} {credentials}"
        extensions = (
            {"sni_hostname": self.config.tls_config.server_name}
            if self.config.tls_config.server_name
            else None
        )
        response = await self.client.get(
            target.url, headers=headers, auth=auth, timeout=target.timeout, extensions=extensions
        )
        if response.status_code != 200:
            raise RuntimeError(f"server returned HTTP status {response.status_code} {response.reason_phrase}")
        return response.content.decode("utf-8", "replace"), response.headers.get("content-type", "")

    async def deliver(self, result: ScrapeResult) -> None:
        """Hand a scrape's metrics to the pipeline; a refusal is counted and logged (scrapes are not retried)."""
        if result.points == 0:
            return
        try:
            await self.consumer.consume(Batch.from_otlp_bytes(Signal.METRICS, result.payload))
        except Exception as err:
            self.telemetry.refused(Signal.METRICS, result.points)
            self.logger.warning("job %s: the pipeline refused a scrape: %s", self.config.job_name, err)
        else:
            self.telemetry.accepted(Signal.METRICS, result.points)
