"""The `otlphttp` exporter: OTLP over HTTP/1.1, protobuf (the batch's bytes as they are) or JSON."""

from exporters.otlphttp.config import OtlpHttpExporterConfig
from exporters.otlphttp.factory import FACTORY

__all__ = ["FACTORY", "OtlpHttpExporterConfig"]
