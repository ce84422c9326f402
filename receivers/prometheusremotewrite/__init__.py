"""The `prometheusremotewrite` receiver: Prometheus remote write 1.0 (snappy-compressed
prometheus.WriteRequest) in, OTLP metrics out, mapped as collector-contrib's receiver maps them."""
