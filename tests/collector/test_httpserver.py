"""Embedded HTTP serving: accepted connections send small responses at once (TCP_NODELAY)."""

from __future__ import annotations

import asyncio
import socket

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from collector.httpserver import HttpServer


async def test_accepted_connections_have_nodelay_so_responses_do_not_wait_for_delayed_acks() -> None:
    seen: list[int] = []

    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    server = HttpServer(Starlette(routes=[Route("/", hello)]), "127.0.0.1:0", "test server")
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        # The server side of this connection: find it among the process's sockets by its peer.
        local = writer.get_extra_info("sockname")
        for transport_socket in _server_sockets_peered_with(local):
            seen.append(transport_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
    finally:
        await server.shutdown()
    assert seen and all(seen)


def _server_sockets_peered_with(address: tuple[str, int]) -> list[socket.socket]:
    """The server's accepted sockets whose peer is `address` (the client's end of the connection)."""
    import gc

    found = []
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            try:
                if obj.getpeername() == address:
                    found.append(obj)
            except OSError:
                pass
    return found
