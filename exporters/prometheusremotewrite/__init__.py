"""The `prometheusremotewrite` exporter: OTLP metrics to Prometheus remote write 1.0 (snappy protobuf)."""

from exporters.prometheusremotewrite.config import PrometheusRemoteWriteExporterConfig
from exporters.prometheusremotewrite.factory import FACTORY

__all__ = ["FACTORY", "PrometheusRemoteWriteExporterConfig"]
