"""Realistic benchmark telemetry: 10 services, 50 operations, bounded attribute vocabularies.

Spans carry 20 attributes (http.method, http.route, status codes, user ids out of 10,000, hosts out
of 50, ...) and form trace trees across services; log bodies (~150 B) come from templates with
variable fields; metrics are gauges, sums and histograms per service and route.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SERVICES = [
    f"{name}-service"
    for name in (
        "frontend",
        "checkout",
        "cart",
        "payment",
        "shipping",
        "email",
        "currency",
        "catalog",
        "ads",
        "recommendation",
    )
]
ROUTES = [
    f"/api/v1/{noun}/{verb}"
    for noun in ("orders", "carts", "users", "products", "payments")
    for verb in ("list", "get", "create", "update", "delete", "search", "export", "import", "sync", "stats")
]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
STATUS = [200] * 17 + [201, 404, 500]
HOSTS = [f"ip-10-0-{i // 10}-{i % 10}.ec2.internal" for i in range(50)]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
    "Mozilla/5.0 (Macintosh) Safari/605.1",
    "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0",
    "okhttp/4.12.0",
    "python-requests/2.32",
]
LOG_TEMPLATES = [
    "request {method} {route} completed with status {status} in {ms} ms for user {user}",
    "cache miss for key product:{item} on host {host}, fetching from database (attempt {attempt})",
    "payment authorization {result} for order {order} amount {amount} USD via provider stripe",
    "slow query detected: SELECT * FROM orders WHERE user_id = {user} took {ms} ms on replica {host}",
    "retrying call to {service} after error: connection reset by peer (attempt {attempt} of 5)",
]


class Generator:
    """Deterministic, seeded generator of OTLP requests."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.clock = 1_760_000_000_000_000_000

    def _id(self, size: int) -> bytes:
        return self.rng.getrandbits(size * 8).to_bytes(size, "big")

    def _span_attributes(self, span: object, service: str, route: str) -> None:
        rng = self.rng
        status = rng.choice(STATUS)
        values: list[tuple[str, object]] = [
            ("http.method", rng.choice(METHODS)),
            ("http.route", route),
            ("http.status_code", status),
            ("http.scheme", "https"),
            ("http.flavor", "1.1"),
            ("http.user_agent", rng.choice(BROWSERS)),
            ("http.request_content_length", rng.randrange(0, 20_000)),
            ("http.response_content_length", rng.randrange(100, 200_000)),
            ("net.host.name", rng.choice(HOSTS)),
            ("net.peer.name", rng.choice(HOSTS)),
            ("net.peer.port", rng.choice([443, 8080, 9090])),
            ("user.id", f"user-{rng.randrange(10_000)}"),
            ("session.id", f"s-{rng.randrange(100_000):06d}"),
            ("tenant", f"tenant-{rng.randrange(20)}"),
            ("cloud.region", rng.choice(REGIONS)),
            ("deployment.environment", "production"),
            ("service.version", f"1.{rng.randrange(5)}.{rng.randrange(10)}"),
            ("component", service.split("-", maxsplit=1)[0]),
            ("retry.count", rng.choice([0, 0, 0, 1, 2])),
            ("feature.flag", rng.choice(["a", "b", "control"])),
        ]
        attributes = span.attributes  # type: ignore[attr-defined]
        for key, value in values:
            kv = attributes.add(key=key)
            if isinstance(value, int):
                kv.value.int_value = value
            else:
                kv.value.string_value = str(value)

    def traces(self, spans: int) -> ExportTraceServiceRequest:
        """About `spans` spans in whole traces (root + 9 children over 3-4 services), grouped by service."""
        rng = self.rng
        request = ExportTraceServiceRequest()
        by_service: dict[str, object] = {}

        def scope_of(service: str) -> object:
            if service not in by_service:
                rs = request.resource_spans.add()
                for key, value in (
                    ("service.name", service),
                    ("host.name", rng.choice(HOSTS)),
                    ("telemetry.sdk.language", "python"),
                ):
                    rs.resource.attributes.add(key=key).value.string_value = value
                scope = rs.scope_spans.add()
                scope.scope.name, scope.scope.version = "opentelemetry.instrumentation.http", "0.50b0"
                by_service[service] = scope
            return by_service[service]

        made = 0
        while made < spans:
            trace_id = self._id(16)
            services = rng.sample(SERVICES, 4)
            start = self.clock
            self.clock += rng.randrange(100_000, 2_000_000)
            root_id = self._id(8)
            parents = [(root_id, services[0])]
            for i in range(10):
                service = services[0] if i == 0 else rng.choice(services[1:])
                span_id = root_id if i == 0 else self._id(8)
                parent_id, _ = (b"", "") if i == 0 else rng.choice(parents)
                route = rng.choice(ROUTES)
                begin = start + i * rng.randrange(10_000, 500_000)
                span = scope_of(service).spans.add(  # type: ignore[attr-defined]
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent_id,
                    name=f"{route.split('/')[3]} {route.split('/')[4]}",
                    kind=2 if i == 0 or i % 2 else 3,
                    start_time_unix_nano=begin,
                    end_time_unix_nano=begin + rng.randrange(50_000, 300_000_000),
                )
                if rng.random() < 0.03:
                    span.status.code, span.status.message = 2, "upstream timeout"
                self._span_attributes(span, service, route)
                parents.append((span_id, service))
            made += 10
        return request

    def logs(self, records: int) -> ExportLogsServiceRequest:
        """`records` log records of ~150 B bodies from templates, grouped by service."""
        rng = self.rng
        request = ExportLogsServiceRequest()
        scopes = {}
        for service in SERVICES:
            rl = request.resource_logs.add()
            rl.resource.attributes.add(key="service.name").value.string_value = service
            rl.resource.attributes.add(key="host.name").value.string_value = rng.choice(HOSTS)
            scopes[service] = rl.scope_logs.add()
        for _ in range(records):
            self.clock += rng.randrange(10_000, 200_000)
            body = rng.choice(LOG_TEMPLATES).format(
                method=rng.choice(METHODS),
                route=rng.choice(ROUTES),
                status=rng.choice(STATUS),
                ms=rng.randrange(1, 3000),
                user=rng.randrange(10_000),
                item=rng.randrange(100_000),
                host=rng.choice(HOSTS),
                attempt=rng.randrange(1, 5),
                result=rng.choice(["approved", "declined"]),
                order=rng.randrange(10**9),
                amount=f"{rng.random() * 500:.2f}",
                service=rng.choice(SERVICES),
            )
            severity = rng.choice([9, 9, 9, 9, 13, 17])
            record = scopes[rng.choice(SERVICES)].log_records.add(
                time_unix_nano=self.clock,
                observed_time_unix_nano=self.clock + 1000,
                severity_number=severity,
                severity_text={9: "INFO", 13: "WARN", 17: "ERROR"}[severity],
                trace_id=self._id(16) if rng.random() < 0.5 else b"",
                span_id=self._id(8) if rng.random() < 0.5 else b"",
            )
            record.body.string_value = body
            record.attributes.add(key="logger").value.string_value = rng.choice(["app", "http", "db"])
            record.attributes.add(key="thread.id").value.int_value = rng.randrange(64)
        return request

    def metrics(self, points: int) -> ExportMetricsServiceRequest:
        """About `points` data points: gauges, cumulative sums and histograms per service and route."""
        rng = self.rng
        request = ExportMetricsServiceRequest()
        made = 0
        while made < points:
            self.clock += 10_000_000_000
            for service in SERVICES:
                rm = request.resource_metrics.add()
                rm.resource.attributes.add(key="service.name").value.string_value = service
                sm = rm.scope_metrics.add()
                gauge = sm.metrics.add(name="process.memory.usage", unit="By").gauge
                sums = sm.metrics.add(name="http.server.requests", unit="1").sum
                sums.aggregation_temporality, sums.is_monotonic = 2, True
                hist = sm.metrics.add(name="http.server.duration", unit="ms").histogram
                hist.aggregation_temporality = 2
                for route in rng.sample(ROUTES, 3):
                    for container in (gauge, sums):
                        point = container.data_points.add(
                            time_unix_nano=self.clock, start_time_unix_nano=self.clock - 10**10
                        )
                        point.attributes.add(key="http.route").value.string_value = route
                        if container is gauge:
                            point.as_double = rng.random() * 1e9
                        else:
                            point.as_int = rng.randrange(10**6)
                    bounds = [5, 10, 25, 50, 100, 250, 500, 1000]
                    counts = [rng.randrange(100) for _ in range(len(bounds) + 1)]
                    hp = hist.data_points.add(
                        time_unix_nano=self.clock,
                        start_time_unix_nano=self.clock - 10**10,
                        count=sum(counts),
                        sum=rng.random() * 1e4,
                        bucket_counts=counts,
                        explicit_bounds=bounds,
                    )
                    hp.attributes.add(key="http.route").value.string_value = route
                    made += 3
                if made >= points:
                    break
        return request


def serialized(kind: str, requests: int, items_per_request: int, seed: int = 1) -> Iterator[bytes]:
    """`requests` serialized requests of one kind (traces, logs, metrics)."""
    gen = Generator(seed)
    make = {"traces": gen.traces, "logs": gen.logs, "metrics": gen.metrics}[kind]
    for _ in range(requests):
        yield make(items_per_request).SerializeToString()
