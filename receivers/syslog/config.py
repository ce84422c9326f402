"""The `syslog` receiver's config: the OpenTelemetry Collector's syslogreceiver keys and defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from collector.config import split_host_port
from collector.errors import ConfigError, Problem
from collector.tlsconfig import TlsServerConfig

DEFAULT_MAX_LOG_SIZE = 1024 * 1024
MIN_MAX_LOG_SIZE = 64 * 1024  # the collector's tcp_input refuses less
DEFAULT_MAX_OCTETS = 8192
MAX_UDP_SIZE = 64 * 1024

_BYTE_SIZE = re.compile(r"^([0-9]+\.?[0-9]*)\s*([kmgtp]i?b)?$", re.IGNORECASE)
_UNITS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}

OnError = Literal["send", "send_quiet", "drop", "drop_quiet"]


def parse_byte_size(text: str) -> int:
    """`1048576`, `64KiB`, `1mib`, `1.5MB` (as stanza's ByteSize: kb = 1000, kib = 1024); ValueError otherwise."""
    match = _BYTE_SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a byte size (e.g. 65536, 64KiB, 1MiB)")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if not unit:
        return int(number)
    base = 1024 if unit[1] == "i" else 1000
    return int(number * base ** _UNITS[unit[0]])


def _address_problems(address: str) -> list[Problem]:
    if not address:
        return [Problem("listen_address", "is required (e.g. 0.0.0.0:54526)")]
    try:
        split_host_port(address)
    except ValueError as err:
        return [Problem("listen_address", str(err))]
    return []


@dataclass
class TcpConfig:
    """The collector's `tcp_input` keys: where to listen, the longest frame kept, TLS, peer attributes."""

    listen_address: str = ""
    max_log_size: str = "1MiB"
    """The longest frame kept (bytes or a size such as `1MiB`); longer frames are truncated to it."""
    tls: TlsServerConfig | None = None
    add_attributes: bool = False
    """Add `net.transport`, `net.peer.*` and `net.host.*` attributes to every record."""
    preserve_leading_whitespaces: bool = False
    preserve_trailing_whitespaces: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = _address_problems(self.listen_address)
        try:
            size = parse_byte_size(self.max_log_size)
        except ValueError as err:
            problems.append(Problem("max_log_size", str(err)))
        else:
            if size < MIN_MAX_LOG_SIZE:
                problems.append(
                    Problem("max_log_size", f"must be at least {MIN_MAX_LOG_SIZE} bytes, got {size}")
                )
        if problems:
            raise ConfigError(problems)

    @property
    def max_log_bytes(self) -> int:
        """`max_log_size` in bytes."""
        return parse_byte_size(self.max_log_size)


@dataclass
class UdpConfig:
    """The collector's `udp_input` keys: where to listen and peer attributes."""

    listen_address: str = ""
    add_attributes: bool = False
    """Add `net.transport`, `net.peer.*` and `net.host.*` attributes to every record."""
    preserve_leading_whitespaces: bool = False
    preserve_trailing_whitespaces: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming every key whose value is unusable."""
        problems = _address_problems(self.listen_address)
        if problems:
            raise ConfigError(problems)


@dataclass
class SyslogReceiverConfig:
    """Config of the `syslog` receiver: one TCP or UDP listener and how its messages are parsed."""

    tcp: TcpConfig | None = None
    udp: UdpConfig | None = None
    protocol: Literal["rfc5424", "rfc3164"] = "rfc5424"
    location: str = "UTC"
    """IANA time zone of RFC 3164 timestamps (which carry neither zone nor year)."""
    enable_octet_counting: bool = False
    """RFC 6587 octet counting (`LEN SP MSG` frames), RFC 5424 over TCP only."""
    max_octets: int = DEFAULT_MAX_OCTETS
    """The longest octet-counted message parsed; a longer frame is kept as an unparsed record."""
    non_transparent_framing_trailer: Literal["LF", "NUL"] | None = None
    """RFC 6587 non-transparent framing: frames end at LF or at NUL (RFC 5424 over TCP only)."""
    allow_skip_pri_header: bool = False
    """Parse messages without `<PRI>` (then no priority, facility nor severity is set)."""
    on_error: OnError = "send"
    """A line that does not parse is sent unparsed (`send`) or dropped (`drop`); `_quiet` logs at debug."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Attributes added to every record."""
    resource: dict[str, str] = field(default_factory=dict)
    """Resource attributes of every batch."""

    def validate(self) -> None:
        """Exactly one listener; framing options only where the collector allows them."""
        problems: list[Problem] = []
        if (self.tcp is None) == (self.udp is None):
            problems.append(Problem("", "exactly one of tcp or udp must be configured"))
        framing = self.enable_octet_counting or self.non_transparent_framing_trailer is not None
        if framing and self.protocol != "rfc5424":
            key = "enable_octet_counting" if self.enable_octet_counting else "non_transparent_framing_trailer"
            problems.append(Problem(key, "octet counting and non-transparent framing need protocol rfc5424"))
        if self.enable_octet_counting and self.non_transparent_framing_trailer is not None:
            problems.append(
                Problem(
                    "non_transparent_framing_trailer",
                    "only one of enable_octet_counting or non_transparent_framing_trailer can be set",
                )
            )
        if framing and self.udp is not None:
            problems.append(Problem("udp", "octet counting and non-transparent framing are TCP only"))
        if self.allow_skip_pri_header and self.enable_octet_counting:
            problems.append(
                Problem("allow_skip_pri_header", "cannot be true together with enable_octet_counting")
            )
        if self.max_octets < 1:
            problems.append(Problem("max_octets", f"must be at least 1, got {self.max_octets}"))
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.location)
        except (ValueError, OSError, KeyError):
            problems.append(Problem("location", f"{self.location!r} is not an IANA time zone"))
        if problems:
            raise ConfigError(problems)
