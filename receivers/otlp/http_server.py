"""OTLP over HTTP: protobuf or JSON bodies, compressed or not, one POST route per signal.

Answers in the request's encoding, as the collector does: a serialized Export*ServiceResponse (or
`{}` for JSON) on success, a `google.rpc.Status` on error.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from google.protobuf import json_format
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
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from collector.auth.principal import Authenticator, AuthError, RateLimitedError
from collector.errors import PermanentError, RetryableError
from collector.httpserver import HttpServer
from collector.pdata import Batch, MalformedData
from collector.signal import Signal
from collector.telemetry import ReceiverTelemetry
from receivers.otlp.admission import AdmissionRefusedError, RequestTooLargeError
from receivers.otlp.auth import Writer, admit
from receivers.otlp.compression import (
    BodyTooLargeError,
    CorruptBodyError,
    UnsupportedEncodingError,
    body_decoder,
)
from receivers.otlp.config import CorsConfig, HttpConfig

if TYPE_CHECKING:
    from receivers.otlp.factory import OtlpReceiver

__all__ = [
    "DEFAULT_RETRY_AFTER_SECONDS",
    "JSON",
    "PROTOBUF",
    "OtlpHttpServer",
    "auth_response",
    "build_app",
    "grpc_code_for_http",
    "status_response",
]

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
# An empty Export*ServiceResponse in OTLP/JSON (no partial success is ever reported).
_OK_JSON = b"{}"


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
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[AnyProto] | None = None,
    as_json: bool = False,
) -> Response:
    """An OTLP/HTTP error: a `google.rpc.Status` saying what is wrong, serialized or as JSON."""
    body = Status(code=grpc_code_for_http(status), message=message, details=details or [])
    if as_json:
        content = orjson.dumps(json_format.MessageToDict(body))
        return Response(content, status_code=status, headers=headers, media_type=JSON)
    return Response(body.SerializeToString(), status_code=status, headers=headers, media_type=PROTOBUF)


def _retry_response(err: RetryableError, as_json: bool) -> Response:
    seconds = err.retry_after if err.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
    return _retry_after_response(503, str(err), seconds, as_json)


def _retry_after_response(status: int, message: str, seconds: float, as_json: bool) -> Response:
    nanos_total = max(0, math.ceil(seconds * 1e9))
    delay = Duration(seconds=nanos_total // 1_000_000_000, nanos=nanos_total % 1_000_000_000)
    detail = AnyProto()
    detail.Pack(RetryInfo(retry_delay=delay))
    headers = {"Retry-After": str(max(0, math.ceil(seconds)))}
    return status_response(status, message, headers, [detail], as_json)


def auth_response(err: AuthError, as_json: bool) -> Response:
    """A refused writer's answer: 401 (asking for a bearer token), 403, or 429 with Retry-After."""
    if isinstance(err, RateLimitedError):
        return _retry_after_response(429, str(err), err.retry_after, as_json)
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return status_response(err.status, str(err), headers, as_json=as_json)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _header_metadata(request: Request) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for name, value in request.headers.raw:
        grouped.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return {name: tuple(values) for name, values in grouped.items()}


def _decode(
    signal: Signal,
    body: bytes,
    as_json: bool,
    metadata: dict[str, tuple[str, ...]],
    writer: Writer | None = None,
) -> Batch:
    if not as_json:
        if writer is not None:
            body = writer.stamp_bytes(signal, body)
        return Batch.from_otlp_bytes(signal, body, metadata=metadata)
    from collector.pdata import otlpjson

    request = otlpjson.decode(signal, body)
    if writer is not None:
        writer.stamp_message(signal, request)
    return Batch(signal, otlp=request, metadata=metadata)


Endpoint = Callable[[Request], Awaitable[Response]]


def _export_endpoint(
    receiver: OtlpReceiver,
    config: HttpConfig,
    signal: Signal,
    what: str,
    authenticator: Authenticator | None = None,
) -> Endpoint:
    ok = _OK_RESPONSES[signal]
    export, admission = receiver.export, receiver.admission
    telemetry = ReceiverTelemetry(receiver.settings.telemetry, str(receiver.settings.id), "http")
    limit = config.max_request_body_size
    limit_key = f"receivers::{receiver.settings.id}::protocols::http::max_request_body_size"
    include_metadata = config.include_metadata

    async def endpoint(request: Request) -> Response:
        media_type = _media_type(request)
        writer: Writer | None = None
        if authenticator is not None:  # as the collector: the caller is checked before anything else
            try:
                writer = await admit(authenticator, request.headers)
            except AuthError as err:
                receiver.auth_refused("http", err)
                return auth_response(err, as_json=media_type == JSON)
        if request.method != "POST":
            return status_response(
                405, f"{request.method} method not allowed, supported: [POST]", {"Allow": "POST"}
            )
        if media_type not in (PROTOBUF, JSON):
            content_type = request.headers.get("content-type", "")
            return status_response(
                415, f"unsupported media type {content_type!r}, supported: [{JSON}, {PROTOBUF}]"
            )
        as_json = media_type == JSON
        try:
            decoder = body_decoder(request.headers.get("content-encoding", ""), limit)
        except UnsupportedEncodingError as err:
            return status_response(400, str(err), as_json=as_json)
        declared = request.headers.get("content-length", "")
        reservation = admission.reservation()
        try:
            if declared.isdigit():
                if int(declared) > limit:
                    raise BodyTooLargeError(limit, decompressed=False)
                await reservation.hold(int(declared))  # before reading: a full receiver reads nothing
            async for chunk in request.stream():
                decoder.feed(chunk)
            body = decoder.finish()
            await reservation.hold(len(body))
            metadata = _header_metadata(request) if include_metadata else {}
            if writer is not None and include_metadata:
                metadata = writer.annotate(metadata)
            batch = _decode(signal, body, as_json, metadata, writer)
            await export(batch, telemetry)
        except BodyTooLargeError as err:
            compressed = "once decompressed " if err.decompressed else ""
            return status_response(
                413,
                f"request body too large: the limit is {limit} bytes {compressed}({limit_key})",
                as_json=as_json,
            )
        except (CorruptBodyError, MalformedData) as err:
            return status_response(400, str(err), as_json=as_json)
        except AdmissionRefusedError as err:
            receiver.admission_refused("http")
            return _retry_response(err, as_json)
        except RequestTooLargeError as err:
            receiver.admission_refused("http")
            return status_response(413, str(err), as_json=as_json)
        except RetryableError as err:
            return _retry_response(err, as_json)
        except PermanentError as err:
            return status_response(500, str(err), as_json=as_json)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception as err:
            # As the collector: an error that is not marked permanent is assumed to be retryable.
            log.exception("%s: the next consumer failed on %s", what, signal.value)
            return _retry_response(RetryableError(f"{type(err).__name__}: {err}"), as_json)
        finally:
            reservation.release()
        if as_json:
            return Response(_OK_JSON, media_type=JSON)
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
    as_json = _media_type(request) == JSON
    return status_response(exc.status_code, message, dict(exc.headers or {}), as_json=as_json)


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def origin_regex(origins: list[str]) -> str | None:
    """One regex matching every origin holding a `*` wildcard (any characters), ignoring case."""
    patterns = [re.escape(o).replace(r"\*", ".*") for o in origins if "*" in o and o != "*"]
    return "(?i)" + "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _cors_middleware(cors: CorsConfig) -> Middleware:
    # As the collector (rs/cors): credentials allowed, the CORS-safelisted headers always allowed,
    # and X-Requested-With too when no header is listed.
    origins = [o for o in cors.allowed_origins if o == "*" or "*" not in o]
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_origin_regex=origin_regex(cors.allowed_origins),
        allow_methods=["GET", "HEAD", "POST"],
        allow_headers=cors.allowed_headers or ["X-Requested-With"],
        allow_credentials=True,
        max_age=cors.max_age,
    )


def build_app(
    receiver: OtlpReceiver, config: HttpConfig, what: str, authenticator: Authenticator | None = None
) -> Starlette:
    """The ASGI app: the export route of every signal the receiver has a next consumer for (and CORS);
    every request is checked by `authenticator` when there is one."""
    paths = config.url_paths()
    routes = [
        Route(
            paths[signal],
            _export_endpoint(receiver, config, signal, what, authenticator),
            methods=_ALL_METHODS,
        )
        for signal in receiver.nexts
    ]
    middleware = []
    if config.cors is not None and config.cors.allowed_origins:
        middleware.append(_cors_middleware(config.cors))
    elif config.cors is not None and config.cors.allowed_headers:
        log.warning("%s: cors lists allowed_headers but no allowed_origins, so it is ignored", what)
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error})


class OtlpHttpServer:
    """The receiver's HTTP server (uvicorn in airis's own loop), over TLS when `tls` is configured."""

    def __init__(
        self, receiver: OtlpReceiver, config: HttpConfig, authenticator: Authenticator | None = None
    ) -> None:
        self.what = receiver.what("http")
        ssl = None
        if config.tls is not None:
            from collector.tlsconfig import server_ssl_context

            ssl = server_ssl_context(config.tls, f"receivers::{receiver.settings.id}::protocols::http::tls")
        app = build_app(receiver, config, self.what, authenticator)
        self._server = HttpServer(app, config.endpoint, self.what, ssl=ssl)

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
