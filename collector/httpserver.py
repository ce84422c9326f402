"""Serving an ASGI app inside airis's own event loop: uvicorn, bound by us, without its signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_
from collections.abc import Iterator
from typing import Any

import uvicorn

from collector.config import split_host_port

log = logging.getLogger("airis.http")


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to airis."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(endpoint: str, what: str) -> socket.socket:
    """A listening TCP socket on `endpoint`; OSError naming `what` and the address if it is taken."""
    host, port = split_host_port(endpoint)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that name it, and without it a
    # response written in two parts waits for the client's delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        sock.listen(1024)
    except OSError as err:
        sock.close()
        raise OSError(err.errno, f"{what} cannot listen on {endpoint}: {err.strerror}") from None
    sock.setblocking(False)
    return sock


class HttpServer:
    """One ASGI app on one address (over TLS when given an `ssl` context); `start` binds, `shutdown` drains."""

    def __init__(self, app: Any, endpoint: str, what: str, ssl: ssl_.SSLContext | None = None) -> None:
        self.endpoint = endpoint
        self.what = what
        self.ssl = ssl
        self._config = uvicorn.Config(
            app,
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            loop="none",
            # uvicorn serves our bound socket with `config.ssl`, which it builds with this factory.
            ssl_context_factory=(lambda _config, _default: ssl) if ssl is not None else None,
        )
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        sock = bind(self.endpoint, self.what)
        self.port = sock.getsockname()[1]
        self._server = _EmbeddedUvicorn(self._config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"http {self.what}")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 (uvicorn sets a flag)
            await asyncio.sleep(0.005)
        if self._task.done():
            self._task.result()
        log.debug("%s listening on %s", self.what, self.endpoint)

    async def shutdown(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None
