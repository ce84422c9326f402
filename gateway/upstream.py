"""The gateway's client of one query service: JSON calls and event streams, over HTTP or in-process.

All-in-one, the services run in the gateway's process and are called through their ASGI app by
`StreamingASGITransport`; apart, over HTTP. The same `ServiceClient` serves both (only the httpx
transport differs), every call goes through the service's `Resilience`, and every failure becomes a
`GatewayError` whose message is fit for the GraphQL caller (internal detail goes to the log only).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import httpx
from starlette.types import ASGIApp, Message, Scope

from collector.tlsconfig import TlsClientConfig, client_ssl_context
from gateway.errors import ErrorCode, GatewayError, code_for_status, unavailable
from gateway.resilience import Resilience

log = logging.getLogger("airis.gateway")

Params = Sequence[tuple[str, str]] | Mapping[str, str]
DEFAULT_FORWARD_HEADERS = ("authorization", "x-scope-orgid")
RETRYABLE_STATUSES = frozenset({502, 503, 504})
_MAX_BUFFERED_CHUNKS = 16  # an in-process app waits while this many body chunks are unread
_MAX_MESSAGE = 1000  # characters of an upstream error message passed on


# --- in-process transport ----------------------------------------------------------------------


class _AppRun:
    """One request through an ASGI app in its own task: the response start, then body chunks as they come."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        body: AsyncIterator[bytes],
        close_grace: float,
        lingering: set[asyncio.Task[None]],
    ) -> None:
        self.scope = scope
        self.close_grace = close_grace
        self.lingering = lingering
        self.started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()  # None: the body ended
        self._body: AsyncIterator[bytes] | None = body
        self._head = scope["method"] == "HEAD"
        self._finished = asyncio.Event()  # the response is complete or the client left
        self._drained = asyncio.Event()
        self._client_left = False
        self._closed = False
        self.task = asyncio.create_task(self._run(app), name=f"asgi {scope['method']} {scope['path']}")

    async def _run(self, app: ASGIApp) -> None:
        failed = False
        try:
            await app(self.scope, self._receive, self._send)
        except Exception:
            failed = True
            if self._client_left:
                log.debug(
                    "in-process %s %s ended after the client left", self.scope["method"], self.scope["path"]
                )
            else:
                log.exception(
                    "exception in in-process ASGI app (%s %s)", self.scope["method"], self.scope["path"]
                )
        if not self.started.done():  # no response at all: answered as uvicorn does
            self.started.set_result((500, [(b"content-type", b"text/plain; charset=utf-8")]))
            self.chunks.put_nowait(b"Internal Server Error")
            failed = False
        if not self._finished.is_set():
            self._finished.set()
            self.chunks.put_nowait(
                httpx.ReadError("the in-process app failed mid-response") if failed else None
            )

    async def _receive(self) -> Message:
        if self._body is not None and not self._client_left:
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                self._body = None
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        await self._finished.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._client_left:
            raise OSError("the client closed the response")
        if message["type"] == "http.response.start":
            if self.started.done():
                raise RuntimeError("http.response.start sent twice")
            self.started.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            if not self.started.done():
                raise RuntimeError("http.response.body sent before http.response.start")
            if self._finished.is_set():
                return
            body = message.get("body", b"")
            if body and not self._head:
                while self.chunks.qsize() >= _MAX_BUFFERED_CHUNKS and not self._client_left:
                    self._drained.clear()
                    await self._drained.wait()
                if self._client_left:
                    raise OSError("the client closed the response")
                self.chunks.put_nowait(bytes(body))
            if not message.get("more_body", False):
                self._finished.set()
                self.chunks.put_nowait(None)

    async def next_chunk(self) -> bytes | Exception | None:
        chunk = await self.chunks.get()
        self._drained.set()
        return chunk

    async def close(self, grace: float | None = None) -> None:
        """Tell the app the client left (`http.disconnect`), give it `grace` seconds, then cancel it.

        After a complete response the app may go on (e.g. with background tasks) as over HTTP.
        """
        if self._closed:
            return
        self._closed = True
        if self._finished.is_set() and not self._client_left and grace is None:
            if not self.task.done():
                self.lingering.add(self.task)
                self.task.add_done_callback(self.lingering.discard)
            return
        if not self._finished.is_set():
            self._client_left = True
            self._finished.set()
        self._drained.set()
        try:
            if not self.task.done():
                await asyncio.wait({self.task}, timeout=self.close_grace if grace is None else grace)
        finally:
            if not self.task.done():
                self.task.cancel()
                await asyncio.wait({self.task})


class _AppResponseStream(httpx.AsyncByteStream):
    def __init__(self, run: _AppRun) -> None:
        self.run = run

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.run.next_chunk()
            if chunk is None:
                return
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    async def aclose(self) -> None:
        await self.run.close()


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Calls an ASGI app in-process as httpx.ASGITransport does, but streams the response body.

    The response returns as soon as the app starts it, so an endless event stream can be read;
    closing the response sends `http.disconnect` to the app and ends its task.
    """

    def __init__(self, app: ASGIApp, close_grace: float = 1.0) -> None:
        self.app = app
        self.close_grace = close_grace
        self._lingering: set[asyncio.Task[None]] = set()  # apps still running after their response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(key.lower(), value) for key, value in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (url.host, port),
        }
        run = _AppRun(self.app, scope, aiter(request.stream), self.close_grace, self._lingering)
        try:
            status, headers = await run.started
        except BaseException:  # e.g. the caller's timeout: stop the app at once
            await run.close(grace=0)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_AppResponseStream(run),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        """Cancel what apps still do after their responses."""
        tasks = list(self._lingering)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


# --- Server-Sent Events ------------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    """One event of a text/event-stream: its type (`message` unless named), data and last event id."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


class SseParser:
    """The text/event-stream format, line by line (the WHATWG rules; comments and unknown fields skipped)."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.retry: int | None = None
        """The reconnection time in milliseconds the server last asked for."""
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its end); the event a blank line completes, if any."""
        if not line:
            event = None
            if self._data:
                event = SseEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None


class SseStream:
    """One event stream of a service: `async with client.stream_events(...) as events: async for e in events`.

    Opening goes through the service's resilience (errors before the first byte are mapped and retried
    as for JSON calls); once open, a broken stream is UPSTREAM_UNAVAILABLE and is not retried.
    """

    def __init__(self, client: ServiceClient, build: Callable[[], httpx.Request]) -> None:
        self.client = client
        self._build = build
        self._response: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None
        self._parser = SseParser()
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event read (to resume from)."""
        return self._parser.last_event_id

    async def __aenter__(self) -> Self:
        response = await self.client.resilience.call(self._open)
        self._response = response
        self._lines = response.aiter_lines()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SseEvent:
        if self._lines is None or self._closed:
            raise RuntimeError("read an event stream inside `async with`, before it is closed")
        while True:
            try:
                line = await anext(self._lines)
            except httpx.HTTPError as err:
                log.warning("%s service: the event stream broke: %s", self.client.name, _describe(err))
                raise unavailable(self.client.name, "the event stream ended unexpectedly") from None
            event = self._parser.feed(line)
            if event is not None:
                return event

    async def aclose(self) -> None:
        """Close the stream (the service sees the client leave); idempotent."""
        if self._closed:
            return
        self._closed = True
        lines, self._lines = self._lines, None
        closer = getattr(lines, "aclose", None)
        if closer is not None:
            with contextlib.suppress(httpx.HTTPError):
                await closer()
        if self._response is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._response.aclose()

    async def _open(self) -> httpx.Response:
        response = await self.client.send(self._build())
        if not 200 <= response.status_code < 300:
            body = await self.client.read(response)
            raise self.client.error_for(response, body)
        media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "text/event-stream":
            await response.aclose()
            log.warning("%s service: expected an event stream, got %r", self.client.name, media_type)
            raise _unexpected(self.client.name)
        return response


# --- the client --------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` value (delay-seconds or an HTTP date); None if absent, bad or past."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return seconds if seconds > 0 else None


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return f"{type(err).__name__}: {text}"


def _unexpected(service: str) -> GatewayError:
    return GatewayError(
        ErrorCode.INTERNAL_SERVER_ERROR, f"the {service} service sent an unexpected answer", service=service
    )


def _pairs(params: Params) -> tuple[tuple[str, str], ...]:
    return tuple(params.items()) if isinstance(params, Mapping) else tuple(params)


def _upstream_message(body: bytes) -> str:
    """The `error` text of a service's JSON error body ("" if there is none)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    message = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(message, str):
        return ""
    message = message.strip()
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


class ServiceClient:
    """Calls one query service (`name`: traces, logs, metrics) at `base_url` through `transport`.

    Only headers named in `forward_headers` pass from the caller to the service, which enforces tenants.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None,
        resilience: Resilience,
        forward_headers: tuple[str, ...] = DEFAULT_FORWARD_HEADERS,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.resilience = resilience
        self.forward_headers = frozenset(header.lower() for header in forward_headers)
        self.extensions = dict(extensions or {})
        self._client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=None,  # the resilience's per-attempt timeout bounds a call
            follow_redirects=False,
            headers={"user-agent": "airis-gateway"},
        )

    @classmethod
    def in_process(
        cls,
        name: str,
        app: ASGIApp,
        resilience: Resilience,
        forward_headers: tuple[str, ...] = DEFAULT_FORWARD_HEADERS,
    ) -> ServiceClient:
        """A client calling `app` in this process (all-in-one mode)."""
        return cls(name, f"http://{name}.service", StreamingASGITransport(app), resilience, forward_headers)

    @classmethod
    def over_http(
        cls,
        name: str,
        endpoint: str,
        resilience: Resilience,
        tls: TlsClientConfig | None = None,
        forward_headers: tuple[str, ...] = DEFAULT_FORWARD_HEADERS,
        tls_path: str = "tls",
    ) -> ServiceClient:
        """A client of the service at `endpoint` (`host:port` or a URL; https when `tls` is given).

        A TLS file that cannot be loaded is a ConfigError naming `tls_path`.
        """
        url = endpoint if "://" in endpoint else f"{'https' if tls is not None else 'http'}://{endpoint}"
        https = url.startswith("https://")
        verify = client_ssl_context(tls, tls_path) if https and tls is not None else True
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=resilience.config.bulkhead.max_concurrent
        )
        transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
        extensions: dict[str, Any] = {}
        if https and tls is not None and tls.server_name_override:
            extensions["sni_hostname"] = tls.server_name_override
        return cls(name, url, transport, resilience, forward_headers, extensions)

    async def get_json(
        self,
        path: str,
        params: Params = (),
        headers: Mapping[str, str] | None = None,
        *,
        not_found_none: bool = False,
    ) -> Any:
        """GET `path` and parse its JSON; a 404 is None when `not_found_none`, else NOT_FOUND."""
        pairs = _pairs(params)
        sent = self._headers(headers, {"accept": "application/json"})

        def build() -> httpx.Request:
            return self._client.build_request(
                "GET", path, params=pairs, headers=sent, extensions=self.extensions
            )

        return await self.resilience.call(lambda: self._call(build, not_found_none))

    async def post_form(
        self,
        path: str,
        form: Params,
        headers: Mapping[str, str] | None = None,
        *,
        idempotent: bool = True,
    ) -> Any:
        """POST `form` url-encoded (repeated keys kept) and parse the JSON answer (Prometheus' POST query)."""
        content = urlencode(_pairs(form)).encode()
        sent = self._headers(
            headers, {"accept": "application/json", "content-type": "application/x-www-form-urlencoded"}
        )

        def build() -> httpx.Request:
            return self._client.build_request(
                "POST", path, content=content, headers=sent, extensions=self.extensions
            )

        return await self.resilience.call(lambda: self._call(build, False), idempotent=idempotent)

    def stream_events(
        self,
        path: str,
        params: Params = (),
        headers: Mapping[str, str] | None = None,
        *,
        last_event_id: str | None = None,
    ) -> SseStream:
        """The service's event stream at `path` (use with `async with`); resumes after `last_event_id`."""
        pairs = _pairs(params)
        extra = {"accept": "text/event-stream", "cache-control": "no-cache"}
        if last_event_id is not None:
            extra["last-event-id"] = last_event_id
        sent = self._headers(headers, extra)

        def build() -> httpx.Request:
            return self._client.build_request(
                "GET", path, params=pairs, headers=sent, extensions=self.extensions
            )

        return SseStream(self, build)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    # --- shared by calls and streams -----------------------------------------------------------

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and return once the headers are in; transport failures as GatewayError."""
        try:
            return await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.TimeoutException) as err:
            log.warning(
                "%s service: %s %s failed: %s", self.name, request.method, request.url.path, _describe(err)
            )
            raise unavailable(self.name, retryable=True) from None
        except httpx.HTTPError as err:
            log.warning(
                "%s service: %s %s failed: %s", self.name, request.method, request.url.path, _describe(err)
            )
            raise unavailable(self.name) from None

    async def read(self, response: httpx.Response) -> bytes:
        """The whole body, then the response closed; a broken body is UPSTREAM_UNAVAILABLE."""
        try:
            return await response.aread()
        except httpx.HTTPError as err:
            log.warning("%s service: reading an answer failed: %s", self.name, _describe(err))
            raise unavailable(self.name) from None
        finally:
            await response.aclose()

    def error_for(self, response: httpx.Response, body: bytes) -> GatewayError:
        """The GatewayError of a non-2xx answer: the service's message for 4xx, a neutral one otherwise."""
        status = response.status_code
        code = code_for_status(status)
        if code is ErrorCode.UPSTREAM_UNAVAILABLE or code is ErrorCode.INTERNAL_SERVER_ERROR:
            detail = body[:300].decode("utf-8", "replace").strip()
            log.warning("%s service answered HTTP %d: %s", self.name, status, detail)
            if code is ErrorCode.INTERNAL_SERVER_ERROR:
                return _unexpected(self.name)
            retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 503 else None
            return unavailable(self.name, retryable=status in RETRYABLE_STATUSES, retry_after=retry_after)
        message = _upstream_message(body) or self._default_message(code, status)
        retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
        return GatewayError(code, message, service=self.name, retry_after=retry_after)

    def _default_message(self, code: ErrorCode, status: int) -> str:
        return {
            ErrorCode.UNAUTHENTICATED: f"the {self.name} service needs valid credentials",
            ErrorCode.FORBIDDEN: f"the {self.name} service denied access",
            ErrorCode.NOT_FOUND: "not found",
            ErrorCode.RATE_LIMITED: f"the {self.name} service is busy; try again later",
        }.get(code, f"the {self.name} service refused the request (HTTP {status})")

    def _headers(self, headers: Mapping[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
        sent = {
            name: value for name, value in (headers or {}).items() if name.lower() in self.forward_headers
        }
        sent.update(extra)
        return sent

    async def _call(self, build: Callable[[], httpx.Request], not_found_none: bool) -> Any:
        response = await self.send(build())
        body = await self.read(response)
        if response.status_code == 404 and not_found_none:
            return None
        if not 200 <= response.status_code < 300:
            raise self.error_for(response, body)
        try:
            return json.loads(body)
        except ValueError:
            log.warning("%s service: the answer is not JSON: %r", self.name, body[:200])
            raise _unexpected(self.name) from None


__all__ = [
    "DEFAULT_FORWARD_HEADERS",
    "ServiceClient",
    "SseEvent",
    "SseParser",
    "SseStream",
    "StreamingASGITransport",
    "parse_retry_after",
]
