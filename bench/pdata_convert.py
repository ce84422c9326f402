"""OTLP <-> Arrow conversion throughput of the Batch, one core.

Run: .venv/bin/python bench/pdata_convert.py [items]
Prints items/s (best of 5) for parse, OTLP -> Arrow, Arrow -> OTLP and serialize, per signal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata.arrow_to_otlp import logs_to_otlp, metrics_to_otlp, traces_to_otlp
from collector.pdata.otlp_to_arrow import logs_to_arrow, metrics_to_arrow, traces_to_arrow

REPEAT = 5


def traces(n: int) -> ExportTraceServiceRequest:
    """`n` spans with 8 string attributes and one event each (FINDINGS' workload), 10 services."""
    request = ExportTraceServiceRequest()
    per_resource = n // 10
    for r in range(10):
        rs = request.resource_spans.add(
            resource={"attributes": [{"key": "service.name", "value": {"string_value": f"svc-{r}"}}]}
        )
        spans = rs.scope_spans.add(scope={"name": "bench", "version": "1"}).spans
        for i in range(per_resource):
            spans.add(
                trace_id=i.to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                parent_span_id=i.to_bytes(8, "big") if i % 4 else b"",
                name=f"GET /api/v1/items/{i % 50}",
                kind=2,
                start_time_unix_nano=1_700_000_000_000_000_000 + i,
                end_time_unix_nano=1_700_000_000_000_500_000 + i,
                attributes=[
                    {"key": f"attribute.{a}", "value": {"string_value": f"value-{a}-{i % 100}"}}
                    for a in range(8)
                ],
                events=[{"time_unix_nano": 1_700_000_000_000_100_000 + i, "name": "log"}],
                status={"code": 1},
            )
    return request


def logs(n: int) -> ExportLogsServiceRequest:
    """`n` log records with a string body and 4 attributes each."""
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add(scope={"name": "bench"}).log_records
    for i in range(n):
        records.add(
            time_unix_nano=1_700_000_000_000_000_000 + i,
            observed_time_unix_nano=1_700_000_000_000_000_001 + i,
            severity_number=9,
            severity_text="INFO",
            body={"string_value": f"request {i} handled in {i % 1000} ms"},
            attributes=[{"key": f"attr.{a}", "value": {"string_value": f"v{i % 10}"}} for a in range(4)],
            trace_id=i.to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
        )
    return request


def metrics(n: int) -> ExportMetricsServiceRequest:
    """`n` data points: 100 gauges and 100 histograms, 3 attributes each, points split evenly."""
    request = ExportMetricsServiceRequest()
    sm = request.resource_metrics.add().scope_metrics.add(scope={"name": "bench"})
    per_metric = n // 200
    for m in range(100):
        sm.metrics.add(
            name=f"gauge.{m}",
            unit="1",
            gauge={
                "data_points": [
                    {
                        "attributes": [
                            {"key": f"k{a}", "value": {"string_value": f"v{p % 7}"}} for a in range(3)
                        ],
                        "time_unix_nano": 1_700_000_000_000_000_000 + p,
                        "as_double": p * 0.5,
                    }
                    for p in range(per_metric)
                ]
            },
        )
        sm.metrics.add(
            name=f"histogram.{m}",
            unit="ms",
            histogram={
                "aggregation_temporality": 2,
                "data_points": [
                    {
                        "attributes": [
                            {"key": f"k{a}", "value": {"string_value": f"v{p % 7}"}} for a in range(3)
                        ],
                        "time_unix_nano": 1_700_000_000_000_000_000 + p,
                        "count": 10,
                        "sum": 55.0,
                        "bucket_counts": [1, 2, 3, 4],
                        "explicit_bounds": [1.0, 5.0, 10.0],
                    }
                    for p in range(per_metric)
                ],
            },
        )
    return request


def best(fn: Callable[[], Any]) -> float:
    """Best wall time of REPEAT runs."""
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(
    label: str, request: Any, to_arrow: Callable[[Any], Any], to_otlp: Callable[[Any], Any], n: int
) -> None:
    """Print items/s of each step for one signal."""
    data = request.SerializeToString()
    request_type = type(request)
    request = request_type.FromString(data)  # convert a parsed request, as a receiver hands over
    table = to_arrow(request)
    assert table.num_rows == n, (table.num_rows, n)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("parse (ParseFromString)", lambda: request_type.FromString(data)),
        ("OTLP -> Arrow", lambda: to_arrow(request)),
        ("Arrow -> OTLP", lambda: to_otlp(table)),
        ("serialize (SerializeToString)", lambda: request.SerializeToString()),
    ]
    print(f"{label}: {n:,} items, {len(data) / n:.0f} B/item")
    for name, fn in steps:
        print(f"  {name:<32} {n / best(fn):>12,.0f} items/s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    measure("traces (8 string attributes + 1 event per span)", traces(n), traces_to_arrow, traces_to_otlp, n)
    measure("logs (string body + 4 attributes)", logs(n), logs_to_arrow, logs_to_otlp, n)
    measure(
        "metrics (gauge + histogram points, 3 attributes)", metrics(n), metrics_to_arrow, metrics_to_otlp, n
    )


if __name__ == "__main__":
    main()
