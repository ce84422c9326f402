"""The `otlp` receiver: OTLP over gRPC and HTTP, handing the received bytes on without re-serializing."""

from receivers.otlp.config import GrpcConfig, HttpConfig, OtlpReceiverConfig, ProtocolsConfig
from receivers.otlp.factory import FACTORY, OtlpReceiver

__all__ = ["FACTORY", "GrpcConfig", "HttpConfig", "OtlpReceiver", "OtlpReceiverConfig", "ProtocolsConfig"]
