"""The `syslog` receiver: RFC 5424 / RFC 3164 messages over TCP (LF, NUL or octet-counted framing,
optionally TLS) or UDP, parsed into OTLP log records as the OpenTelemetry Collector's syslog
receiver does (attributes, severity, timestamps, raw body)."""

from receivers.syslog.config import SyslogReceiverConfig, TcpConfig, UdpConfig
from receivers.syslog.factory import FACTORY

__all__ = ["FACTORY", "SyslogReceiverConfig", "TcpConfig", "UdpConfig"]
