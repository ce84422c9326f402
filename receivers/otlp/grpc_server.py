"""OTLP over gRPC: generic Export handlers that take the raw request bytes, so nothing is re-serialized.

grpcio itself decompresses requests the client compressed (gzip, deflate).
"""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from grpc import aio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.auth.principal import Authenticator, AuthError, ForbiddenError, RateLimitedError
from collector.errors import PermanentError, RetryableError
from collector.httpserver import bind
from collector.pdata import Batch, MalformedData
from collector.signal import Signal
from collector.telemetry import ReceiverTelemetry
from receivers.otlp.admission import AdmissionRefusedError, RequestTooLargeError
from receivers.otlp.auth import Writer, admit
from receivers.otlp.config import GrpcConfig

if TYPE_CHECKING:
    from receivers.otlp.factory import OtlpReceiver

__all__ = ["SERVICE_NAMES", "SHUTDOWN_GRACE_SECONDS", "OtlpGrpcServer", "auth_status", "call_headers"]

log = logging.getLogger("airis.receivers.otlp")

# The fully-qualified gRPC service of each signal; each has one method, `Export`.
SERVICE_NAMES: dict[Signal, str] = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}
# An empty Export*ServiceResponse (no partial success) is the same bytes every time.
_OK_RESPONSES: dict[Signal, bytes] = {
    Signal.TRACES: ExportTraceServiceResponse().SerializeToString(),
    Signal.METRICS: ExportMetricsServiceResponse().SerializeToString(),
    Signal.LOGS: ExportLogsServiceResponse().SerializeToString(),
}
SHUTDOWN_GRACE_SECONDS = 10.0
# The trailer the OTLP exporters read a server-requested retry delay from.
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


def retry_info_trailer(retry_after: float | None) -> tuple[tuple[str, bytes], ...]:
    """The `google.rpc.retryinfo-bin` trailer asking the client to wait `retry_after` seconds (if known)."""
    if retry_after is None:
        return ()
    nanos_total = max(0, math.ceil(retry_after * 1e9))
    delay = Duration(seconds=nanos_total // 1_000_000_000, nanos=nanos_total % 1_000_000_000)
    return ((RETRY_INFO_KEY, RetryInfo(retry_delay=delay).SerializeToString()),)


def invocation_metadata(context: aio.ServicerContext) -> dict[str, tuple[str, ...]]:
    """The call's metadata, lower-case keys to their values (binary `-bin` values as latin-1 text)."""
    grouped: dict[str, list[str]] = {}
    for key, value in context.invocation_metadata() or ():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        grouped.setdefault(key.lower(), []).append(text)
    return {key: tuple(values) for key, values in grouped.items()}


def call_headers(context: aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata as headers: lower-case keys to their first value (`-bin` keys left out)."""
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            headers.setdefault(key.lower(), value)
    return headers


def auth_status(err: AuthError) -> grpc.StatusCode:
    """The gRPC code answering a refused writer."""
    if isinstance(err, RateLimitedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(err, ForbiddenError):
        return grpc.StatusCode.PERMISSION_DENIED
    return grpc.StatusCode.UNAUTHENTICATED


class OtlpGrpcServer:
    """A grpc.aio server with the Export method of every signal the receiver has a next consumer for.

    Over TLS when `tls` is configured (mutual TLS when it names a `client_ca_file`).
    """

    def __init__(
        self, receiver: OtlpReceiver, config: GrpcConfig, authenticator: Authenticator | None = None
    ) -> None:
        self.receiver = receiver
        self.config = config
        self.authenticator = authenticator
        self.telemetry = ReceiverTelemetry(receiver.settings.telemetry, str(receiver.settings.id), "grpc")
        self.what = receiver.what("grpc")
        self.port = 0
        self._server: aio.Server | None = None

    async def start(self) -> None:
        """Bind and serve; OSError naming the endpoint if it cannot listen."""
        options = [
            ("grpc.max_receive_message_length", self.config.max_recv_msg_size_mib * 1024 * 1024),
            # Without this a second server could silently share the port instead of failing.
            ("grpc.so_reuseport", 0),
        ]
        server = aio.server(options=options)
        for signal in self.receiver.nexts:
            handler = grpc.unary_unary_rpc_method_handler(
                self._export_handler(signal), request_deserializer=None, response_serializer=None
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICE_NAMES[signal], {"Export": handler}),)
            )
        credentials = None
        if self.config.tls is not None:
            from collector.tlsconfig import grpc_server_credentials

            tls_path = f"receivers::{self.receiver.settings.id}::protocols::grpc::tls"
            credentials = grpc_server_credentials(self.config.tls, tls_path)
            if self.config.tls.min_version == "1.3" or self.config.tls.max_version is not None:
                log.warning(
                    "%s: grpcio negotiates TLS 1.2 or 1.3; min/max_version are not applied", self.what
                )
        try:
            if credentials is not None:
                port = server.add_secure_port(self.config.endpoint, credentials)
            else:
                port = server.add_insecure_port(self.config.endpoint)
        except RuntimeError:
            port = 0
        if port == 0:
            await server.stop(None)
            raise self._bind_error()
        self.port = port
        await server.start()
        self._server = server
        log.debug("%s listening on %s", self.what, self.config.endpoint)

    def _bind_error(self) -> OSError:
        # grpc only says that binding failed; binding a plain socket there tells why.
        try:
            bind(self.config.endpoint, self.what).close()
        except (OSError, ValueError) as err:
            return err if isinstance(err, OSError) else OSError(errno.EINVAL, f"{self.what}: {err}")
        return OSError(errno.EADDRNOTAVAIL, f"{self.what} cannot listen on {self.config.endpoint}")

    async def shutdown(self) -> None:
        """Stop accepting calls, let in-flight ones finish (at most SHUTDOWN_GRACE_SECONDS), return."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(SHUTDOWN_GRACE_SECONDS)

    def _export_handler(self, signal: Signal) -> Callable[[bytes, aio.ServicerContext], Awaitable[bytes]]:
        ok = _OK_RESPONSES[signal]
        export, telemetry, admission = self.receiver.export, self.telemetry, self.receiver.admission
        include_metadata, authenticator = self.config.include_metadata, self.authenticator

        async def handle(request: bytes, context: aio.ServicerContext) -> bytes:
            writer: Writer | None = None
            if authenticator is not None:
                try:
                    writer = await admit(authenticator, call_headers(context))
                except AuthError as err:
                    self.receiver.auth_refused("grpc", err)
                    retry_after = err.retry_after if isinstance(err, RateLimitedError) else None
                    await context.abort(
                        auth_status(err), str(err), trailing_metadata=retry_info_trailer(retry_after)
                    )
            reservation = admission.reservation()
            try:
                # grpcio has read the whole message already; refuse it before decoding if there is no room
                # (a waiting call ends when grpcio cancels it at the client's deadline).
                await reservation.hold(len(request))
                metadata = invocation_metadata(context) if include_metadata else {}
                if writer is not None:
                    request = writer.stamp_bytes(signal, request)
                    if include_metadata:
                        metadata = writer.annotate(metadata)
                await export(Batch.from_otlp_bytes(signal, request, metadata=metadata), telemetry)
            except MalformedData as err:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            except AdmissionRefusedError as err:
                self.receiver.admission_refused("grpc")
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    str(err),
                    trailing_metadata=retry_info_trailer(err.retry_after),
                )
            except RequestTooLargeError as err:
                self.receiver.admission_refused("grpc")
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            except RetryableError as err:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    str(err),
                    trailing_metadata=retry_info_trailer(err.retry_after),
                )
            except PermanentError as err:
                # As the collector: a permanent error without a status of its own is a server-side one.
                await context.abort(grpc.StatusCode.INTERNAL, str(err))
            except Exception as err:
                # As the collector: any other error is assumed to be retryable.
                log.exception("%s: the next consumer failed on %s", self.what, signal.value)
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"{type(err).__name__}: {err}")
            finally:
                reservation.release()
            return ok

        return handle
