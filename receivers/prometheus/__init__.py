"""The `prometheus` receiver: scrapes Prometheus targets (text format and OpenMetrics) with
Prometheus's `scrape_configs` (static and file discovery, relabeling, auth, TLS) and converts
the samples to OTLP as the OpenTelemetry Collector's prometheusreceiver does."""

from receivers.prometheus.config import PrometheusReceiverConfig
from receivers.prometheus.factory import FACTORY, PrometheusReceiver

__all__ = ["FACTORY", "PrometheusReceiver", "PrometheusReceiverConfig"]
