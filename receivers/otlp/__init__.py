"""The `otlp` receiver: OTLP (protobuf or JSON, compressed or not) over gRPC and HTTP, with TLS,
CORS, admission control and `auth` (writers authenticated, their tenant stamped on every resource);
protobuf requests are handed on as received, without re-serializing (only resources are rewritten)."""

from receivers.otlp.config import (
    AdmissionConfig,
    CorsConfig,
    GrpcConfig,
    HttpConfig,
    OtlpReceiverConfig,
    ProtocolsConfig,
)
from receivers.otlp.factory import FACTORY, OtlpReceiver

__all__ = [
    "FACTORY",
    "AdmissionConfig",
    "CorsConfig",
    "GrpcConfig",
    "HttpConfig",
    "OtlpReceiver",
    "OtlpReceiverConfig",
    "ProtocolsConfig",
]
