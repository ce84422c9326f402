"""The whole configuration: sections, component ids, the service, pipelines and every cross-reference.

`load(raw, registry)` checks everything before anything is created and raises one ConfigError that
lists every problem with its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from collector.component import AnyFactory, ComponentId, ConnectorFactory, Kind
from collector.configstruct import SEP, _describe, decode, join
from collector.errors import ConfigError, Problem
from collector.registry import Registry
from collector.signal import Signal

SECTIONS: dict[str, Kind] = {
    "receivers": Kind.RECEIVER,
    "processors": Kind.PROCESSOR,
    "exporters": Kind.EXPORTER,
    "connectors": Kind.CONNECTOR,
    "extensions": Kind.EXTENSION,
}


@dataclass
class PipelineConfig:
    """One pipeline's component ids, as written."""

    receivers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    exporters: list[str] = field(default_factory=list)


@dataclass
class LogsTelemetryConfig:
    """airis's own logs."""

    level: Literal["debug", "info", "warn", "error"] = "info"
    encoding: Literal["console", "json"] = "console"


@dataclass
class MetricsTelemetryConfig:
    """airis's own metrics, served in Prometheus text at `http://<address>/metrics`."""

    address: str = "127.0.0.1:8888"
    level: Literal["none", "basic", "normal", "detailed"] = "normal"

    def validate(self) -> None:
        if self.level != "none":
            split_host_port(self.address)


@dataclass
class TelemetryConfig:
    """`service.telemetry`."""

    logs: LogsTelemetryConfig = field(default_factory=LogsTelemetryConfig)
    metrics: MetricsTelemetryConfig = field(default_factory=MetricsTelemetryConfig)


@dataclass
class ServiceConfig:
    """`service`: extensions to run, pipelines, and airis's own telemetry."""

    extensions: list[str] = field(default_factory=list)
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


@dataclass(frozen=True)
class ComponentConfig:
    """One configured component: its id, factory and decoded config."""

    id: ComponentId
    factory: AnyFactory
    config: Any


@dataclass(frozen=True)
class Pipeline:
    """A checked pipeline: ids resolved against the sections."""

    id: ComponentId
    signal: Signal
    receivers: tuple[ComponentId, ...]
    processors: tuple[ComponentId, ...]
    exporters: tuple[ComponentId, ...]


@dataclass(frozen=True)
class Config:
    """A fully checked configuration, ready to build a pipeline graph from."""

    components: Mapping[Kind, Mapping[ComponentId, ComponentConfig]]
    extensions: tuple[ComponentId, ...]
    pipelines: Mapping[ComponentId, Pipeline]
    telemetry: TelemetryConfig

    def component(self, kind: Kind, id: ComponentId) -> ComponentConfig:
        """The configured component `id` of `kind`."""
        return self.components[kind][id]


def split_host_port(address: str) -> tuple[str, int]:
    """Split `host:port` (host may be empty or `[v6]`); ValueError naming the address otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not a host:port address (e.g. 127.0.0.1:8888)")
    return host.strip("[]"), int(port)


def load(raw: Mapping[str, object], registry: Registry) -> Config:
    """Check `raw` (the resolved map) completely; raise ConfigError listing every problem."""
    problems: list[Problem] = []
    for key in raw:
        if key not in (*SECTIONS, "service"):
            problems.append(
                Problem(str(key), f"unknown section (valid: {', '.join([*SECTIONS, 'service'])})")
            )

    components: dict[Kind, dict[ComponentId, ComponentConfig]] = {kind: {} for kind in Kind}
    for section, kind in SECTIONS.items():
        body = raw.get(section)
        if body is None or (isinstance(body, str) and not body):
            continue
        if not isinstance(body, Mapping):
            problems.append(Problem(section, f"expected a map of components, got {_describe(body)}"))
            continue
        for key, component_raw in body.items():
            path = join(section, key)
            try:
                cid = ComponentId.parse(str(key))
            except ValueError as err:
                problems.append(Problem(path, str(err)))
                continue
            factory = registry.get(kind, cid.type)
            if factory is None:
                known = ", ".join(registry.types(kind)) or "none"
                problems.append(Problem(path, f"unknown {kind} type {cid.type!r} (known: {known})"))
                continue
            if cid in components[kind]:
                problems.append(Problem(path, f"duplicate {kind} id {str(cid)!r}"))
                continue
            config, found = decode(factory.config_type, component_raw, path)
            problems.extend(found)
            if config is not None:
                components[kind][cid] = ComponentConfig(cid, factory, config)

    service, found = decode(ServiceConfig, raw.get("service"), "service")
    problems.extend(found)
    if service is None:
        raise ConfigError(problems)
    defined = {kind: _defined_ids(raw, section) for section, kind in SECTIONS.items()}
    extensions = _check_extensions(service, defined[Kind.EXTENSION], problems)
    pipelines = _check_pipelines(service, defined, components, problems)
    if problems:
        raise ConfigError(problems)
    return Config(components, extensions, pipelines, service.telemetry)


def _defined_ids(raw: Mapping[str, object], section: str) -> set[ComponentId]:
    """Ids written in a section, valid or not, so a bad body is not reported again as undefined."""
    body = raw.get(section)
    ids: set[ComponentId] = set()
    if isinstance(body, Mapping):
        for key in body:
            try:
                ids.add(ComponentId.parse(str(key)))
            except ValueError:
                continue
    return ids


def _check_extensions(
    service: ServiceConfig, defined: set[ComponentId], problems: list[Problem]
) -> tuple[ComponentId, ...]:
    ids: list[ComponentId] = []
    for i, text in enumerate(service.extensions):
        path = join(join("service", "extensions"), i)
        try:
            cid = ComponentId.parse(text)
        except ValueError as err:
            problems.append(Problem(path, str(err)))
            continue
        if cid not in defined:
            problems.append(Problem(path, f"extension {text!r} is not defined in the extensions section"))
        elif cid in ids:
            problems.append(Problem(path, f"extension {text!r} is listed twice"))
        else:
            ids.append(cid)
    return tuple(ids)


def _check_pipelines(
    service: ServiceConfig,
    defined: Mapping[Kind, set[ComponentId]],
    components: Mapping[Kind, Mapping[ComponentId, ComponentConfig]],
    problems: list[Problem],
) -> dict[ComponentId, Pipeline]:
    base = join("service", "pipelines")
    if not service.pipelines:
        problems.append(Problem(base, "at least one pipeline is required"))
    pipelines: dict[ComponentId, Pipeline] = {}
    for key, spec in service.pipelines.items():
        path = join(base, key)
        try:
            pid = ComponentId.parse(key)
            signal = Signal(pid.type)
        except ValueError as err:
            problems.append(
                Problem(
                    path,
                    f"{err}"
                    if "/" in key and "id" in str(err)
                    else f"pipeline id {key!r} must be traces, metrics or logs, optionally /name",
                )
            )
            continue
        receivers = _refs(
            spec.receivers,
            join(path, "receivers"),
            (Kind.RECEIVER, Kind.CONNECTOR),
            defined,
            components,
            signal,
            problems,
        )
        processors = _refs(
            spec.processors,
            join(path, "processors"),
            (Kind.PROCESSOR,),
            defined,
            components,
            signal,
            problems,
        )
        exporters = _refs(
            spec.exporters,
            join(path, "exporters"),
            (Kind.EXPORTER, Kind.CONNECTOR),
            defined,
            components,
            signal,
            problems,
        )
        if not spec.receivers:
            problems.append(Problem(join(path, "receivers"), "a pipeline needs at least one receiver"))
        if not spec.exporters:
            problems.append(Problem(join(path, "exporters"), "a pipeline needs at least one exporter"))
        seen: set[ComponentId] = set()
        for i, pid_ in enumerate(processors):
            if pid_ in seen:
                problems.append(
                    Problem(
                        join(join(path, "processors"), i),
                        f"processor {str(pid_)!r} appears twice in this pipeline",
                    )
                )
            seen.add(pid_)
        for group, ids in (("receivers", receivers), ("exporters", exporters)):
            if len(set(ids)) != len(ids):
                problems.append(Problem(join(path, group), f"an id appears twice in {group}"))
        pipelines[pid] = Pipeline(pid, signal, tuple(receivers), tuple(processors), tuple(exporters))
    _check_connectors(pipelines, components, problems)
    return pipelines


def _refs(
    texts: list[str],
    path: str,
    kinds: tuple[Kind, ...],
    defined: Mapping[Kind, set[ComponentId]],
    components: Mapping[Kind, Mapping[ComponentId, ComponentConfig]],
    signal: Signal,
    problems: list[Problem],
) -> list[ComponentId]:
    """Resolve the ids of one pipeline list; report undefined ids and unsupported signals."""
    ids: list[ComponentId] = []
    for i, text in enumerate(texts):
        item = join(path, i)
        try:
            cid = ComponentId.parse(text)
        except ValueError as err:
            problems.append(Problem(item, str(err)))
            continue
        kind = next((k for k in kinds if cid in defined[k]), None)
        if kind is None:
            sections = " or ".join(f"{k}s" for k in kinds)
            problems.append(Problem(item, f"{text!r} is not defined in {sections}"))
            continue
        ids.append(cid)
        found = components[kind].get(cid)
        if found is None or kind is Kind.CONNECTOR:
            continue  # its own problems are reported already; connectors are checked as pairs
        supported = [str(s) for s in getattr(found.factory, "signals", {})]
        if signal not in supported:
            problems.append(
                Problem(
                    item, f"{kind} {text!r} does not support {signal} (it supports: {', '.join(supported)})"
                )
            )
    return ids


def _check_connectors(
    pipelines: Mapping[ComponentId, Pipeline],
    components: Mapping[Kind, Mapping[ComponentId, ComponentConfig]],
    problems: list[Problem],
) -> None:
    """Each connector must be an exporter of some pipeline and a receiver of another, in a supported pair."""
    for cid, cc in components[Kind.CONNECTOR].items():
        factory = cc.factory
        assert isinstance(factory, ConnectorFactory)
        path = join("connectors", cid)
        sources = {p.signal for p in pipelines.values() if cid in p.exporters}
        targets = {p.signal for p in pipelines.values() if cid in p.receivers}
        if not sources and not targets:
            continue
        if not sources or not targets:
            problems.append(
                Problem(
                    path,
                    f"connector {str(cid)!r} must be used as an exporter of one pipeline "
                    "and as a receiver of another",
                )
            )
            continue
        for source in sources:
            if not any((source, target) in factory.signals for target in targets):
                problems.append(
                    Problem(
                        path,
                        f"connector {str(cid)!r} cannot carry {source} into {', '.join(sorted(targets))}",
                    )
                )
        for target in targets:
            if not any((source, target) in factory.signals for source in sources):
                problems.append(
                    Problem(
                        path, f"connector {str(cid)!r} cannot emit {target} from {', '.join(sorted(sources))}"
                    )
                )


__all__ = ["SEP", "ComponentConfig", "Config", "Pipeline", "ServiceConfig", "load", "split_host_port"]
