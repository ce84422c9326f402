"""The `otlp` exporter: OTLP over gRPC, sending each batch's serialized request as it is."""

from exporters.otlp.config import OtlpExporterConfig
from exporters.otlp.factory import FACTORY

__all__ = ["FACTORY", "OtlpExporterConfig"]
