"""One target's scrapes turned into OTLP metrics, as the collector's prometheusreceiver converts them.

Per target, a cache keyed by the raw series text (`name{labels`) maps every exposed line to its
data point (`Group`), its labels merged with the target's, metric-relabeled and encoded once. A scrape
then costs one split, one dict lookup and one float per line, and one struct pack per data point.

What follows the collector (receiver/prometheusreceiver/internal):
- counter -> monotonic cumulative Sum named as exposed (`_total` kept); gauge, unknown/untyped ->
  Gauge; histogram -> Histogram (buckets de-cumulated, bounds without +Inf); summary -> Summary;
  info, stateset -> non-monotonic Sum. Units from UNIT, as UCUM (`seconds` -> `s`).
- start time of cumulative points: `_created` when exposed, else the series' first observation,
  reset to the point's own time when the value (count, sum) decreases (the metrics adjuster).
- a series gone from a scrape, or every series of a target that failed, gets one point flagged
  NO_RECORDED_VALUE (Prometheus's staleness markers); series with explicit timestamps get none.
- `up`, `scrape_duration_seconds`, `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`,
  `scrape_series_added` as gauges; `target_info` labels become resource attributes.
- resource: service.name = job, service.instance.id = instance, server.address (unless a loopback
  or unspecified address), server.port, url.scheme; `otel_scope_*` labels select the scope.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from collector.prometheus_naming import unit_to_ucum
from receivers.prometheus import wire
from receivers.prometheus.relabel import CompiledRelabel, process
from receivers.prometheus.textparse import (
    ParseError,
    is_openmetrics,
    parse_labels,
    parse_timestamp_ms,
    parse_value,
    split_sample,
    unescape_help,
)

__all__ = ["SCOPE_NAME", "ScrapeConverter", "ScrapeResult", "resource_attributes"]

SCOPE_NAME = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"

GAUGE, SUM, HISTOGRAM, SUMMARY = 0, 1, 2, 3
_VALUE, _BUCKET, _QUANTILE, _SUM, _COUNT, _CREATED = 0, 1, 2, 3, 4, 5
_INF = math.inf
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_info", "_created")
# Labels that never become attributes (besides le/quantile for histograms/summaries).
_NOT_ATTRIBUTES = frozenset({"__name__", "job", "instance", "__scheme__", "__metrics_path__"})
_TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
_OPENMETRICS_TYPES = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
)
# (help, unit) of the series every scrape adds (the collector's internalMetricMetadata).
REPORT_SERIES: Final = {
    "up": ("The scraping was successful", ""),
    "scrape_duration_seconds": ("Duration of the scrape", "seconds"),
    "scrape_samples_scraped": ("The number of samples the target exposed", ""),
    "scrape_samples_post_metric_relabeling": (
        "The number of samples remaining after metric relabeling was applied",
        "",
    ),
    "scrape_series_added": ("The approximate number of new series in this scrape", ""),
}


def _normalize(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


def _split_host_port(instance: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, falling back to (instance, "") when there is no port."""
    if instance.startswith("["):
        end = instance.find("]")
        if end > 0 and instance[end + 1 : end + 2] == ":":
            return instance[1:end], instance[end + 2 :]
        return instance, ""
    host, sep, port = instance.rpartition(":")
    if not sep or ":" in host:
        return instance, ""
    return host, port


def _discernible(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host != "localhost"
    return not (address.is_loopback or address.is_unspecified)


def resource_attributes(job: str, instance: str, scheme: str) -> list[tuple[str, str]]:
    """The resource attributes the collector derives from a target (its CreateResource)."""
    host, port = _split_host_port(instance)
    attrs = [("service.name", job)]
    if _discernible(host):
        attrs.append(("server.address", host))
    attrs += [("service.instance.id", instance), ("server.port", port), ("url.scheme", scheme)]
    return attrs


def _scope_version() -> str:
    try:
        return version("airis")
    except PackageNotFoundError:
        return ""


ResourceKey = tuple[str, str]
ScopeKey = tuple[str, str, str, tuple[tuple[str, str], ...]]
_DEFAULT_SCOPE: ScopeKey = ("", "", "", ())


class Family:
    """One OTLP metric of one resource and scope: its name, kind and the points of this scrape."""

    __slots__ = (
        "dead",
        "gen",
        "groups",
        "kind",
        "meta_name",
        "monotonic",
        "name",
        "prom_type",
        "resource",
        "scope",
        "stale",
        "unit",
    )

    def __init__(
        self,
        name: str,
        kind: int,
        prom_type: str,
        meta_name: str,
        unit: str,
        resource: ResourceKey,
        scope: ScopeKey,
    ) -> None:
        self.name, self.kind, self.prom_type, self.meta_name = name, kind, prom_type, meta_name
        self.monotonic = prom_type in ("counter", "histogram", "summary")
        self.unit, self.resource, self.scope = unit, resource, scope
        self.gen, self.dead = -1, False
        self.groups: list[Group] = []
        self.stale: list[Group] = []


class Group:
    """One data point's series (a histogram's buckets, sum and count together) and its adjuster state."""

    __slots__ = (
        "attrs",
        "bounds",
        "count",
        "created",
        "exemplars",
        "family",
        "gen",
        "has_count",
        "has_sum",
        "parts",
        "prefix",
        "prev",
        "prev_sum",
        "start",
        "sum",
        "tracked",
        "ts",
        "value",
    )

    def __init__(self, family: Family, attrs: bytes) -> None:
        self.family, self.attrs = family, attrs
        tail = {GAUGE: wire.NUMBER_GAUGE_TAIL.size, SUM: wire.NUMBER_SUM_TAIL.size}.get(family.kind, 0)
        self.prefix = b"\x0a" + wire.varint(len(attrs) + tail) + attrs
        self.gen = -1
        self.start = 0
        self.prev = self.prev_sum = 0.0
        self.value = self.sum = self.count = self.created = 0.0
        self.has_count = self.has_sum = False
        self.ts = 0
        self.tracked = True
        self.parts: list[tuple[float, float]] = []
        self.bounds: list[float] = []
        self.exemplars: list[bytes] | None = None


class Part:
    """A line that is one part of a group: a bucket, quantile, `_sum`, `_count` or `_created`."""

    __slots__ = ("bound", "group", "role")

    def __init__(self, group: Group, role: int, bound: float = 0.0) -> None:
        self.group, self.role, self.bound = group, role, bound


class TargetInfo:
    """A `target_info` line: its labels become attributes of its resource."""

    __slots__ = ("attrs", "gen", "resource")

    def __init__(self, resource: ResourceKey, attrs: list[tuple[str, str]]) -> None:
        self.resource, self.attrs, self.gen = resource, attrs, -1


class Dropped:
    """A line that metric relabeling (or an unusable label) drops."""

    __slots__ = ("gen",)

    def __init__(self) -> None:
        self.gen = -1


Entry = Group | Part | TargetInfo | Dropped


@dataclass(frozen=True)
class ScrapeResult:
    """What one scrape produced: the OTLP request bytes and the figures Prometheus reports."""

    payload: bytes
    points: int
    up: bool
    samples_scraped: int
    samples_post_relabeling: int
    series_added: int
    error: str = ""


class _SampleLimitError(Exception):
    """More samples than `sample_limit`: Prometheus fails such a scrape."""


class ScrapeConverter:
    """Converts the scrapes of one target; not thread-safe (one scrape of a target at a time)."""

    def __init__(
        self,
        job: str,
        instance: str,
        scheme: str,
        target_labels: Mapping[str, str],
        *,
        honor_labels: bool = False,
        honor_timestamps: bool = True,
        metric_relabel: Sequence[CompiledRelabel] = (),
        external_labels: Mapping[str, str] | None = None,
        sample_limit: int = 0,
        keep_scrapes: int = 10,
    ) -> None:
        self.job, self.instance, self.scheme = job, instance, scheme
        self.target_labels = dict(sorted((k, v) for k, v in target_labels.items() if v))
        self.honor_labels, self.honor_timestamps = honor_labels, honor_timestamps
        self.metric_relabel = tuple(metric_relabel)
        self.external_labels = dict(external_labels or {})
        self.sample_limit = sample_limit
        self.keep_scrapes = max(2, keep_scrapes)
        self.scope_version = _scope_version()
        self.cache: dict[str, Entry] = {}
        self.families: dict[tuple[ResourceKey, ScopeKey, str], Family] = {}
        self.groups: dict[tuple[int, bytes], Group] = {}
        self.types: dict[str, str] = {}
        self.units: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.known: set[str] = set()
        self.previous: list[Group] = []
        self._kv_cache: dict[tuple[int, str, str], bytes] = {}
        self.gen = 0
        self._series_added = 0
        self._report_attrs = wire.key_values(
            0x3A,
            [
                (k, v)
                for k, v in sorted({**self.target_labels, **self.external_labels}.items())
                if k not in ("job", "instance")
            ],
        )

    # --- a scrape ---------------------------------------------------------------------------------

    def convert(self, body: str, content_type: str, scrape_ms: int, duration: float) -> ScrapeResult:
        """Convert one scraped body; a body Prometheus would refuse gives the result of a failed scrape."""
        self.gen += 1
        try:
            scraped, added, target_info, families = self._read(body, is_openmetrics(content_type), scrape_ms)
        except (ParseError, _SampleLimitError) as err:
            return self.failed(scrape_ms, duration, str(err))
        series_added, self._series_added = self._series_added, 0
        report = (1.0, duration, float(scraped), float(added), float(series_added))
        payload, points = self._encode(families, target_info, scrape_ms * 1_000_000, report)
        self._sweep()
        return ScrapeResult(payload, points, True, scraped, added, series_added)

    def failed(self, scrape_ms: int, duration: float, error: str) -> ScrapeResult:
        """A scrape that failed: every series of the last scrape goes stale, and `up` is 0."""
        self.gen += 1
        self._series_added = 0
        payload, points = self._encode([], {}, scrape_ms * 1_000_000, (0.0, duration, 0.0, 0.0, 0.0))
        return ScrapeResult(payload, points, False, 0, 0, 0, error)

    def ended(self, scrape_ms: int) -> ScrapeResult:
        """The target is gone: every series of the last scrape and the report series go stale."""
        self.gen += 1
        payload, points = self._encode([], {}, scrape_ms * 1_000_000, None)
        return ScrapeResult(payload, points, False, 0, 0, 0, "target removed")

    def _read(
        self, body: str, openmetrics: bool, scrape_ms: int
    ) -> tuple[int, int, dict[ResourceKey, dict[str, str]], list[Family]]:
        """Walk the body's lines into the groups; return (samples, samples kept, target_info, families)."""
        gen = self.gen
        now = scrape_ms * 1_000_000
        cache_get = self.cache.get
        honor_ts = self.honor_timestamps
        families: list[Family] = []
        target_info: dict[ResourceKey, dict[str, str]] = {}
        scraped = added = 0
        eof = False
        lines = body.split("\n")
        for index, line in enumerate(lines):
            if not line:
                continue
            if line[0] == "#":
                if self._comment(line, openmetrics):
                    eof = True
                    if any(rest.strip() for rest in lines[index + 1 :]):
                        raise ParseError("unexpected data after # EOF")
                    break
                continue
            exemplar: tuple[str, str, str] | None = None
            key, sep, rest = line.rpartition("} ")
            if sep and not (openmetrics and " # " in line):
                if " " in rest:
                    value, _, ts = rest.partition(" ")
                    ts = ts.strip()
                    if " " in ts or "\t" in ts:
                        raise ParseError(f"invalid line {line!r}")
                else:
                    value, ts = rest, ""
            else:
                key, value, ts, exemplar = split_sample(line)
            scraped += 1
            entry = cache_get(key)
            if entry is None:
                entry = self._admit(key)
            entry_class = entry.__class__
            if entry_class is Dropped:
                entry.gen = gen  # type: ignore[union-attr]
                continue
            added += 1
            try:
                v = float(value)
            except ValueError:
                v = parse_value(value)
            if ts and honor_ts:
                t = parse_timestamp_ms(ts, openmetrics) * 1_000_000
                tracked = False
            else:
                t, tracked = now, True
            if entry_class is Group:
                g: Group = entry  # type: ignore[assignment]
                if g.gen != gen:
                    g.gen = gen
                    g.created = 0.0
                    g.exemplars = None
                    family = g.family
                    if family.gen != gen:
                        family.gen = gen
                        family.groups = [g]
                        family.stale = []
                        families.append(family)
                    else:
                        family.groups.append(g)
                g.value, g.ts, g.tracked = v, t, tracked
                if exemplar is not None:
                    self._exemplar(g, exemplar, now, openmetrics)
            elif entry_class is Part:
                part: Part = entry  # type: ignore[assignment]
                g = part.group
                if g.gen != gen:
                    g.gen = gen
                    g.created = 0.0
                    g.exemplars = None
                    g.parts = []
                    g.has_count = g.has_sum = False
                    g.ts, g.tracked = t, tracked
                    family = g.family
                    if family.gen != gen:
                        family.gen = gen
                        family.groups = [g]
                        family.stale = []
                        families.append(family)
                    else:
                        family.groups.append(g)
                role = part.role
                if role in (_BUCKET, _QUANTILE):
                    g.parts.append((part.bound, v))
                    if exemplar is not None and role == _BUCKET:
                        self._exemplar(g, exemplar, now, openmetrics)
                elif role == _COUNT:
                    g.count, g.has_count, g.ts, g.tracked = v, True, t, tracked
                elif role == _SUM:
                    g.sum, g.has_sum = v, True
                else:  # _CREATED
                    g.created = v
            else:
                info: TargetInfo = entry  # type: ignore[assignment]
                info.gen = gen
                target_info.setdefault(info.resource, {}).update(info.attrs)
        if self.sample_limit and added > self.sample_limit:
            raise _SampleLimitError(f"sample limit exceeded ({added} > {self.sample_limit})")
        if openmetrics and not eof:
            raise ParseError("OpenMetrics data does not end with # EOF")
        return scraped, added, target_info, families

    def _comment(self, line: str, openmetrics: bool) -> bool:
        """Take a HELP/TYPE/UNIT line into the metadata; True at `# EOF`."""
        parts = line[1:].strip().split(None, 2)
        if not parts:
            return False
        keyword = parts[0]
        if keyword == "EOF" and openmetrics and len(parts) == 1:
            return True
        if keyword not in ("HELP", "TYPE", "UNIT") or len(parts) < 2:
            return False
        name = parts[1]
        text = parts[2] if len(parts) > 2 else ""
        if keyword == "HELP":
            self.helps[name] = unescape_help(text, openmetrics)
        elif keyword == "TYPE":
            kind = text.strip()
            if kind not in (_OPENMETRICS_TYPES if openmetrics else _TEXT_TYPES):
                raise ParseError(f"invalid metric type {text!r} for {name}")
            self._metadata(self.types, name, "unknown" if kind == "untyped" else kind)
        else:
            unit = text.strip()
            if unit and openmetrics and not name.endswith(f"_{unit}"):
                raise ParseError(f"unit {unit!r} is not a suffix of metric {name!r}")
            self._metadata(self.units, name, unit)
        return False

    def _metadata(self, store: dict[str, str], name: str, value: str) -> None:
        if store.get(name) != value:
            store[name] = value
            if name in self.known:
                self._invalidate(name)

    def _invalidate(self, name: str) -> None:
        """The type or unit of `name` changed: forget the lines and families that used the old one."""
        self.known.discard(name)
        dead = {
            id(f)
            for f in self.families.values()
            if f.meta_name == name or (f.prom_type == "unknown" and _normalize(f.name) == name)
        }
        for family_key in [k for k, f in self.families.items() if id(f) in dead]:
            self.families.pop(family_key).dead = True
        for key, entry in list(self.cache.items()):
            group = entry.group if isinstance(entry, Part) else entry
            if isinstance(group, Group) and id(group.family) in dead:
                del self.cache[key]
        for group_key in [k for k, g in self.groups.items() if id(g.family) in dead]:
            del self.groups[group_key]

    # --- a new line -------------------------------------------------------------------------------

    def _admit(self, key: str) -> Entry:
        """Parse, merge, relabel and place a line seen for the first time; cache the outcome."""
        name, brace, raw_labels = key.partition("{")
        name = name.rstrip(" \t")
        if not _METRIC_NAME.fullmatch(name):
            raise ParseError(f"invalid metric name {name!r}")
        exposed = parse_labels(raw_labels) if brace else []
        if len({label for label, _ in exposed}) != len(exposed):
            raise ParseError(f"duplicate label names in {key[:200]}}}")
        labels = self._merge(name, exposed)
        relabeled = process(labels, self.metric_relabel) if self.metric_relabel else labels
        entry: Entry
        if relabeled is None or not relabeled.get("__name__"):
            entry = Dropped()
        else:
            relabeled.update(self.external_labels)
            entry = self._place(relabeled)
        if not isinstance(entry, Dropped):
            self._series_added += 1
        self.cache[key] = entry
        return entry

    def _merge(self, name: str, exposed: list[tuple[str, str]]) -> dict[str, str]:
        """Prometheus's mutateSampleLabels: target labels win unless honor_labels (then `exported_*`)."""
        labels = {k: v for k, v in exposed if v}
        labels["__name__"] = name
        if self.honor_labels:
            for k, v in self.target_labels.items():
                labels.setdefault(k, v)
            return labels
        conflicts = [(k, labels[k]) for k in self.target_labels if labels.get(k)]
        labels.update(self.target_labels)
        for k, v in conflicts:
            exported = f"exported_{k}"
            while labels.get(exported):
                exported = f"exported_{exported}"
            labels[exported] = v
        return labels

    def _place(self, labels: dict[str, str]) -> Entry:
        name = labels["__name__"]
        resource = (labels.get("job") or self.job, labels.get("instance") or self.instance)
        if name == "target_info":
            attrs = [(k, v) for k, v in sorted(labels.items()) if k not in ("job", "instance", "__name__")]
            return TargetInfo(resource, attrs)
        scope_key = _scope_of(labels)
        scoped = scope_key is not _DEFAULT_SCOPE
        meta_name, prom_type = self._lookup(name)
        role, family_name, kind = _VALUE, name, GAUGE
        if prom_type == "counter":
            kind = SUM
            if name == f"{meta_name}_created" and meta_name != name:
                role, family_name = _CREATED, f"{meta_name}_total"
        elif prom_type in ("info", "stateset"):
            kind, family_name = SUM, meta_name
        elif prom_type in ("histogram", "summary"):
            kind = HISTOGRAM if prom_type == "histogram" else SUMMARY
            family_name = meta_name
            suffix = name[len(meta_name) :]
            if suffix == "_sum":
                role = _SUM
            elif suffix == "_count":
                role = _COUNT
            elif suffix == "_created":
                role = _CREATED
            elif kind == HISTOGRAM and suffix == "_bucket":
                role = _BUCKET
            elif kind == SUMMARY and suffix == "":
                role = _QUANTILE
            else:
                return Dropped()
        # gaugehistogram: kept as plain gauges, one per exposed series (as the collector does)
        if prom_type == "unknown":
            self.known.update((name, _normalize(name)))
        else:
            self.known.add(meta_name)
        bound = 0.0
        boundary = "le" if role == _BUCKET else "quantile" if role == _QUANTILE else ""
        if boundary:
            try:
                bound = float(labels[boundary])
            except (KeyError, ValueError):
                return Dropped()  # the collector skips such a sample with a warning
        skip = "le" if kind == HISTOGRAM else "quantile" if kind == SUMMARY else ""
        pairs = [
            (k, v)
            for k, v in sorted(labels.items())
            if k not in _NOT_ATTRIBUTES and k != skip and not (scoped and k.startswith("otel_scope_"))
        ]
        family = self._family(resource, scope_key, family_name, kind, prom_type, meta_name)
        tag = 0x4A if kind == HISTOGRAM else 0x3A
        encoded = self._attributes(tag, pairs)
        group = self.groups.get((id(family), encoded))
        if group is None:
            group = self.groups[(id(family), encoded)] = Group(family, encoded)
        return group if role == _VALUE else Part(group, role, bound)

    def _attributes(self, tag: int, pairs: list[tuple[str, str]]) -> bytes:
        """Encoded attributes, each (tag, name, value) encoded once (label pairs repeat across series)."""
        cache = self._kv_cache
        if len(cache) > 200_000:
            cache.clear()
        out = []
        for pair in pairs:
            encoded = cache.get((tag, *pair))
            if encoded is None:
                encoded = cache[(tag, *pair)] = wire.key_values(tag, (pair,))
            out.append(encoded)
        return b"".join(out)

    def _lookup(self, name: str) -> tuple[str, str]:
        """(metadata name, type) of a sample name, as the collector's metadataForMetric finds them."""
        if name in REPORT_SERIES:
            return name, "gauge"
        found = self.types.get(name)
        if found is not None:
            return name, found
        normalized = _normalize(name)
        found = self.types.get(normalized) if normalized != name else None
        if found is not None:
            return normalized, found
        return name, "unknown"

    def _family(
        self, resource: ResourceKey, scope_key: ScopeKey, name: str, kind: int, prom_type: str, meta_name: str
    ) -> Family:
        key = (resource, scope_key, name)
        family = self.families.get(key)
        if family is None:
            unit = unit_to_ucum(self.units.get(meta_name, ""))
            family = self.families[key] = Family(name, kind, prom_type, meta_name, unit, resource, scope_key)
        return family

    def _exemplar(self, group: Group, exemplar: tuple[str, str, str], now: int, openmetrics: bool) -> None:
        raw_labels, value, ts = exemplar
        out = [
            wire.FIXED64.pack(0x11, parse_timestamp_ms(ts, openmetrics) * 1_000_000 if ts else now),
            wire.DOUBLE.pack(0x19, parse_value(value)),
        ]
        filtered: list[tuple[str, str]] = []
        for k, v in parse_labels(raw_labels):
            kind = k.lower()
            size = 16 if kind == "trace_id" else 8 if kind == "span_id" else 0
            if size and not v:
                continue
            if size and len(v) == 2 * size:
                try:
                    ident = bytes.fromhex(v)
                except ValueError:
                    ident = b""
                if ident.strip(b"\0"):
                    out.append(wire.field(0x2A if size == 16 else 0x22, ident))
                    continue
            filtered.append((k, v))
        out.append(wire.key_values(0x3A, filtered))
        if group.exemplars is None:
            group.exemplars = []
        group.exemplars.append(b"".join(out))

    # --- output -----------------------------------------------------------------------------------

    def _encode(
        self,
        families: list[Family],
        target_info: dict[ResourceKey, dict[str, str]],
        now: int,
        report: tuple[float, float, float, float, float] | None,
    ) -> tuple[bytes, int]:
        """The OTLP request of this scrape (plus stale points and the report series) and its point count."""
        gen = self.gen
        for g in self.previous:
            if g.gen != gen and not g.family.dead:
                family = g.family
                if family.gen != gen:
                    family.gen = gen
                    family.groups = []
                    family.stale = []
                    families.append(family)
                family.stale.append(g)
        previous: list[Group] = []
        by_resource: dict[ResourceKey, dict[ScopeKey, list[bytes]]] = {}
        points = 0
        for family in families:
            data, count = _ENCODERS[family.kind](family, now)
            if not count:
                continue
            points += count
            previous += [g for g in family.groups if g.tracked]
            tag = (0x2A, 0x3A, 0x4A, 0x5A)[family.kind]
            help_text = self.helps.get(family.meta_name, "")
            encoded = wire.metric(family.name, help_text, family.unit, tag, data, family.prom_type)
            by_resource.setdefault(family.resource, {}).setdefault(family.scope, []).append(encoded)
        self.previous = previous
        target = (self.job, self.instance)
        if report is not None:
            points += len(REPORT_SERIES)
            by_resource.setdefault(target, {}).setdefault(_DEFAULT_SCOPE, []).extend(
                self._report(report, now)
            )
        elif self.gen > 1:
            points += len(REPORT_SERIES)
            by_resource.setdefault(target, {}).setdefault(_DEFAULT_SCOPE, []).extend(self._report(None, now))
        resources = []
        for resource, scopes in by_resource.items():
            attrs = dict(resource_attributes(resource[0], resource[1], self.scheme))
            attrs.update(target_info.get(resource, {}))
            groups = [(self._scope_bytes(s), s[2], metrics) for s, metrics in scopes.items()]
            resources.append(wire.resource_metrics(list(attrs.items()), groups))
        return wire.request(resources), points

    def _scope_bytes(self, key: ScopeKey) -> bytes:
        if key == _DEFAULT_SCOPE:
            return wire.scope(SCOPE_NAME, self.scope_version, ())
        return wire.scope(key[0], key[1], key[3])

    def _report(self, values: tuple[float, ...] | None, now: int) -> list[bytes]:
        """The five series Prometheus adds to every scrape (stale points when `values` is None)."""
        out = []
        for i, (name, (help_text, unit)) in enumerate(REPORT_SERIES.items()):
            if values is None:
                body = self._report_attrs + wire.FIXED64.pack(0x19, now) + b"\x40\x01"
            else:
                body = self._report_attrs + wire.NUMBER_GAUGE_TAIL.pack(0x19, now, 0x21, values[i])
            data = wire.field(0x0A, body)
            out.append(wire.metric(name, help_text, unit_to_ucum(unit), 0x2A, data, "gauge"))
        return out

    def _sweep(self) -> None:
        """Forget lines not seen for `keep_scrapes` scrapes (their adjuster state with them)."""
        if self.gen % self.keep_scrapes:
            return
        oldest = self.gen - self.keep_scrapes
        stale_keys = [
            k for k, e in self.cache.items() if (e.group.gen if isinstance(e, Part) else e.gen) < oldest
        ]
        for key in stale_keys:
            del self.cache[key]
        for group_key in [k for k, g in self.groups.items() if g.gen < oldest]:
            del self.groups[group_key]


def _seconds_to_ns(seconds: float) -> int:
    """Seconds since the epoch as ns, whole and fractional parts apart (the collector's timestampFromFloat64)."""
    whole = int(seconds)
    return whole * 1_000_000_000 + int((seconds - whole) * 1e9)


def _scope_of(labels: dict[str, str]) -> ScopeKey:
    if "otel_scope_" not in "\0".join(labels):
        return _DEFAULT_SCOPE
    name = labels.get("otel_scope_name", "")
    ver = labels.get("otel_scope_version", "")
    schema = labels.get("otel_scope_schema_url", "")
    attrs = tuple(
        (k[len("otel_scope_") :], v)
        for k, v in sorted(labels.items())
        if k.startswith("otel_scope_")
        and k not in ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")
    )
    return (name, ver, schema, attrs)


# --- data point encoders: (family, now) -> (its data points and metric fields, point count)


def _exemplar_fields(tag: int, exemplars: list[bytes] | None) -> bytes:
    return b"".join(wire.field(tag, e) for e in exemplars) if exemplars else b""


def _encode_gauge(family: Family, now: int) -> tuple[bytes, int]:
    groups, stale = family.groups, family.stale
    pack = wire.NUMBER_GAUGE_TAIL.pack
    out = []
    for g in groups:
        if g.exemplars is None:
            out.append(g.prefix + pack(0x19, g.ts, 0x21, g.value))
        else:
            body = g.attrs + pack(0x19, g.ts, 0x21, g.value) + _exemplar_fields(0x2A, g.exemplars)
            out.append(wire.field(0x0A, body))
    for g in stale:
        out.append(wire.field(0x0A, g.attrs + wire.FIXED64.pack(0x19, now) + b"\x40\x01"))
    return b"".join(out), len(out)


def _encode_sum(family: Family, now: int) -> tuple[bytes, int]:
    groups, stale = family.groups, family.stale
    pack = wire.NUMBER_SUM_TAIL.pack
    out = []
    for g in groups:
        v, ts = g.value, g.ts
        if g.created:
            g.start = _seconds_to_ns(g.created)
        elif not g.start or v < g.prev:
            g.start = ts
        g.prev = v
        if g.exemplars is None:
            out.append(g.prefix + pack(0x11, g.start, 0x19, ts, 0x21, v))
        else:
            body = g.attrs + pack(0x11, g.start, 0x19, ts, 0x21, v) + _exemplar_fields(0x2A, g.exemplars)
            out.append(wire.field(0x0A, body))
    for g in stale:
        body = g.attrs + wire.FIXED64.pack(0x11, g.start) + wire.FIXED64.pack(0x19, now) + b"\x40\x01"
        out.append(wire.field(0x0A, body))
    temporality = b"\x10\x02" + (b"\x18\x01" if family.monotonic else b"")
    return b"".join(out) + temporality, len(out)


def _adjust(g: Group) -> None:
    """The metrics adjuster for histograms and summaries (count or sum decreasing is a reset)."""
    if g.created:
        g.start = _seconds_to_ns(g.created)
    elif not g.start or g.count < g.prev or g.sum < g.prev_sum:
        g.start = g.ts
    g.prev, g.prev_sum = g.count, g.sum


def _encode_histogram(family: Family, now: int) -> tuple[bytes, int]:
    groups, stale = family.groups, family.stale
    out = []
    for g in groups:
        if not g.has_count:
            continue
        buckets = sorted(g.parts)
        if buckets and buckets[-1][0] == _INF:
            buckets.pop()
        previous = 0.0
        valid = True
        for _, cumulative in buckets:
            if math.isnan(cumulative) or cumulative < previous:
                valid = False
                break
            previous = cumulative
        if not valid or math.isnan(g.count) or g.count < previous:
            continue
        counts = []
        previous = 0.0
        for _, cumulative in buckets:
            counts.append(int(cumulative - previous))
            previous = cumulative
        counts.append(int(g.count - previous))
        g.bounds = [bound for bound, _ in buckets]
        _adjust(g)
        body = (
            g.attrs
            + wire.FIXED64.pack(0x11, g.start)
            + wire.FIXED64.pack(0x19, g.ts)
            + wire.FIXED64.pack(0x21, int(g.count))
            + (wire.DOUBLE.pack(0x29, g.sum) if g.has_sum else b"")
            + wire.packed_fixed64(0x32, counts)
            + wire.packed_double(0x3A, g.bounds)
            + _exemplar_fields(0x42, g.exemplars)
        )
        out.append(wire.field(0x0A, body))
    for g in stale:
        body = (
            g.attrs
            + wire.FIXED64.pack(0x11, g.start)
            + wire.FIXED64.pack(0x19, now)
            + wire.packed_fixed64(0x32, [0] * (len(g.bounds) + 1))
            + wire.packed_double(0x3A, g.bounds)
            + b"\x50\x01"
        )
        out.append(wire.field(0x0A, body))
    return b"".join(out) + b"\x10\x02", len(out)


def _encode_summary(family: Family, now: int) -> tuple[bytes, int]:
    groups, stale = family.groups, family.stale
    out = []
    for g in groups:
        if not g.has_count:
            continue
        quantiles = sorted(g.parts)
        g.bounds = [q for q, _ in quantiles]
        _adjust(g)
        body = (
            g.attrs
            + wire.FIXED64.pack(0x11, g.start)
            + wire.FIXED64.pack(0x19, g.ts)
            + wire.FIXED64.pack(0x21, 0 if math.isnan(g.count) else int(g.count))
            + (wire.DOUBLE.pack(0x29, g.sum) if g.has_sum else b"")
            + b"".join(
                wire.field(0x32, wire.DOUBLE.pack(0x09, q) + wire.DOUBLE.pack(0x11, v)) for q, v in quantiles
            )
        )
        out.append(wire.field(0x0A, body))
    for g in stale:
        body = (
            g.attrs
            + wire.FIXED64.pack(0x11, g.start)
            + wire.FIXED64.pack(0x19, now)
            + b"".join(wire.field(0x32, wire.DOUBLE.pack(0x09, q)) for q in g.bounds)
            + b"\x40\x01"
        )
        out.append(wire.field(0x0A, body))
    return b"".join(out), len(out)


_ENCODERS = (_encode_gauge, _encode_sum, _encode_histogram, _encode_summary)
