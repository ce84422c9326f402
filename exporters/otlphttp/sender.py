"""OTLP over HTTP/1.1 with httpx: one POST per batch, the body being the batch's serialized request.

Errors are classified as the collector's otlphttp exporter does (exporter/otlphttpexporter/otlp.go):
429, 502, 503 and 504 are retryable (429 and 503 after `Retry-After`, seconds or an HTTP date), every
other non-2xx status is permanent, and a request that never got an answer (refused, reset, TLS
handshake failed, timed out) is retryable.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cramjam
import httpx
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from collector.errors import ConsumeError, PermanentError, RetryableError
from collector.pdata import MalformedData, otlpjson
from collector.signal import Signal
from collector.tlsconfig import client_ssl_context
from exporters.otlp.protocol import EXPORT_RESPONSES, log_partial_success, user_agent
from exporters.otlphttp.config import OtlpHttpExporterConfig

if TYPE_CHECKING:
    from collector.component import Host, Settings
    from collector.pdata import Batch

__all__ = ["COMPRESSORS", "RETRYABLE_STATUSES", "OtlpHttpSender", "classify_response", "parse_retry_after"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_THROTTLE_STATUSES = frozenset({429, 503})
# As the collector, at most this much of a response body is read.
MAX_RESPONSE_BYTES = 64 * 1024
COMPRESSORS: dict[str, Callable[[bytes], Any]] = {
    "gzip": cramjam.gzip.compress,
    "zstd": cramjam.zstd.compress,
    "zlib": cramjam.zlib.compress,
    "deflate": cramjam.zlib.compress,  # HTTP's `deflate` is the zlib format
    "snappy": cramjam.snappy.compress_raw,
    "x-snappy-framed": cramjam.snappy.compress,
    "lz4": cramjam.lz4.compress,
}


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.partition(";")[0].strip().lower()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or an HTTP date); None if absent or past."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds > 0 else None


def _status(body: bytes, media_type: str) -> Status | None:
    """The google.rpc.Status an error response carries (protobuf or JSON), if it carries one."""
    if not body:
        return None
    status = Status()
    if media_type == JSON:
        try:
            json_format.Parse(body, status, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError):
            return None
        return status
    if media_type not in (PROTOBUF, "application/protobuf", "application/octet-stream", ""):
        return None
    try:
        status.ParseFromString(body)
    except DecodeError:
        return None
    return status


def _retry_info(status: Status | None) -> float | None:
    for detail in status.details if status is not None else ():
        if detail.Is(RetryInfo.DESCRIPTOR):
            info = RetryInfo()
            detail.Unpack(info)
            delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            return delay if delay > 0 else None
    return None


def classify_response(url: str, response: httpx.Response, body: bytes) -> ConsumeError:
    """RetryableError or PermanentError for a non-2xx answer, with the server's own message."""
    code = response.status_code
    media_type = _media_type(response)
    status = _status(body, media_type)
    message = f"error exporting items, request to {url} responded with HTTP Status Code {code}"
    if status is not None and status.message:
        message += f", Message={status.message}"
    elif status is None and media_type.startswith("text/") and body.strip():
        message += f", Message={body[:256].decode('utf-8', 'replace').strip()}"
    if code not in RETRYABLE_STATUSES:
        return PermanentError(message)
    retry_after = None
    if code in _THROTTLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None and "retry-after" not in response.headers:
            retry_after = _retry_info(status)
    return RetryableError(message, retry_after=retry_after)


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


class OtlpHttpSender:
    """Posts one signal's batches to its OTLP/HTTP URL over a pooled HTTP/1.1 client."""

    def __init__(self, settings: Settings, config: OtlpHttpExporterConfig, signal: Signal) -> None:
        self.config = config
        self.signal = signal
        self.logger = settings.logger
        self.url = config.signal_url(signal)
        self.what = f"exporter {settings.id}: sending {signal.value} to {self.url}"
        self.tls_path = f"exporters::{settings.id}::tls"
        self.compress = COMPRESSORS.get(config.compression)
        headers = {
            "Content-Type": JSON if config.encoding == "json" else PROTOBUF,
            "User-Agent": user_agent(),
        }
        if self.compress is not None:
            headers["Content-Encoding"] = config.compression
        headers.update(config.headers)
        self.headers = headers
        self.extensions: dict[str, Any] = {}
        if config.tls.server_name_override and self.url.startswith("https://"):
            self.extensions["sni_hostname"] = config.tls.server_name_override
        self._client: httpx.AsyncClient | None = None

    async def start(self, host: Host) -> None:
        """Create the client (it connects on first use); ConfigError naming a TLS file that cannot be loaded."""
        if self._client is not None:
            return
        verify = (
            client_ssl_context(self.config.tls, self.tls_path) if self.url.startswith("https://") else True
        )
        self._client = httpx.AsyncClient(verify=verify, http1=True, http2=False, follow_redirects=True)

    async def shutdown(self) -> None:
        """Close the client and its pooled connections; idempotent and safe without start."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def body(self, batch: Batch) -> bytes:
        """The request body: the batch's OTLP bytes (or OTLP/JSON), compressed as configured."""
        data = otlpjson.encode(batch.otlp()) if self.config.encoding == "json" else batch.otlp_bytes()
        return bytes(self.compress(data)) if self.compress is not None else data

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 -- the Sender protocol
        """One POST within `timeout` seconds; RetryableError or PermanentError as the collector."""
        client = self._client
        if client is None:
            raise RetryableError(f"{self.what}: the exporter is not started")
        try:
            content = self.body(batch)
        except MalformedData as err:
            raise PermanentError(f"{self.what}: cannot encode the batch: {err}") from None
        try:
            async with asyncio.timeout(timeout):
                request = client.build_request(
                    "POST",
                    self.url,
                    content=content,
                    headers=self.headers,
                    timeout=timeout,
                    extensions=self.extensions,
                )
                response = await client.send(request, stream=True)
                try:
                    body = await _read_limited(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableError(f"{self.what}: no answer within {timeout:g}s") from None
        except httpx.TransportError as err:
            raise RetryableError(f"{self.what}: failed to make an HTTP request: {_describe(err)}") from None
        except httpx.HTTPError as err:  # e.g. too many redirects
            raise PermanentError(f"{self.what}: {_describe(err)}") from None
        if 200 <= response.status_code < 300:
            self._check_partial_success(response, body)
            return
        raise classify_response(self.url, response, body)

    def _check_partial_success(self, response: httpx.Response, body: bytes) -> None:
        if not body:
            return
        parsed = EXPORT_RESPONSES[self.signal][0]()
        media_type = _media_type(response)
        try:
            if media_type == PROTOBUF:
                parsed.ParseFromString(body)
            elif media_type == JSON:
                json_format.Parse(body, parsed, ignore_unknown_fields=True)
            else:
                return
        except (DecodeError, json_format.ParseError, ValueError, TypeError):
            # The data was accepted: retrying would duplicate it, so only say so.
            self.logger.warning("%s: the server accepted the data but its response is unreadable", self.what)
            return
        log_partial_success(self.logger, self.signal, parsed, self.what)


def _describe(err: httpx.HTTPError) -> str:
    text = str(err) or type(err).__name__
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return f"{type(err).__name__}: {text}"
