"""OTLP over HTTP (binary protobuf): one POST route per signal, errors as serialized `google.rpc.Status`."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.code_pb2 import Code
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.errors import PermanentError, RetryableError
from collector.httpserver import HttpServer
from collector.pdata import MalformedData
from collector.signal import Signal
from collector.telemetry import ReceiverTelemetry
from receivers.otlp.config import HttpConfig

if TYPE_CHECKING:
    from receivers.otlp.factory import OtlpReceiver

__all__ = ["DEFAULT_RETRY_AFTER_SECONDS", "PROTOBUF", "OtlpHttpServer", "build_app", "grpc_code_for_http"]

log = logging.getLogger("airis.receivers.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Retry-After sent with a 503 when the refusing consumer did not say how long to wait.
DEFAULT_RETRY_AFTER_SECONDS = 5
_OK_RESPONSES: dict[Signal, bytes] = {
    Signal.TRACES: ExportTraceServiceResponse().SerializeToString(),
    Signal.METRICS: ExportMetricsServiceResponse().SerializeToString(),
    Signal.LOGS: ExportLogsServiceResponse().SerializeToString(),
}


def grpc_code_for_http(status: int) -> int:
    """The gRPC code an HTTP error status carries in its `google.rpc.Status`, as the collector maps it."""
    code = {
        400: Code.INVALID_ARGUMENT,
        401: Code.UNAUTHENTICATED,
        403: Code.PERMISSION_DENIED,
        404: Code.UNIMPLEMENTED,
        429: Code.RESOURCE_EXHAUSTED,
        500: Code.INTERNAL,
        502: Code.UNAVAILABLE,
        503: Code.UNAVAILABLE,
        504: Code.UNAVAILABLE,
    }.get(status, Code.UNKNOWN)
    return int(code)


def status_response(
    status: int, message: str, headers: dict[str, str] | None = None, details: list[AnyProto] | None = None
) -> Response:
    """An OTLP/HTTP error: a serialized `google.rpc.Status` saying what is wrong."""
    body = Status(code=grpc_code_for_http(status), message=message, details=details or [])
    return Response(body.SerializeToString(), status_code=status, headers=headers, media_type=PROTOBUF)


def _retry_response(err: RetryableError) -> Response:
    seconds = err.retry_after if err.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
    nanos_total = max(0, math.ceil(seconds * 1e9))
    delay = Duration(seconds=nanos_total // 1_000_000_000, nanos=nanos_total % 1_000_000_000)
    detail = AnyProto()
    detail.Pack(RetryInfo(retry_delay=delay))
    headers = {"Retry-After": str(max(0, math.ceil(seconds)))}
    return status_response(503, str(err), headers, [detail])


class _BodyTooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


Endpoint = Callable[[Request], Awaitable[Response]]


def _export_endpoint(receiver: OtlpReceiver, config: HttpConfig, signal: Signal, what: str) -> Endpoint:
    ok = _OK_RESPONSES[signal]
    export = receiver.export
    telemetry = ReceiverTelemetry(receiver.settings.telemetry, str(receiver.settings.id), "http")
    limit = config.max_request_body_size

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return status_response(
                405, f"{request.method} method not allowed, supported: [POST]", {"Allow": "POST"}
            )
        content_type = request.headers.get("content-type", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type == JSON:
            return status_response(
                415, f"{JSON} is not supported yet (JSON arrives in a later version); send {PROTOBUF}"
            )
        if media_type != PROTOBUF:
            return status_response(415, f"unsupported media type {content_type!r}, supported: [{PROTOBUF}]")
        try:
            body = await _read_body(request, limit)
        except _BodyTooLargeError:
            return status_response(
                413,
                f"request body too large: the limit is {limit} bytes "
                f"(receivers::{receiver.settings.id}::protocols::http::max_request_body_size)",
            )
        try:
            await export(signal, body, telemetry)
        except MalformedData as err:
            return status_response(400, str(err))
        except RetryableError as err:
            return _retry_response(err)
        except PermanentError as err:
            return status_response(500, str(err))
        except Exception as err:
            # As the collector: an error that is not marked permanent is assumed to be retryable.
            log.exception("%s: the next consumer failed on %s", what, signal.value)
            return _retry_response(RetryableError(f"{type(err).__name__}: {err}"))
        return Response(ok, media_type=PROTOBUF)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no OTLP signal is served at {request.url.path!r} (is a pipeline using this receiver?)"
    elif exc.status_code == 405:
        message = f"{request.method} method not allowed, supported: [POST]"
    else:
        message = str(exc.detail)
    return status_response(exc.status_code, message, dict(exc.headers or {}))


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_app(receiver: OtlpReceiver, config: HttpConfig, what: str) -> Starlette:
    """The ASGI app: the export route of every signal the receiver has a next consumer for."""
    paths = config.url_paths()
    routes = [
        Route(paths[signal], _export_endpoint(receiver, config, signal, what), methods=_ALL_METHODS)
        for signal in receiver.nexts
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


class OtlpHttpServer:
    """The receiver's HTTP server (uvicorn in airis's own loop)."""

    def __init__(self, receiver: OtlpReceiver, config: HttpConfig) -> None:
        self.what = receiver.what("http")
        self._server = HttpServer(build_app(receiver, config, self.what), config.endpoint, self.what)

    @property
    def port(self) -> int:
        """The bound port (useful when the endpoint asked for port 0)."""
        return self._server.port

    async def start(self) -> None:
        """Bind and serve; OSError naming the endpoint if it cannot listen."""
        await self._server.start()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish, return; idempotent."""
        await self._server.shutdown()
