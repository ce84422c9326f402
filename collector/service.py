"""The running service: builds the graph, starts and stops it in order, reloads it on SIGHUP.

Start: internal telemetry, extensions in dependency order, then exporters -> processors -> receivers.
Shutdown: receivers first, processors and exporters draining what they hold, extensions last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping
from typing import Any

from collector.component import Component, ComponentId, Kind, ServiceStatus
from collector.config import Config, load
from collector.configstruct import encode
from collector.errors import AirisError, ConfigError
from collector.graph import Graph, start_order
from collector.httpserver import HttpServer
from collector.registry import Registry
from collector.telemetry import MetricsRegistry, configure_logging, metrics_server

log = logging.getLogger("airis.service")

ConfigSource = Callable[[], Mapping[str, object]]


class Service:
    """One airis process: its graph, its extensions and its own telemetry. It is the components' Host."""

    def __init__(self, source: ConfigSource, registry: Registry, shutdown_timeout: float = 30.0) -> None:
        self.source = source
        self.registry = registry
        self.shutdown_timeout = shutdown_timeout
        self.telemetry = MetricsRegistry()
        self.graph: Graph | None = None
        self.config: Config | None = None
        self._status = ServiceStatus.STOPPED
        self._started: list[Any] = []
        self._extensions: dict[ComponentId, Component] = {}
        self._extension_configs: dict[ComponentId, object] = {}
        self._metrics_server: HttpServer | None = None
        self._metrics_address: str | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()

    # --- Host ----------------------------------------------------------------------------------

    @property
    def status(self) -> ServiceStatus:
        return self._status

    def extension(self, id: ComponentId) -> Component:
        return self._extensions[id]

    def extensions(self) -> Mapping[ComponentId, Component]:
        return dict(self._extensions)

    # --- life ----------------------------------------------------------------------------------

    def load(self) -> tuple[Config, Graph]:
        """Read, check and build the configuration without starting anything."""
        config = load(self.source(), self.registry)
        return config, Graph.build(config, self.telemetry)

    async def start(self) -> None:
        """Build from the current configuration and start everything; on failure stop what started."""
        config, graph = self.load()
        await self._start(config, graph)

    async def _start(self, config: Config, graph: Graph) -> None:
        self._status = ServiceStatus.STARTING
        configure_logging(config.telemetry.logs.level, config.telemetry.logs.encoding)
        try:
            await self._start_metrics(config)
            await self._start_extensions(config, graph)
            for node in start_order(graph):
                log.debug("starting %s", node.label)
                await node.component.start(self)
                self._started.append(node)
        except BaseException:
            await self._stop_pipelines()
            await self._stop_extensions(keep=set())
            self._status = ServiceStatus.STOPPED
            raise
        self.graph, self.config = graph, config
        self._status = ServiceStatus.RUNNING
        log.info(
            "airis is running: %d pipelines, %d extensions", len(config.pipelines), len(self._extensions)
        )

    async def _start_metrics(self, config: Config) -> None:
        address = None if config.telemetry.metrics.level == "none" else config.telemetry.metrics.address
        if address == self._metrics_address:
            return
        if self._metrics_server is not None:
            await self._metrics_server.shutdown()
            self._metrics_server = None
        server = metrics_server(self.telemetry, config.telemetry)
        if server is not None:
            await server.start()
        self._metrics_server, self._metrics_address = server, address

    async def _start_extensions(self, config: Config, graph: Graph) -> None:
        for eid, component in graph.extensions.items():
            settings = encode(config.component(Kind.EXTENSION, eid).config)
            if eid in self._extensions and self._extension_configs.get(eid) == settings:
                graph.extensions[eid] = self._extensions[eid]  # unchanged across a reload: keep it open
                continue
            if eid in self._extensions:
                await _shutdown(self._extensions.pop(eid), f"extension {eid}")
            log.debug("starting extension %s", eid)
            await component.start(self)
            self._extensions[eid] = component
            self._extension_configs[eid] = settings

    async def _stop_pipelines(self) -> None:
        """Receivers first, then every node after the nodes that feed it."""
        started = {id(n) for n in self._started}
        order = (
            [n for n in reversed(start_order(self.graph))] if self.graph else list(reversed(self._started))
        )
        for node in order:
            if id(node) in started:
                log.debug("stopping %s", node.label)
                await _shutdown(node.component, node.label)
        self._started.clear()

    async def _stop_extensions(self, keep: set[ComponentId]) -> None:
        for eid in reversed(list(self._extensions)):
            if eid not in keep:
                await _shutdown(self._extensions.pop(eid), f"extension {eid}")
                self._extension_configs.pop(eid, None)

    async def shutdown(self) -> None:
        """Stop everything: pipelines upstream first, extensions and telemetry last."""
        if self._status is ServiceStatus.STOPPED and not self._started and not self._extensions:
            return
        self._status = ServiceStatus.STOPPING
        await self._stop_pipelines()
        await self._stop_extensions(keep=set())
        if self._metrics_server is not None:
            await self._metrics_server.shutdown()
            self._metrics_server = self._metrics_address = None
        self.graph = None
        self._status = ServiceStatus.STOPPED
        log.info("airis stopped")

    async def reload(self) -> bool:
        """Swap in the configuration read now; an invalid one leaves the running pipelines as they are."""
        try:
            config, graph = self.load()
        except AirisError as err:
            log.error("reload refused, the running configuration stays: %s", err)
            return False
        log.info("reloading configuration")
        previous = self.config
        self._status = ServiceStatus.STOPPING
        await self._stop_pipelines()
        keep = {eid for eid in graph.extensions if eid in self._extensions}
        await self._stop_extensions(keep=keep)
        try:
            await self._start(config, graph)
        except (OSError, AirisError) as err:
            log.error("the new configuration failed to start (%s); restarting the previous one", err)
            if previous is None:
                raise
            await self._start(previous, Graph.build(previous, self.telemetry))
            return False
        return True

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def run(self) -> int:
        """Start, then serve until SIGTERM/SIGINT (graceful, bounded) or reload on SIGHUP. Exit code."""
        loop = asyncio.get_running_loop()
        for sig, action in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGHUP, self.request_reload),
        ):
            loop.add_signal_handler(sig, action)
        try:
            try:
                await self.start()
            except (OSError, AirisError) as err:
                log.error("%s", err)
                return 1
            while not self._stop.is_set():
                stop = asyncio.ensure_future(self._stop.wait())
                reload = asyncio.ensure_future(self._reload.wait())
                await asyncio.wait({stop, reload}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                reload.cancel()
                if self._reload.is_set() and not self._stop.is_set():
                    self._reload.clear()
                    await self.reload()
            log.info("shutting down (at most %.0fs)", self.shutdown_timeout)
            try:
                await asyncio.wait_for(self.shutdown(), self.shutdown_timeout)
            except TimeoutError:
                log.error("shutdown took longer than %.0fs; exiting anyway", self.shutdown_timeout)
                return 1
            return 0
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)


async def _shutdown(component: Any, label: str) -> None:
    try:
        await component.shutdown()
    except Exception:
        log.exception("%s failed to shut down cleanly", label)


__all__ = ["ConfigError", "Service"]
