"""The `syslog` receiver: one listener, each received chunk parsed into one batch of log records.

Syslog has no acknowledgements: a batch the pipeline refuses cannot be handed back to the sender,
so it is dropped, logged and counted (`otelcol_receiver_refused_log_records`). Frames that do not
parse are counted in `airis_receiver_malformed_log_records` (and, with `on_error: send`, sent
unparsed; with `drop`, dropped), frames cut at `max_log_size` in `airis_receiver_truncated_log_records`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from collector.component import Consumer, Host, Settings
from collector.pdata import Batch
from collector.signal import Signal
from collector.telemetry import ReceiverTelemetry
from collector.tlsconfig import server_ssl_context
from receivers.syslog.config import SyslogReceiverConfig
from receivers.syslog.framing import FramingMode
from receivers.syslog.records import Encoded, RecordEncoder
from receivers.syslog.server import Chunk, TcpServer, UdpServer

__all__ = ["SyslogReceiver"]

_LOG_EVERY = 10.0  # seconds between two log lines about the same kind of problem


class SyslogReceiver:
    """Listens on TCP or UDP and hands each chunk of syslog messages on as one batch of log records."""

    def __init__(
        self, settings: Settings, config: SyslogReceiverConfig, nexts: Mapping[Signal, Consumer]
    ) -> None:
        self.settings, self.config = settings, config
        self.next = nexts[Signal.LOGS]
        self.logger = settings.logger
        listener = config.tcp or config.udp
        assert listener is not None, "validate() requires tcp or udp"
        self.encoder = RecordEncoder(
            config,
            leading=not listener.preserve_leading_whitespaces,
            trailing=not listener.preserve_trailing_whitespaces,
        )
        self.quiet = config.on_error.endswith("_quiet")
        self.server: TcpServer | UdpServer | None = None
        self._lock = asyncio.Lock()
        self._logged: dict[str, float] = {}
        registry, receiver = settings.telemetry, str(settings.id)
        self._telemetry = {t: ReceiverTelemetry(registry, receiver, t) for t in ("tcp", "udp")}
        self._malformed = registry.counter(
            "airis_receiver_malformed_log_records",
            "Number of syslog frames that did not parse (sent unparsed or dropped, as on_error says).",
        )
        self._truncated = registry.counter(
            "airis_receiver_truncated_log_records", "Number of syslog frames cut at max_log_size."
        )

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        return self.server.port if self.server is not None else 0

    async def start(self, host: Host) -> None:
        """Bind the listener; OSError naming the address if it cannot."""
        async with self._lock:
            if self.server is not None:
                return
            server = self._make_server()
            try:
                await server.start()
            except OSError as err:
                raise OSError(
                    err.errno,
                    f"receiver {self.settings.id}: cannot listen on {server.address}: {err.strerror}",
                ) from None
            self.server = server

    def _make_server(self) -> TcpServer | UdpServer:
        config, path = self.config, f"receivers::{self.settings.id}"
        if config.tcp is not None:
            tcp = config.tcp
            mode: FramingMode = (
                "octet"
                if config.enable_octet_counting
                else "nul"
                if config.non_transparent_framing_trailer == "NUL"
                else "lf"
            )
            context = server_ssl_context(tcp.tls, f"{path}::tcp::tls") if tcp.tls is not None else None
            if context is not None:
                context.set_alpn_protocols([])  # plain syslog over TLS (RFC 5425), no ALPN
            return TcpServer(
                tcp.listen_address,
                self._deliver,
                mode,
                tcp.max_log_bytes,
                tcp.add_attributes,
                context,
                on_truncated=self._count_truncated,
            )
        assert config.udp is not None
        return UdpServer(config.udp.listen_address, self._deliver, config.udp.add_attributes)

    async def shutdown(self) -> None:
        """Stop listening, hand on what was received, return; idempotent and safe without start."""
        async with self._lock:
            server, self.server = self.server, None
            if server is not None:
                await server.shutdown()

    async def _deliver(self, chunk: Chunk, transport: str) -> None:
        """Parse a chunk into one batch and hand it on; a refusal drops it (syslog has no ack)."""
        now = time.time_ns()
        parts = [
            self.encoder.encode(p, extra, now)
            for frames, extra in chunk
            if (p := self.encoder.prepare(frames))
        ]
        encoded = parts[0] if len(parts) == 1 else Encoded.join(parts)
        labels = {"receiver": str(self.settings.id), "transport": transport}
        if encoded.malformed:
            self._malformed.add(encoded.malformed, **labels)
            self._log_malformed(encoded)
        if not encoded.count:
            return
        telemetry = self._telemetry[transport]
        batch = Batch.from_otlp_bytes(Signal.LOGS, self.encoder.request(encoded))
        try:
            await self.next.consume(batch)
        except asyncio.CancelledError:
            telemetry.refused(Signal.LOGS, encoded.count)
            raise
        except Exception as err:
            telemetry.refused(Signal.LOGS, encoded.count)
            self._log(
                "refused",
                logging.WARNING,
                "receiver %s: the pipeline refused %d log records; dropped (syslog cannot ask the sender "
                "to retry): %s",
                self.settings.id,
                encoded.count,
                err,
            )
            return
        telemetry.accepted(Signal.LOGS, encoded.count)

    def _count_truncated(self, frames: int) -> None:
        transport = "tcp" if self.config.tcp is not None else "udp"
        self._truncated.add(frames, receiver=str(self.settings.id), transport=transport)
        self._log(
            "truncated",
            logging.WARNING,
            "receiver %s: %d frames longer than max_log_size were cut to it",
            self.settings.id,
            frames,
        )

    def _log_malformed(self, encoded: Encoded) -> None:
        action = "dropped" if self.config.on_error.startswith("drop") else "sent unparsed"
        example = encoded.examples[0][:200].decode("utf-8", "replace") if encoded.examples else ""
        self._log(
            "malformed",
            logging.DEBUG if self.quiet else logging.ERROR,
            "receiver %s: %d frames are not %s syslog messages (%s), e.g. %r",
            self.settings.id,
            encoded.malformed,
            self.config.protocol,
            action,
            example,
        )

    def _log(self, kind: str, level: int, message: str, *args: object) -> None:
        """Log at most one line per `_LOG_EVERY` seconds of each kind (a flood of bad lines must not flood the log)."""
        now = time.monotonic()
        if now - self._logged.get(kind, -_LOG_EVERY) < _LOG_EVERY:
            return
        self._logged[kind] = now
        self.logger.log(level, message, *args)
