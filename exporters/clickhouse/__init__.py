"""The `clickhouse` exporter: traces, metrics and logs into the contrib clickhouseexporter's tables."""
