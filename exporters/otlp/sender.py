"""OTLP over gRPC: each batch's serialized request goes out as it is, through a generic unary call.

Errors are classified as the collector's otlp exporter does (`processError` / `shouldRetry` in
exporter/otlpexporter/otlp.go): a few codes are retryable, RESOURCE_EXHAUSTED only when the server
sent RetryInfo, whose delay becomes `retry_after`; every other code is permanent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from grpc import aio

from collector.errors import ConsumeError, PermanentError, RetryableError
from collector.pdata import MalformedData
from collector.signal import Signal
from collector.tlsconfig import read_pem_files
from exporters.otlp.config import OtlpExporterConfig
from exporters.otlp.protocol import EXPORT_RESPONSES, log_partial_success, user_agent

if TYPE_CHECKING:
    from collector.component import Host, Settings
    from collector.pdata import Batch

__all__ = [
    "EXPORT_METHODS",
    "RETRYABLE_CODES",
    "OtlpGrpcSender",
    "classify_rpc_error",
]

# The Export method of each signal's OTLP service.
EXPORT_METHODS: dict[Signal, str] = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
# Where a server puts RetryInfo: inside the standard status details, or (as the Python SDK and
# airis's receiver do) in a trailer of its own.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


def _retry_info(trailers: Any) -> RetryInfo | None:
    for key, value in trailers or ():
        if key == _RETRY_INFO_KEY and isinstance(value, bytes):
            try:
                return RetryInfo.FromString(value)
            except DecodeError:
                continue
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status = Status.FromString(value)
            except DecodeError:
                continue
            for detail in status.details:
                if detail.Is(RetryInfo.DESCRIPTOR):
                    info = RetryInfo()
                    detail.Unpack(info)
                    return info
    return None


def classify_rpc_error(err: aio.AioRpcError, what: str) -> ConsumeError:
    """RetryableError (with the server's RetryInfo delay) or PermanentError for a failed call."""
    code = err.code()
    info = _retry_info(err.trailing_metadata())
    message = f"{what}: rpc error: code = {code.name} desc = {err.details()}"
    if code in RETRYABLE_CODES or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and info is not None):
        delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9 if info is not None else 0.0
        return RetryableError(message, retry_after=delay if delay > 0 else None)
    return PermanentError(message)


class OtlpGrpcSender:
    """Sends one signal's batches to an OTLP/gRPC server over one channel."""

    def __init__(self, settings: Settings, config: OtlpExporterConfig, signal: Signal) -> None:
        self.config = config
        self.signal = signal
        self.logger = settings.logger
        self.what = f"exporter {settings.id}: sending {signal.value} to {config.target()}"
        self.tls_path = f"exporters::{settings.id}::tls"
        self.metadata = tuple(
            (key.lower(), value.encode() if key.lower().endswith("-bin") else value)
            for key, value in config.headers.items()
        )
        self._channel: aio.Channel | None = None
        self._export: aio.UnaryUnaryMultiCallable | None = None

    async def start(self, host: Host) -> None:
        """Open the channel (it connects on first use); ConfigError naming a TLS file that cannot be read."""
        if self._channel is not None:
            return
        config = self.config
        options: list[tuple[str, Any]] = [("grpc.primary_user_agent", user_agent())]
        compression = (
            grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        )
        if config.uses_tls():
            files = read_pem_files(config.tls, self.tls_path)
            credentials = grpc.ssl_channel_credentials(
                root_certificates=files.ca, private_key=files.key, certificate_chain=files.cert
            )
            if config.tls.server_name_override:
                options.append(("grpc.ssl_target_name_override", config.tls.server_name_override))
            channel = aio.secure_channel(config.target(), credentials, options, compression)
        else:
            channel = aio.insecure_channel(config.target(), options, compression)
        self._channel = channel
        self._export = channel.unary_unary(
            EXPORT_METHODS[self.signal], request_serializer=None, response_deserializer=None
        )

    async def shutdown(self) -> None:
        """Close the channel, cancelling calls in flight; idempotent and safe without start."""
        channel, self._channel, self._export = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 -- the Sender protocol
        """One Export call within `timeout` seconds; RetryableError or PermanentError as the collector."""
        export = self._export
        if export is None:
            raise RetryableError(f"{self.what}: the exporter is not started")
        try:
            request = batch.otlp_bytes()
        except MalformedData as err:
            raise PermanentError(f"{self.what}: cannot encode the batch: {err}") from None
        try:
            response = await export(request, timeout=timeout, metadata=self.metadata)
        except aio.AioRpcError as err:
            raise classify_rpc_error(err, self.what) from None
        except aio.UsageError as err:  # the channel was closed under the call
            raise RetryableError(f"{self.what}: {err}") from None
        response_type = EXPORT_RESPONSES[self.signal][0]
        try:
            parsed = response_type.FromString(response or b"")
        except DecodeError:
            self.logger.warning("%s: the server answered with an unreadable response", self.what)
            return
        log_partial_success(self.logger, self.signal, parsed, self.what)
