"""The `otlp` receiver's factory and the receiver itself: one gRPC and/or one HTTP server per id.

Imports cheaply: grpc, starlette and uvicorn are imported by `start`, and only for the protocols
the config enables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from collector.component import Consumer, Host, ReceiverFactory, Settings, Stability
from collector.signal import Signal
from receivers.otlp.admission import MIB, AdmissionQueue
from receivers.otlp.config import OtlpReceiverConfig

if TYPE_CHECKING:
    from collector.auth.principal import Authenticator, AuthError
    from collector.auth.setting import AuthSetting
    from collector.pdata import Batch
    from collector.telemetry import ReceiverTelemetry

__all__ = ["FACTORY", "OtlpReceiver", "create_receiver"]


class _Server(Protocol):
    async def start(self) -> None: ...
    async def shutdown(self) -> None: ...


class OtlpReceiver:
    """Serves OTLP over the configured protocols and hands each request to its signal's next consumer."""

    def __init__(
        self, settings: Settings, config: OtlpReceiverConfig, nexts: Mapping[Signal, Consumer]
    ) -> None:
        self.settings = settings
        self.config = config
        self.nexts = dict(nexts)
        self.servers: list[_Server] = []
        self._lock = asyncio.Lock()
        admission = config.admission
        self.admission = AdmissionQueue(
            admission.request_limit_mib * MIB,
            admission.waiting_limit_mib * MIB,
            f"receivers::{settings.id}::admission",
        )

    async def start(self, host: Host) -> None:
        """Bind every configured protocol; OSError naming the endpoint if one cannot listen,
        ConfigError naming the `auth` key if its extension is not started."""
        protocols = self.config.protocols
        async with self._lock:
            if self.servers:
                return
            grpc_auth = self._authenticator(host, "grpc", protocols.grpc.auth if protocols.grpc else None)
            http_auth = self._authenticator(host, "http", protocols.http.auth if protocols.http else None)
            try:
                if protocols.grpc is not None:
                    from receivers.otlp.grpc_server import OtlpGrpcServer

                    self.servers.append(OtlpGrpcServer(self, protocols.grpc, grpc_auth))
                    await self.servers[-1].start()
                if protocols.http is not None:
                    from receivers.otlp.http_server import OtlpHttpServer

                    self.servers.append(OtlpHttpServer(self, protocols.http, http_auth))
                    await self.servers[-1].start()
            except BaseException:
                await self._stop_servers()
                raise

    def _authenticator(self, host: Host, protocol: str, auth: AuthSetting | None) -> Authenticator | None:
        """The started `auth` extension a protocol's `auth` names (None: open to every writer)."""
        if auth is None:
            return None
        return auth.resolve(host, f"receivers::{self.settings.id}::protocols::{protocol}::auth")

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish, return; idempotent and safe without start."""
        async with self._lock:
            await self._stop_servers()

    async def _stop_servers(self) -> None:
        servers, self.servers = self.servers, []
        for server in servers:
            await server.shutdown()

    async def export(self, batch: Batch, telemetry: ReceiverTelemetry) -> None:
        """Decode `batch` (MalformedData if it is not the signal's request), hand it on and count it.

        Raises what the next consumer raises (after counting the items as refused).
        """
        items = batch.check()  # parse now: a malformed request is the client's error, not the pipeline's
        if items == 0:
            return
        try:
            await self.nexts[batch.signal].consume(batch)
        except BaseException:
            telemetry.refused(batch.signal, items)
            raise
        telemetry.accepted(batch.signal, items)

    def admission_refused(self, transport: str) -> None:
        """Count a request refused by admission control (before decoding, so its items are unknown)."""
        self.settings.telemetry.counter(
            "airis_receiver_admission_refused_requests",
            "Number of requests refused by the receiver's admission control (too many bytes in flight).",
        ).add(1, receiver=str(self.settings.id), transport=transport)

    def auth_refused(self, transport: str, error: AuthError) -> None:
        """Count a request refused by authentication (before decoding, so its items are unknown)."""
        self.settings.telemetry.counter(
            "airis_receiver_auth_refused_requests",
            "Number of requests refused by the receiver's authentication (credentials, role, tenant, rate).",
        ).add(1, receiver=str(self.settings.id), transport=transport, reason=error.code)

    def what(self, protocol: str) -> str:
        """How errors and logs name one of this receiver's servers."""
        return f"receiver {self.settings.id} (receivers::{self.settings.id}::protocols::{protocol})"


def create_receiver(
    settings: Settings, config: OtlpReceiverConfig, nexts: Mapping[Signal, Consumer]
) -> OtlpReceiver:
    """One receiver serving every signal in `nexts`; no I/O until `start`."""
    return OtlpReceiver(settings, config, nexts)


FACTORY: ReceiverFactory[OtlpReceiverConfig] = ReceiverFactory(
    type="otlp",
    config_type=OtlpReceiverConfig,
    create=create_receiver,
    signals={Signal.TRACES: Stability.BETA, Signal.METRICS: Stability.BETA, Signal.LOGS: Stability.BETA},
)
