"""Test helpers: a tiny controllable HTTP target, OTLP output flattened into points, an independent
minimal parser of the Prometheus text format, and launchers of the real Prometheus and node exporter."""

from __future__ import annotations

import math
import os
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector.pdata import Batch
from tests.conftest import free_port

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
REPORT = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)


# --- OTLP output as flat points ------------------------------------------------------------------


@dataclass
class Point:
    """One data point with everything around it."""

    resource: dict[str, str]
    scope: str
    name: str
    kind: str  # gauge | sum | histogram | summary
    unit: str
    description: str
    prom_type: str
    monotonic: bool
    attrs: dict[str, str]
    start: int
    time: int
    flags: int
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    bucket_counts: list[int] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)
    quantiles: dict[float, float] = field(default_factory=dict)
    exemplars: list[Any] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.flags & 1 == 1

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, tuple(sorted(self.attrs.items()))


def _attrs(kvs: Iterable[Any]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in kvs}


def points_of(request: ExportMetricsServiceRequest) -> list[Point]:
    """Every data point of a request, flattened."""
    out: list[Point] = []
    for rm in request.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                prom_type = _attrs(m.metadata).get("prometheus.type", "")
                base = {
                    "resource": resource,
                    "scope": sm.scope.name,
                    "name": m.name,
                    "kind": kind,
                    "unit": m.unit,
                    "description": m.description,
                    "prom_type": prom_type,
                }
                data = getattr(m, kind)
                monotonic = bool(getattr(data, "is_monotonic", False))
                for dp in data.data_points:
                    common = {
                        **base,
                        "monotonic": monotonic,
                        "attrs": _attrs(dp.attributes),
                        "start": dp.start_time_unix_nano,
                        "time": dp.time_unix_nano,
                        "flags": dp.flags,
                    }
                    if kind in ("gauge", "sum"):
                        out.append(Point(**common, value=dp.as_double, exemplars=list(dp.exemplars)))
                    elif kind == "histogram":
                        out.append(
                            Point(
                                **common,
                                count=dp.count,
                                sum=dp.sum,
                                bucket_counts=list(dp.bucket_counts),
                                bounds=list(dp.explicit_bounds),
                                exemplars=list(dp.exemplars),
                            )
                        )
                    else:
                        out.append(
                            Point(
                                **common,
                                count=dp.count,
                                sum=dp.sum,
                                quantiles={q.quantile: q.value for q in dp.quantile_values},
                            )
                        )
    return out


def batch_points(batch: Batch) -> list[Point]:
    return points_of(batch.otlp())


def payload_points(payload: bytes) -> list[Point]:
    return points_of(ExportMetricsServiceRequest.FromString(payload))


def by_name(points: Iterable[Point]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(p.name, []).append(p)
    return out


def as_prometheus_series(
    points: Iterable[Point], with_target: bool = True
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """OTLP points back to Prometheus series (name, labels, with job/instance unless not `with_target`)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for p in points:
        if p.stale:
            continue
        labels = dict(p.attrs)
        if with_target:
            labels.update(job=p.resource["service.name"], instance=p.resource["service.instance.id"])
        base = frozenset(labels.items())
        if p.kind in ("gauge", "sum"):
            out[(p.name, base)] = p.value
        elif p.kind == "histogram":
            cumulative = 0
            for bound, count in zip([*p.bounds, math.inf], p.bucket_counts, strict=True):
                cumulative += count
                out[(p.name + "_bucket", base | {("le", _float_text(bound))})] = float(cumulative)
            out[(p.name + "_sum", base)] = p.sum
            out[(p.name + "_count", base)] = float(p.count)
        else:
            for q, v in p.quantiles.items():
                out[(p.name, base | {("quantile", _float_text(q))})] = v
            out[(p.name + "_sum", base)] = p.sum
            out[(p.name + "_count", base)] = float(p.count)
    return out


def _float_text(value: float) -> str:
    return repr(float(value))


def normalize_bound_labels(
    series: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """le/quantile label values rewritten as Python float reprs, to compare across formats."""
    out = {}
    for (name, labels), value in series.items():
        fixed = frozenset((k, _float_text(float(v)) if k in ("le", "quantile") else v) for k, v in labels)
        out[(name, fixed)] = value
    return out


# --- an independent minimal parser of the text format ---------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?\s*$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Exposition:
    """What a text-format body says: TYPE per family and value per (name, labels)."""

    types: dict[str, str]
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_text(body: str) -> Exposition:
    """Parse the Prometheus text format (0.0.4) independently of the receiver's code."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind.strip()
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        labels = frozenset(
            (k, v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
            for k, v in _PAIR.findall(m.group(2) or "")
            if v  # an empty value is no label, in Prometheus as in OTLP
        )
        samples[(m.group(1), labels)] = float(m.group(3))
    return Exposition(types, samples)


# --- a tiny HTTP target -----------------------------------------------------------------------------


class TinyTarget:
    """An HTTP(S) server answering every GET with the next of `bodies` (the last one repeats).

    Records each request's path and headers; may demand basic auth or a bearer token.
    """

    def __init__(
        self,
        bodies: list[str] | None = None,
        content_type: str = TEXT,
        *,
        basic: tuple[str, str] | None = None,
        bearer: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.bodies = list(bodies or ["# nothing\n"])
        self.content_type = content_type
        self.basic, self.bearer = basic, bearer
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.served = 0
        self.status = 200
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with target.lock:
                    target.requests.append((self.path, headers))
                    if not target._authorized(headers):
                        self.send_response(401)
                        self.end_headers()
                        return
                    body = target.bodies[min(target.served, len(target.bodies) - 1)]
                    target.served += 1
                    status = target.status
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", target.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _authorized(self, headers: dict[str, str]) -> bool:
        import base64

        got = headers.get("authorization", "")
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return got == f"Basic {expected}"
        if self.bearer is not None:
            return got == f"Bearer {self.bearer}"
        return True

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> TinyTarget:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- real peers ---------------------------------------------------------------------------------------

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def have(binary: str) -> bool:
    return os.access(binary, os.X_OK)


def wait_until(condition: Callable[[], bool], seconds: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_node_exporter() -> Peer:
    port = free_port()
    process = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peer = Peer(process, port)
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{port}/metrics"), what="node exporter")
    except BaseException:
        peer.stop()
        raise
    return peer


def start_prometheus(config_yaml: str, workdir: Path) -> Peer:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(config_yaml)
    data = workdir / "tsdb"
    shutil.rmtree(data, ignore_errors=True)
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={data}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("wb"),
        cwd=workdir,
    )
    peer = Peer(process, port)
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{port}/-/ready"), what="prometheus")
    except BaseException:
        peer.stop()
        raise
    return peer


def prometheus_series(port: int, query: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """An instant query's result as (name, labels without __name__) -> value."""
    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=10).json()
    assert answer["status"] == "success", answer
    out = {}
    for item in answer["data"]["result"]:
        labels = dict(item["metric"])
        name = labels.pop("__name__")
        out[(name, frozenset(labels.items()))] = float(item["value"][1])
    return out


def prometheus_targets(port: int) -> dict[str, Any]:
    """Prometheus's /api/v1/targets answer (active and dropped targets with their labels)."""
    answer: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=10).json()["data"]
    return answer
