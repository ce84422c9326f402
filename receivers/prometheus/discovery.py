"""Targets of a scrape job: static and file-based target groups, relabeled as Prometheus does.

`build_targets` follows Prometheus's PopulateLabels: each address gets the job's defaults as
`__`-labels (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`,
`__param_<name>`), `relabel_configs` run over them, `__meta_*` labels go, `instance` defaults to
`__address__`; the labels without a `__` prefix are the target's labels on every sample.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import yaml

from receivers.prometheus.config import GlobalConfig, ScrapeConfig, parse_prom_duration, sd_files
from receivers.prometheus.relabel import LABEL_NAME, CompiledRelabel, process

__all__ = ["Target", "TargetGroup", "build_targets", "file_groups", "read_sd_file", "static_groups"]

log = logging.getLogger("airis.receiver.prometheus")


@dataclass(frozen=True)
class TargetGroup:
    """Addresses sharing labels, from a static config or a file_sd file."""

    targets: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Target:
    """One endpoint to scrape: its labels after relabeling (with `__` ones) and before, and its URL.

    Two targets are the same when their final labels and URL are (as Prometheus hashes targets).
    """

    labels: tuple[tuple[str, str], ...]
    discovered: tuple[tuple[str, str], ...] = field(compare=False)
    url: str
    interval: float
    timeout: float

    def label(self, name: str) -> str:
        """A label's value after relabeling ("" when absent)."""
        return dict(self.labels).get(name, "")

    @property
    def public_labels(self) -> dict[str, str]:
        """The labels every sample of the target carries (no `__` prefix)."""
        return {k: v for k, v in self.labels if not k.startswith("__")}

    @property
    def scheme(self) -> str:
        """The scheme as discovered (before relabeling), which the collector reports as url.scheme."""
        return dict(self.discovered).get("__scheme__", "")


def static_groups(config: ScrapeConfig) -> list[TargetGroup]:
    """The target groups of a job's static_configs."""
    return [
        TargetGroup(tuple(group.targets), tuple(sorted(group.labels.items())))
        for group in config.static_configs
    ]


def read_sd_file(path: str) -> list[TargetGroup]:
    """The target groups in a file_sd JSON or YAML file; ValueError (or OSError) if it cannot be used."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if path.lower().endswith(".json") else yaml.safe_load(text)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of target groups")
    groups = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or set(item) - {"targets", "labels"}:
            raise ValueError(f"{path}: target group {i} must be a map with only 'targets' and 'labels'")
        targets = item.get("targets") or []
        labels = item.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ValueError(f"{path}: target group {i}: 'targets' must be a list of strings")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError(f"{path}: target group {i}: 'labels' must map names to strings")
        bad = [name for name in labels if not LABEL_NAME.fullmatch(str(name))]
        if bad:
            raise ValueError(f"{path}: target group {i}: invalid label name {bad[0]!r}")
        pairs = {str(k): v for k, v in labels.items()}
        pairs["__meta_filepath"] = path
        groups.append(TargetGroup(tuple(targets), tuple(sorted(pairs.items()))))
    return groups


def file_groups(config: ScrapeConfig, previous: dict[str, list[TargetGroup]]) -> dict[str, list[TargetGroup]]:
    """Re-read every file_sd file; a file that cannot be read keeps its previous groups (logged)."""
    found: dict[str, list[TargetGroup]] = {}
    for sd in config.file_sd_configs:
        for path in sd_files(sd.files):
            try:
                found[path] = read_sd_file(path)
            except (OSError, ValueError, yaml.YAMLError) as err:
                log.warning("job %s: cannot read file_sd file %s: %s", config.job_name, path, err)
                if path in previous:
                    found[path] = previous[path]
    return found


def build_targets(
    config: ScrapeConfig,
    global_: GlobalConfig,
    groups: Iterable[TargetGroup],
    rules: Sequence[CompiledRelabel],
) -> list[Target]:
    """The job's targets from its groups (duplicates once, dropped ones left out), in order."""
    interval = config.interval_seconds(global_)
    timeout = config.timeout_seconds(global_)
    defaults = {
        "job": config.job_name,
        "__scrape_interval__": _format_seconds(interval),
        "__scrape_timeout__": _format_seconds(timeout),
        "__metrics_path__": config.metrics_path,
        "__scheme__": config.scheme,
    }
    targets: dict[Target, None] = {}
    for group in groups:
        for address in group.targets:
            labels = {**dict(group.labels), "__address__": address}
            target = _target(config, labels, defaults, rules)
            if target is not None:
                targets[target] = None
    return list(targets)


def _target(
    config: ScrapeConfig, labels: dict[str, str], defaults: dict[str, str], rules: Sequence[CompiledRelabel]
) -> Target | None:
    for name, value in defaults.items():
        if not labels.get(name):
            labels[name] = value
    for name, values in config.params.items():
        if values and not labels.get(f"__param_{name}"):
            labels[f"__param_{name}"] = values[0]
    discovered = tuple(sorted((k, v) for k, v in labels.items() if v))
    relabeled = process(labels, rules)
    if relabeled is None:
        return None
    address = relabeled.get("__address__", "")
    if not address:
        log.warning("job %s: a target has no __address__ after relabeling; skipped", config.job_name)
        return None
    try:
        interval = parse_prom_duration(relabeled.get("__scrape_interval__", ""))
        timeout = parse_prom_duration(relabeled.get("__scrape_timeout__", ""))
    except ValueError as err:
        log.warning("job %s: target %s: %s; skipped", config.job_name, address, err)
        return None
    if interval <= 0 or timeout <= 0 or timeout > interval:
        log.warning(
            "job %s: target %s: unusable scrape interval or timeout; skipped", config.job_name, address
        )
        return None
    final = {k: v for k, v in relabeled.items() if not k.startswith("__meta_")}
    final.setdefault("instance", address)
    params = {name: list(values) for name, values in config.params.items()}
    for name, value in final.items():
        if name.startswith("__param_"):
            key = name[len("__param_") :]
            params[key] = [value, *params.get(key, [])[1:]]
    query = urlencode([(k, v) for k, values in sorted(params.items()) for v in values])
    path = final.get("__metrics_path__", "")
    url = f"{final.get('__scheme__', 'http')}://{address}{path}" + (f"?{query}" if query else "")
    return Target(tuple(sorted(final.items())), discovered, url, interval, timeout)


def _format_seconds(seconds: float) -> str:
    """A duration as Prometheus prints it (`1m`, `15s`, `1m30s`, `500ms`)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    return out
