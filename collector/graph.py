"""The pipeline graph, built once from a checked Config.

Receivers feed every pipeline that names them (one instance per id); each pipeline has its own
processor instances; exporters are shared by all pipelines of one signal (fan-in) and a pipeline
fans out to all of its exporters. Connectors join pipelines; a cycle through them is rejected.
Start runs in reverse topological order (exporters first); shutdown in topological order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector.component import (
    Component,
    ComponentId,
    ConnectorFactory,
    Consumer,
    ExtensionFactory,
    Kind,
    Settings,
)
from collector.config import Config, Pipeline
from collector.configstruct import join
from collector.errors import ConfigError, ConsumeError, PermanentError, Problem, RetryableError
from collector.signal import Signal
from collector.telemetry import Metric, MetricsRegistry, processor_item_counters

if TYPE_CHECKING:
    from collector.pdata import Batch

log = logging.getLogger("airis.graph")


class FanOut:
    """Hands one batch to several consumers concurrently; fails if any of them fails."""

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self.consumers = tuple(consumers)

    async def consume(self, batch: Batch) -> None:
        results = await asyncio.gather(*(c.consume(batch) for c in self.consumers), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, ConsumeError):
                raise error
        if errors:
            retryable = [e for e in errors if isinstance(e, RetryableError)]
            if retryable:
                raise retryable[0]
            raise PermanentError("; ".join(str(e) for e in errors))


def fan_out(consumers: Sequence[Consumer]) -> Consumer:
    """One consumer standing for `consumers` (itself when there is just one)."""
    return consumers[0] if len(consumers) == 1 else FanOut(consumers)


class _CountingConsumer:
    """Counts items going through, for `otelcol_processor_{incoming,outgoing}_items`."""

    def __init__(self, inner: Consumer, metric: Metric, labels: dict[str, str]) -> None:
        self.inner, self.metric, self.labels = inner, metric, labels

    async def consume(self, batch: Batch) -> None:
        self.metric.add(len(batch), **self.labels)
        await self.inner.consume(batch)


@dataclass
class Node:
    """One component instance in the graph, with the nodes it hands data to."""

    kind: Kind
    id: ComponentId
    component: Any
    label: str
    downstream: list[Node] = field(default_factory=list)


class Graph:
    """Every component instance of a config, and the order to start and stop them in."""

    def __init__(self, config: Config, telemetry: MetricsRegistry) -> None:
        self.config = config
        self.telemetry = telemetry
        self.problems: list[Problem] = []
        self.extensions: dict[ComponentId, Component] = {}
        self.nodes: list[Node] = []
        self._exporters: dict[tuple[Signal, ComponentId], Node] = {}
        self._connectors: dict[tuple[ComponentId, Signal, Signal], Node] = {}
        self._entries: dict[ComponentId, tuple[Consumer, list[Node]]] = {}
        self.receivers: dict[ComponentId, Node] = {}
        self._incoming, self._outgoing = processor_item_counters(telemetry)

    @classmethod
    def build(cls, config: Config, telemetry: MetricsRegistry) -> Graph:
        """Create every component of `config`; ConfigError lists whatever could not be created."""
        graph = cls(config, telemetry)
        graph._check_cycles()
        if not graph.problems:
            graph._build_extensions()
            for pipeline in config.pipelines.values():
                graph._entry(pipeline)
            graph._build_receivers()
        if graph.problems:
            raise ConfigError(graph.problems)
        return graph

    def _settings(self, kind: Kind, id: ComponentId, pipeline: ComponentId | None = None) -> Settings:
        return Settings(id, kind, self.telemetry, logging.getLogger(f"airis.{kind}.{id}"), pipeline)

    def _create(
        self, kind: Kind, id: ComponentId, label: str, *args: Any, pipeline: ComponentId | None = None
    ) -> Node | None:
        """Create one instance of a configured component as a graph node; record why if it cannot be."""
        cc = self.config.component(kind, id)
        create: Any = cc.factory.create
        try:
            component = create(self._settings(kind, id, pipeline), cc.config, *args)
        except (ValueError, ConfigError, OSError) as err:
            self.problems.append(Problem(join(f"{kind}s", id), f"cannot create: {err}"))
            return None
        node = Node(kind, id, component, label)
        self.nodes.append(node)
        return node

    # --- extensions -------------------------------------------------------------------------

    def _build_extensions(self) -> None:
        ordered = self._extension_order()
        for eid in ordered:
            cc = self.config.component(Kind.EXTENSION, eid)
            factory = cc.factory
            assert isinstance(factory, ExtensionFactory)
            try:
                self.extensions[eid] = factory.create(self._settings(Kind.EXTENSION, eid), cc.config)
            except (ValueError, ConfigError, OSError) as err:
                self.problems.append(Problem(join("extensions", eid), f"cannot create: {err}"))

    def _extension_order(self) -> list[ComponentId]:
        enabled = self.config.extensions
        deps: dict[ComponentId, list[ComponentId]] = {}
        for eid in enabled:
            cc = self.config.component(Kind.EXTENSION, eid)
            assert isinstance(cc.factory, ExtensionFactory)
            deps[eid] = list(cc.factory.dependencies(cc.config))
            for dep in deps[eid]:
                if dep not in enabled:
                    self.problems.append(
                        Problem(
                            join("extensions", eid),
                            f"needs extension {str(dep)!r}, which is not in service::extensions",
                        )
                    )
        order: list[ComponentId] = []
        state: dict[ComponentId, int] = {}

        def visit(eid: ComponentId, trail: list[ComponentId]) -> None:
            if state.get(eid) == 2:
                return
            if state.get(eid) == 1:
                cycle = " -> ".join(str(e) for e in [*trail[trail.index(eid) :], eid])
                self.problems.append(
                    Problem("service::extensions", f"extensions depend on each other in a cycle: {cycle}")
                )
                return
            state[eid] = 1
            for dep in deps.get(eid, []):
                if dep in deps:
                    visit(dep, [*trail, eid])
            state[eid] = 2
            order.append(eid)

        for eid in enabled:
            visit(eid, [])
        return order

    # --- pipelines ---------------------------------------------------------------------------

    def _check_cycles(self) -> None:
        """Reject a loop of pipelines joined by connectors, naming it."""
        pipelines = self.config.pipelines
        edges: dict[ComponentId, list[tuple[ComponentId, ComponentId]]] = {}
        for p in pipelines.values():
            edges[p.id] = [
                (c, q.id)
                for c in p.exporters
                if c in self.config.components[Kind.CONNECTOR]
                for q in pipelines.values()
                if c in q.receivers
            ]
        state: dict[ComponentId, int] = {}

        def visit(pid: ComponentId, trail: list[str]) -> bool:
            if state.get(pid) == 1:
                start = trail.index(str(pid))
                self.problems.append(
                    Problem(
                        "service::pipelines",
                        f"cycle through connectors: {' -> '.join([*trail[start:], str(pid)])}",
                    )
                )
                return True
            if state.get(pid) == 2:
                return False
            state[pid] = 1
            for connector, target in edges[pid]:
                if visit(target, [*trail, str(pid), f"[{connector}]"]):
                    return True
            state[pid] = 2
            return False

        for pid in pipelines:
            if visit(pid, []):
                return

    def _entry(self, pipeline: Pipeline) -> tuple[Consumer, list[Node]]:
        """The consumer where a pipeline's data enters (its first processor, or its fan-out), built once."""
        if pipeline.id in self._entries:
            return self._entries[pipeline.id]
        outputs: list[Consumer] = []
        out_nodes: list[Node] = []
        for eid in pipeline.exporters:
            if eid in self.config.components[Kind.CONNECTOR]:
                for node in self._connector_nodes(eid, pipeline.signal):
                    outputs.append(node.component)
                    out_nodes.append(node)
            elif (exporter := self._exporter(pipeline.signal, eid)) is not None:
                outputs.append(exporter.component)
                out_nodes.append(exporter)
        entry: Consumer = fan_out(outputs) if outputs else _Nowhere()
        next_nodes = out_nodes
        for pid in reversed(pipeline.processors):
            labels = {
                "processor": str(pid),
                "otel_signal": str(pipeline.signal),
                "pipeline": str(pipeline.id),
            }
            downstream = _CountingConsumer(entry, self._outgoing, labels)
            label = f"processor {pid} in pipeline {pipeline.id}"
            created = self._create(
                Kind.PROCESSOR, pid, label, pipeline.signal, downstream, pipeline=pipeline.id
            )
            if created is None:
                continue
            created.downstream = next_nodes
            entry = _CountingConsumer(created.component, self._incoming, labels)
            next_nodes = [created]
        self._entries[pipeline.id] = (entry, next_nodes)
        return entry, next_nodes

    def _exporter(self, signal: Signal, eid: ComponentId) -> Node | None:
        if (signal, eid) not in self._exporters:
            node = self._create(Kind.EXPORTER, eid, f"exporter {eid} ({signal})", signal)
            if node is None:
                return None
            self._exporters[(signal, eid)] = node
        return self._exporters[(signal, eid)]

    def _connector_nodes(self, cid: ComponentId, source: Signal) -> list[Node]:
        """The connector instances carrying `source` data from `cid` into every pipeline it feeds."""
        cc = self.config.component(Kind.CONNECTOR, cid)
        factory = cc.factory
        assert isinstance(factory, ConnectorFactory)
        nodes: list[Node] = []
        for target in Signal:
            if (source, target) not in factory.signals:
                continue
            targets = [p for p in self.config.pipelines.values() if p.signal is target and cid in p.receivers]
            if not targets:
                continue
            key = (cid, source, target)
            if key not in self._connectors:
                entries = [self._entry(p) for p in targets]
                label = f"connector {cid} ({source} -> {target})"
                node = self._create(
                    Kind.CONNECTOR, cid, label, source, target, fan_out([e for e, _ in entries])
                )
                if node is None:
                    continue
                node.downstream = [n for _, ns in entries for n in ns]
                self._connectors[key] = node
            nodes.append(self._connectors[key])
        return nodes

    def _build_receivers(self) -> None:
        for rid in self.config.components[Kind.RECEIVER]:
            users = [p for p in self.config.pipelines.values() if rid in p.receivers]
            if not users:
                continue
            nexts: dict[Signal, Consumer] = {}
            downstream: list[Node] = []
            for signal in Signal:
                entries = [self._entry(p) for p in users if p.signal is signal]
                if entries:
                    nexts[signal] = fan_out([e for e, _ in entries])
                    downstream += [n for _, ns in entries for n in ns]
            node = self._create(Kind.RECEIVER, rid, f"receiver {rid}", nexts)
            if node is not None:
                node.downstream = downstream
                self.receivers[rid] = node

    # --- order -------------------------------------------------------------------------------

    def topological(self) -> list[Node]:
        """Pipeline nodes, every node before the nodes it hands data to (receivers first)."""
        indegree = {id(n): 0 for n in self.nodes}
        for n in self.nodes:
            for d in _unique(n.downstream):
                indegree[id(d)] += 1
        ready = [n for n in self.nodes if indegree[id(n)] == 0]
        ordered: list[Node] = []
        while ready:
            node = ready.pop(0)
            ordered.append(node)
            for d in _unique(node.downstream):
                indegree[id(d)] -= 1
                if indegree[id(d)] == 0:
                    ready.append(d)
        return ordered


def _unique(nodes: Iterable[Node]) -> list[Node]:
    seen: dict[int, Node] = {}
    for n in nodes:
        seen.setdefault(id(n), n)
    return list(seen.values())


class _Nowhere:
    """Stands in for a pipeline whose outputs could not be created (only while reporting problems)."""

    async def consume(self, batch: Batch) -> None:
        raise PermanentError("pipeline has no exporter")


def start_order(graph: Graph) -> list[Node]:
    """Exporters first, receivers last."""
    return list(reversed(graph.topological()))


def summarize(graph: Graph) -> Mapping[str, list[str]]:
    """What the graph holds, by kind, for `airis validate` to print."""
    out: dict[str, list[str]] = {"extensions": [str(e) for e in graph.extensions]}
    for node in graph.topological():
        out.setdefault(f"{node.kind}s", []).append(node.label)
    return out
