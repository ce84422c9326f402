"""The `airis` command: run, validate, list components, print the resolved configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from collector.component import ConnectorFactory, ExtensionFactory, Kind
from collector.confmap import ConfmapError, dump_yaml, redact, resolve
from collector.errors import AirisError
from collector.registry import Registry, default_registry
from collector.telemetry import configure_logging

log = logging.getLogger("airis")


def _add_config_flags(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: object = argparse.SUPPRESS if suppress else []
    parser.add_argument(
        "--config",
        action="append",
        default=default,
        metavar="FILE",
        help="config file or URI (file:, env:, yaml:); repeat to merge, the last wins",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=default,
        metavar="KEY=VALUE",
        dest="sets",
        help="set one value after the files, e.g. --set service.telemetry.logs.level=debug",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airis", description="An OpenTelemetry-Collector-compatible agent and observability backend."
    )
    _add_config_flags(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in (
        ("validate", "check the configuration and build every pipeline without starting it"),
        ("print-config", "print the resolved configuration, credentials redacted"),
    ):
        _add_config_flags(commands.add_parser(name, help=help_, description=help_), suppress=True)
    commands.add_parser("components", help="list every component with its signals and stability")
    return parser


def resolve_config(args: argparse.Namespace) -> Mapping[str, object]:
    """The merged, expanded configuration the flags name."""
    if not args.config:
        raise ConfmapError("no configuration given: pass --config FILE (at least one)")
    return resolve(args.config, args.sets, env=os.environ, warn=log.warning)


def components_document(registry: Registry) -> dict[str, object]:
    """What `airis components` prints: every component type with its signals and stability."""
    out: dict[str, object] = {
        "buildinfo": {"command": "airis", "description": "airis", "version": _version()}
    }
    for kind in Kind:
        entries: list[dict[str, object]] = []
        for type_ in registry.types(kind):
            factory = registry.get(kind, type_)
            stability: dict[str, str]
            if isinstance(factory, ExtensionFactory):
                stability = {"extension": str(factory.stability)}
            elif isinstance(factory, ConnectorFactory):
                stability = {f"{a}_to_{b}": str(s) for (a, b), s in factory.signals.items()}
            else:
                assert factory is not None
                stability = {str(sig): str(s) for sig, s in factory.signals.items()}
            entries.append({"name": type_, "stability": stability})
        out[f"{kind}s"] = entries
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("airis")
    except PackageNotFoundError:
        return "dev"


def _print_config(args: argparse.Namespace, registry: Registry) -> int:
    from collector.config import load
    from collector.configstruct import encode

    raw = resolve_config(args)
    config = load(raw, registry)
    document: dict[str, object] = {}
    for section, kind in (
        ("receivers", Kind.RECEIVER),
        ("processors", Kind.PROCESSOR),
        ("exporters", Kind.EXPORTER),
        ("connectors", Kind.CONNECTOR),
        ("extensions", Kind.EXTENSION),
    ):
        if config.components[kind]:
            document[section] = {str(cid): encode(cc.config) for cid, cc in config.components[kind].items()}
    document["service"] = encode(raw.get("service") or {})
    service = document["service"]
    assert isinstance(service, dict)
    service["telemetry"] = encode(config.telemetry)
    sys.stdout.write(dump_yaml(redact(document)))
    return 0


def _validate(args: argparse.Namespace, registry: Registry) -> int:
    from collector.config import load
    from collector.graph import Graph, summarize
    from collector.telemetry import MetricsRegistry

    config = load(resolve_config(args), registry)
    graph = Graph.build(config, MetricsRegistry())
    counts = {kind: len(items) for kind, items in summarize(graph).items()}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    print(f"configuration is valid: {len(config.pipelines)} pipelines; {summary}")
    return 0


def _run(args: argparse.Namespace, registry: Registry) -> int:
    import uvloop

    from collector.service import Service

    resolve_config(args)  # fail before anything starts when the config cannot even be read
    service = Service(lambda: resolve_config(args), registry)
    return uvloop.run(service.run())


def main(argv: Sequence[str] | None = None, registry: Registry | None = None) -> int:
    """Entry point of `airis`; returns the exit code (0 ok, 1 invalid config or failure, 2 bad usage)."""
    args = build_parser().parse_args(argv)
    configure_logging("info", "console")
    registry = registry or default_registry()
    try:
        if args.command == "components":
            sys.stdout.write(dump_yaml(components_document(registry)))
            return 0
        if args.command == "validate":
            return _validate(args, registry)
        if args.command == "print-config":
            return _print_config(args, registry)
        return _run(args, registry)
    except (ConfmapError, AirisError) as err:
        print(f"airis: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["main"]
