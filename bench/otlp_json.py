"""OTLP/JSON decode and encode throughput, one core: airis's codec against protobuf's json_format.

Run: .venv/bin/python bench/otlp_json.py [items]
Prints items/s (best of 5) per signal; traces are FINDINGS' workload (8 string attributes + 1 event).
json_format is fed its own output (base64 ids): it cannot read OTLP/JSON's hex ids correctly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from pdata_convert import best, logs, metrics, traces  # the same requests as the Arrow conversion bench

from collector.pdata.otlpjson import decode, encode
from collector.signal import Signal


def measure(label: str, signal: Signal, request: Message, n: int) -> None:
    """Print items/s of decoding and encoding one request of `n` items both ways."""
    ours = encode(request)
    assert decode(signal, ours) == request
    theirs = json_format.MessageToJson(request, use_integers_for_enums=True, indent=None)
    request_type = type(request)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("decode (otlpjson.decode)", lambda: decode(signal, ours)),
        ("  of which orjson.loads", lambda: orjson.loads(ours)),
        ("decode (json_format.Parse)", lambda: json_format.Parse(theirs, request_type())),
        ("encode (otlpjson.encode)", lambda: encode(request)),
        ("encode (json_format.MessageToJson)", lambda: json_format.MessageToJson(request, indent=None)),
    ]
    print(f"{label}: {n:,} items, {len(ours) / n:.0f} B/item of OTLP/JSON")
    for name, fn in steps:
        print(f"  {name:<36} {n / best(fn):>10,.0f} items/s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    measure("traces (8 string attributes + 1 event per span)", Signal.TRACES, traces(n), n)
    measure("logs (string body + 4 attributes)", Signal.LOGS, logs(n), n)
    measure("metrics (gauge + histogram points, 3 attributes)", Signal.METRICS, metrics(n), n)


if __name__ == "__main__":
    main()
