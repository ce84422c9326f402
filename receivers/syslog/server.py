"""The listeners: a TCP (optionally TLS) server and a UDP endpoint, handing chunks of frames on.

TCP: each connection is read in chunks (whatever has arrived, up to `READ_SIZE`); the frames a
chunk completes become one batch, and the connection is not read again until that batch has been
handed on, so a slow pipeline slows the sender down (TCP flow control) instead of filling memory.
UDP: datagrams that arrive while a batch is being handed on are gathered into the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from collector.config import split_host_port
from receivers.syslog import wire
from receivers.syslog.config import MAX_UDP_SIZE
from receivers.syslog.framing import Framer, FramingMode
from receivers.syslog.protocol import key_field

__all__ = ["Chunk", "NameResolver", "TcpServer", "UdpServer", "net_attributes"]

READ_SIZE = 256 * 1024
"""The most one read takes from a connection (bounds the work, and the batch, per chunk)."""
STREAM_LIMIT = 1024 * 1024
"""Bytes buffered per connection before the transport stops reading."""
UDP_PENDING_LIMIT = 32 * 1024 * 1024
"""Datagram bytes waiting for the pipeline beyond which new datagrams are dropped."""
_RESOLVE_TTL = 300.0  # the collector's IPResolver keeps names 5 minutes

Chunk = list[tuple[list[bytes], bytes]]
"""Frames with the encoded attributes to add to their records (per peer)."""
Deliver = Callable[[Chunk, str], Awaitable[None]]
"""Takes a chunk of frames and the transport name (`tcp` / `udp`)."""

log = logging.getLogger("airis.receivers.syslog")


def _host(address: str) -> str | None:
    host, _ = split_host_port(address)
    return host or None


def _plain_ip(ip: str) -> str:
    """`::ffff:10.0.0.1` -> `10.0.0.1`, as Go prints IPv4-mapped addresses."""
    return ip.removeprefix("::ffff:") if ip.startswith("::ffff:") and "." in ip else ip


class NameResolver:
    """Reverse DNS with a 5-minute cache, as the collector's IPResolver (the IP when there is no name)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, float]] = {}

    async def name(self, ip: str) -> str:
        """The host name of `ip` (its first reverse DNS name without the trailing dot), else `ip`."""
        cached = self._cache.get(ip)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        loop = asyncio.get_running_loop()
        try:
            host = (await loop.run_in_executor(None, socket.gethostbyaddr, ip))[0].removesuffix(".")
        except OSError:
            host = ip
        self._cache[ip] = (host, now + _RESOLVE_TTL)
        return host


async def net_attributes(
    resolver: NameResolver,
    transport: Literal["IP.TCP", "IP.UDP"],
    peer: tuple[str, int],
    host: tuple[str, int],
) -> bytes:
    """Encoded `net.transport`, `net.peer.{ip,port,name}` and `net.host.{ip,port,name}` attributes."""
    peer_ip, host_ip = _plain_ip(peer[0]), _plain_ip(host[0])
    values = {
        "net.transport": transport,
        "net.peer.ip": peer_ip,
        "net.peer.port": str(peer[1]),
        "net.peer.name": await resolver.name(peer_ip),
        "net.host.ip": host_ip,
        "net.host.port": str(host[1]),
        "net.host.name": await resolver.name(host_ip),
    }
    return b"".join(wire.string_attribute(key_field(k), v.encode()) for k, v in values.items())


class TcpServer:
    """Accepts connections and feeds each one's frames to `deliver`, one chunk at a time."""

    def __init__(
        self,
        address: str,
        deliver: Deliver,
        mode: FramingMode,
        max_size: int,
        add_attributes: bool,
        ssl_context: ssl.SSLContext | None = None,
        on_truncated: Callable[[int], None] | None = None,
    ) -> None:
        self.address, self.deliver, self.mode, self.max_size = address, deliver, mode, max_size
        self.add_attributes, self.ssl_context = add_attributes, ssl_context
        self.on_truncated = on_truncated or (lambda n: None)
        self.resolver = NameResolver()
        self.server: asyncio.Server | None = None
        self.connections: dict[asyncio.Task[None], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.port = 0
        """The bound port (useful with port 0)."""

    async def start(self) -> None:
        """Listen; OSError when the address cannot be bound."""
        _, port = split_host_port(self.address)
        self.server = await asyncio.start_server(
            self._accepted, _host(self.address), port, ssl=self.ssl_context, limit=STREAM_LIMIT
        )
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting and reading; hand on what was read (for `grace` seconds at most), close."""
        server, self.server = self.server, None
        if server is not None:
            server.close()
        for reader, writer in self.connections.values():
            pause = getattr(writer.transport, "pause_reading", None)
            if callable(pause):
                pause()
            reader.feed_eof()
        tasks = list(self.connections)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[task] = (reader, writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as err:
            log.debug("syslog connection %s ended: %s", writer.get_extra_info("peername"), err)
        except Exception:  # a bug must cost one connection, not the listener
            log.exception("syslog connection %s failed", writer.get_extra_info("peername"))
        finally:
            self.connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        extra = b""
        if self.add_attributes:
            peer, host = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
            extra = await net_attributes(self.resolver, "IP.TCP", peer[:2], host[:2])
        framer = Framer(self.mode, self.max_size)
        while True:
            data = await reader.read(READ_SIZE)
            frames = framer.feed(data) if data else framer.finish()
            if framer.truncated:
                self.on_truncated(framer.truncated)
                framer.truncated = 0
            if frames:
                await self.deliver([(frames, extra)], "tcp")
            if not data:
                return


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: UdpServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.server.received(data, addr)


class UdpServer:
    """Receives datagrams (each split on LF, as the collector does) and hands them on in bursts."""

    def __init__(self, address: str, deliver: Deliver, add_attributes: bool) -> None:
        self.address, self.deliver, self.add_attributes = address, deliver, add_attributes
        self.resolver = NameResolver()
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[tuple[bytes, tuple[str, int]]] = []
        self.pending_bytes = 0
        self.dropped = 0
        """Datagrams dropped because too many bytes were waiting."""
        self.wakeup = asyncio.Event()
        self.worker: asyncio.Task[None] | None = None
        self.port = 0
        self.host: tuple[str, int] = ("", 0)

    async def start(self) -> None:
        """Bind; OSError when the address cannot be bound."""
        host, port = split_host_port(self.address)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(host or "0.0.0.0", port)
        )
        self.transport = transport
        self.host = transport.get_extra_info("sockname")[:2]
        self.port = int(self.host[1])
        self.worker = asyncio.create_task(self._work(), name=f"syslog udp {self.address}")

    async def shutdown(self) -> None:
        """Stop receiving, hand on what has arrived, return."""
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.close()
        worker, self.worker = self.worker, None
        if worker is not None:
            self.wakeup.set()
            try:
                await asyncio.wait_for(worker, 5)
            except (TimeoutError, asyncio.CancelledError):
                worker.cancel()

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Queue one datagram (dropped when too much is waiting already)."""
        if self.pending_bytes + len(data) > UDP_PENDING_LIMIT:
            self.dropped += 1
            return
        self.pending.append((data[:MAX_UDP_SIZE], addr))
        self.pending_bytes += len(data)
        self.wakeup.set()

    async def _work(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            burst, self.pending, self.pending_bytes = self.pending, [], 0
            if burst:
                try:
                    chunk = await self._chunk(burst)
                    if chunk:
                        await self.deliver(chunk, "udp")
                except Exception:  # a bug must cost one burst, not the listener
                    log.exception("syslog datagrams from %d senders failed", len({a for _, a in burst}))
            if self.transport is None and not self.pending:
                return

    async def _chunk(self, burst: list[tuple[bytes, tuple[str, int]]]) -> Chunk:
        """The burst's frames grouped by consecutive sender (each group with its `net.*` attributes)."""
        chunk: Chunk = []
        previous: tuple[str, int] | None = None
        for data, addr in burst:
            frames = data.split(b"\n")
            if addr == previous and chunk:
                chunk[-1][0].extend(frames)
                continue
            extra = b""
            if self.add_attributes:
                extra = await net_attributes(self.resolver, "IP.UDP", addr[:2], self.host)
            chunk.append((frames, extra))
            previous = addr
        return chunk
