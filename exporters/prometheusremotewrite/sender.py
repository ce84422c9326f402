"""Remote write 1.0 over HTTP with httpx: snappy-compressed WriteRequests POSTed to the endpoint.

Errors are classified as the collector's exporter does, with throttling honoured: 429 and 5xx are
retryable (after `Retry-After` when the server sends one), any other non-2xx status is permanent, and
a request that got no answer is retryable. A batch is translated once: retries resend only the
WriteRequests that have not been accepted yet, so delta sums are never counted twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import cramjam
import httpx

from collector.errors import PermanentError, RetryableError
from collector.pdata import MalformedData
from collector.tlsconfig import client_ssl_context
from exporters.otlp.protocol import user_agent
from exporters.otlphttp.sender import parse_retry_after
from exporters.prometheusremotewrite.config import PrometheusRemoteWriteExporterConfig
from exporters.prometheusremotewrite.translate import RemoteWriteConverter

if TYPE_CHECKING:
    from collector.component import Host, Settings
    from collector.pdata import Batch

__all__ = ["MAX_PENDING_BATCHES", "RemoteWriteSender", "classify_status"]

MAX_PENDING_BATCHES = 256
"""Batches whose unsent requests are remembered between attempts."""
_MAX_ERROR_BODY = 256


def classify_status(
    url: str, status: int, headers: httpx.Headers, body: bytes
) -> PermanentError | RetryableError:
    """The error a non-2xx answer means: 429 and 5xx retryable (with Retry-After), others permanent."""
    text = body[:_MAX_ERROR_BODY].decode("utf-8", "replace").strip()
    message = f"remote write to {url} returned HTTP status {status}" + (f": {text}" if text else "")
    if status == 429 or 500 <= status < 600:
        return RetryableError(message, retry_after=parse_retry_after(headers.get("retry-after")))
    return PermanentError(message)


class RemoteWriteSender:
    """Translates each batch to WriteRequests and POSTs them, `concurrency` at a time."""

    def __init__(
        self, settings: Settings, config: PrometheusRemoteWriteExporterConfig, concurrency: int = 5
    ) -> None:
        self.config = config
        self.logger = settings.logger
        self.url = config.endpoint
        self.what = f"exporter {settings.id}: remote write to {self.url}"
        self.tls_path = f"exporters::{settings.id}::tls"
        self.concurrency = max(1, concurrency)
        self.converter = RemoteWriteConverter(
            namespace=config.namespace,
            external_labels=config.external_labels,
            add_metric_suffixes=config.add_metric_suffixes,
            target_info=config.target_info.enabled,
            resource_to_telemetry=config.resource_to_telemetry_conversion.enabled,
            send_metadata=config.send_metadata,
            max_cumulative_series=config.max_cumulative_series,
        )
        self.headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": user_agent(),
            **config.headers,
        }
        self.extensions: dict[str, Any] = {}
        if config.tls.server_name_override and self.url.startswith("https://"):
            self.extensions["sni_hostname"] = config.tls.server_name_override
        self._pending: OrderedDict[int, tuple[Batch, list[bytes]]] = OrderedDict()
        self._client: httpx.AsyncClient | None = None

    async def start(self, host: Host) -> None:
        """Create the client; ConfigError naming a TLS file that cannot be loaded."""
        if self._client is not None:
            return
        verify = (
            client_ssl_context(self.config.tls, self.tls_path) if self.url.startswith("https://") else True
        )
        self._client = httpx.AsyncClient(verify=verify, http1=True, http2=False)

    async def shutdown(self) -> None:
        """Close the client; idempotent and safe without start."""
        client, self._client = self._client, None
        self._pending.clear()
        if client is not None:
            await client.aclose()

    def _requests(self, batch: Batch) -> list[bytes]:
        """The compressed WriteRequests of `batch` still to send (translated on the first attempt)."""
        pending = self._pending.get(id(batch))
        if pending is not None and pending[0] is batch:
            return pending[1]
        try:
            conversion = self.converter.convert(batch.otlp())
        except MalformedData as err:
            raise PermanentError(f"{self.what}: cannot read the batch: {err}") from None
        if conversion.errors:
            shown = "; ".join(conversion.errors[:5])
            more = f" (and {len(conversion.errors) - 5} more)" if len(conversion.errors) > 5 else ""
            self.logger.warning("%s: some metrics cannot be translated: %s%s", self.what, shown, more)
            if not conversion.series:
                raise PermanentError(f"{self.what}: nothing in the batch can be translated: {shown}{more}")
        bodies = [
            bytes(cramjam.snappy.compress_raw(b))
            for b in conversion.requests(self.config.max_batch_size_bytes)
        ]
        self._pending[id(batch)] = (batch, bodies)
        while len(self._pending) > MAX_PENDING_BATCHES:
            self._pending.popitem(last=False)
        return bodies

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 -- the Sender protocol
        """Send what is left of `batch` within `timeout` seconds; RetryableError or PermanentError."""
        client = self._client
        if client is None:
            raise RetryableError(f"{self.what}: the exporter is not started")
        bodies = self._requests(batch)
        sent: set[int] = set()
        errors: list[PermanentError | RetryableError] = []
        slots = asyncio.Semaphore(self.concurrency)

        async def post(index: int, body: bytes) -> None:
            async with slots:
                error = await self._post(client, body, timeout)
            if error is None:
                sent.add(index)
            else:
                errors.append(error)

        await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))
        left = [b for i, b in enumerate(bodies) if i not in sent]
        permanent = [e for e in errors if isinstance(e, PermanentError)]
        if not left or permanent:
            self._pending.pop(id(batch), None)
        else:
            self._pending[id(batch)] = (batch, left)
        if permanent:
            raise permanent[0]
        if errors:
            retry_after = max(
                (e.retry_after for e in errors if isinstance(e, RetryableError) and e.retry_after),
                default=None,
            )
            raise RetryableError(str(errors[0]), retry_after=retry_after)

    async def _post(
        self,
        client: httpx.AsyncClient,
        body: bytes,
        timeout: float,  # noqa: ASYNC109 -- the attempt's timeout, from the Sender protocol
    ) -> PermanentError | RetryableError | None:
        try:
            async with asyncio.timeout(timeout or None):
                response = await client.post(
                    self.url,
                    content=body,
                    headers=self.headers,
                    timeout=timeout or None,
                    extensions=self.extensions,
                )
        except (TimeoutError, httpx.TimeoutException):
            return RetryableError(f"{self.what}: no answer within {timeout:g}s")
        except httpx.TransportError as err:
            return RetryableError(f"{self.what}: failed to make an HTTP request: {type(err).__name__}: {err}")
        except httpx.HTTPError as err:
            return PermanentError(f"{self.what}: {type(err).__name__}: {err}")
        if 200 <= response.status_code < 300:
            return None
        return classify_status(self.url, response.status_code, response.headers, response.content)
