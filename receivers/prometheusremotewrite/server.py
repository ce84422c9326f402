"""The receiver's HTTP side: `POST /api/v1/write` of a snappy-compressed prometheus.WriteRequest.

Answers as Prometheus senders expect: 204 when the data was handed on; 400 (never retried by
Prometheus) for a body that is not snappy or not a WriteRequest, or when the pipeline refuses the
data for good; 413 past `max_request_body_size`; 415 for a content type or remote-write version
other than 1.0; 503 with `Retry-After` when the pipeline refuses for now (Prometheus retries 5xx).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import cramjam
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from collector.errors import PermanentError, RetryableError
from collector.httpserver import HttpServer
from receivers.prometheusremotewrite.config import WRITE_PATH, PrometheusRemoteWriteReceiverConfig
from receivers.prometheusremotewrite.translate import InvalidWriteRequestError

if TYPE_CHECKING:
    from receivers.prometheusremotewrite.factory import PrometheusRemoteWriteReceiver

__all__ = ["DEFAULT_RETRY_AFTER_SECONDS", "RemoteWriteHttpServer", "build_app", "decompress"]

log = logging.getLogger("airis.receivers.prometheusremotewrite")

DEFAULT_RETRY_AFTER_SECONDS = 5
PROTOBUF = "application/x-protobuf"
V1_MESSAGE = "prometheus.WriteRequest"


class BodyTooLargeError(Exception):
    """The body is larger than the limit, as received or once decompressed."""


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The snappy (block format) body decompressed within `limit` bytes.

    InvalidWriteRequestError when it is not snappy, BodyTooLargeError past the limit. Like Prometheus's
    own receiver, a body without Content-Encoding is read as snappy too.
    """
    if encoding not in ("snappy", ""):
        raise InvalidWriteRequestError(
            f"unsupported Content-Encoding {encoding!r}: remote write 1.0 uses snappy"
        )
    try:
        size = int(cramjam.snappy.decompress_raw_len(body))
    except cramjam.DecompressionError as err:
        raise InvalidWriteRequestError(f"invalid snappy block: {err}") from None
    if size > limit:
        raise BodyTooLargeError(f"decompressed body of {size} bytes is over the limit of {limit}")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as err:
        raise InvalidWriteRequestError(f"invalid snappy block: {err}") from None


def _content_type_problem(content_type: str) -> str | None:
    """Why a Content-Type is refused (None when it is remote write 1.0)."""
    media, *parameters = (part.strip() for part in content_type.split(";"))
    if media.lower() != PROTOBUF:
        return f"expected Content-Type {PROTOBUF!r}, got {content_type!r}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "proto" and value.strip() != V1_MESSAGE:
            return f"unsupported remote write message {value.strip()!r}: airis accepts {V1_MESSAGE} (remote write 1.0)"
    return None


def build_app(
    receiver: PrometheusRemoteWriteReceiver, config: PrometheusRemoteWriteReceiverConfig
) -> Starlette:
    """The ASGI app serving remote write at `/api/v1/write`."""
    limit = config.max_request_body_size
    limit_key = f"receivers::{receiver.settings.id}::max_request_body_size"

    async def write(request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse("method not allowed, supported: [POST]", 405, headers={"Allow": "POST"})
        problem = _content_type_problem(request.headers.get("content-type", PROTOBUF))
        if problem is not None:
            return PlainTextResponse(problem, 415)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return PlainTextResponse(f"request body over {limit} bytes ({limit_key})", 413)
        try:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return PlainTextResponse(f"request body over {limit} bytes ({limit_key})", 413)
                chunks.append(chunk)
            body = decompress(
                b"".join(chunks), request.headers.get("content-encoding", "").strip().lower(), limit
            )
            await receiver.write(body)
        except ClientDisconnect:
            return Response(status_code=400)
        except BodyTooLargeError as err:
            return PlainTextResponse(f"{err} ({limit_key})", 413)
        except InvalidWriteRequestError as err:
            return PlainTextResponse(str(err), 400)
        except RetryableError as err:
            return _retry_response(str(err), err.retry_after)
        except PermanentError as err:
            return PlainTextResponse(str(err), 400)
        except Exception as err:
            # As the collector: an error not marked permanent is assumed to be retryable.
            log.exception("%s: the next consumer failed", receiver.what)
            return _retry_response(f"{type(err).__name__}: {err}", None)
        return Response(status_code=204)

    return Starlette(
        routes=[Route(WRITE_PATH, write, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])]
    )


def _retry_response(message: str, retry_after: float | None) -> Response:
    seconds = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
    return PlainTextResponse(message, 503, headers={"Retry-After": str(max(0, math.ceil(seconds)))})


class RemoteWriteHttpServer:
    """The receiver's uvicorn server in airis's loop, over TLS when `tls` is configured."""

    def __init__(
        self, receiver: PrometheusRemoteWriteReceiver, config: PrometheusRemoteWriteReceiverConfig
    ) -> None:
        ssl = None
        if config.tls is not None:
            from collector.tlsconfig import server_ssl_context

            ssl = server_ssl_context(config.tls, f"receivers::{receiver.settings.id}::tls")
        self._server = HttpServer(build_app(receiver, config), config.endpoint, receiver.what, ssl=ssl)

    @property
    def port(self) -> int:
        """The bound port (useful when the endpoint asked for port 0)."""
        return self._server.port

    async def start(self) -> None:
        """Bind and serve; OSError naming the endpoint if it cannot listen."""
        await self._server.start()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish; idempotent."""
        await self._server.shutdown()
