"""Frames -> encoded OTLP log records: one chunk of frames becomes one ExportLogsServiceRequest.

Body = the frame as received (trimmed, invalid UTF-8 replaced), observed time = now, parsed fields
from the protocol's parser. A frame that does not parse is, as in the collector, sent with its
body only (`on_error: send`) or dropped (`drop`). Big chunks go through the vectorized pyarrow
encoder when it is installed; both give the same records.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from receivers.syslog import wire
from receivers.syslog.config import SyslogReceiverConfig
from receivers.syslog.parser import LineParser, Rfc3164Parser, Rfc5424Parser

__all__ = [
    "ChunkEncoder",
    "Encoded",
    "LineEncoder",
    "RecordEncoder",
    "line_encoder",
    "make_line_parser",
    "sanitize",
]

COLUMNAR_MIN_FRAMES = 64
"""Below this many frames a chunk is encoded line by line (the vectorized path has a fixed cost)."""


@dataclass
class Encoded:
    """Encoded `ScopeLogs.log_records` fields and what happened to the frames."""

    records: bytes = b""
    count: int = 0
    """Log records encoded (parsed ones plus malformed ones sent as they are)."""
    malformed: int = 0
    """Frames that did not parse (sent or dropped as `on_error` says)."""
    examples: list[bytes] = field(default_factory=list)
    """The first malformed frame, for the log."""

    @staticmethod
    def join(parts: Sequence[Encoded]) -> Encoded:
        """Several chunks' records and counts as one."""
        return Encoded(
            b"".join(p.records for p in parts),
            sum(p.count for p in parts),
            sum(p.malformed for p in parts),
            next((p.examples for p in parts if p.examples), []),
        )


PARSE_ERROR = "syslog.parse_error"
"""Attribute of a record made from a frame that did not parse: what was expected."""


def make_line_parser(config: SyslogReceiverConfig) -> LineParser:
    """The per-line parser of the configured protocol."""
    if config.protocol == "rfc3164":
        return Rfc3164Parser(config.location, config.allow_skip_pri_header)
    return Rfc5424Parser(config.enable_octet_counting, config.allow_skip_pri_header)


def sanitize(frames: Sequence[bytes]) -> list[bytes]:
    """Frames as valid UTF-8: invalid sequences become U+FFFD (as the collector's decoder does)."""
    out = list(frames)
    try:
        b"".join(out).decode()
    except UnicodeDecodeError:
        out = [f.decode("utf-8", "replace").encode() for f in out]
    return out


class LineEncoder:
    """The per-line path: parse and encode each frame on its own."""

    def __init__(
        self, parser: LineParser, drop_malformed: bool, max_octets: int = 0, protocol: str = "rfc5424"
    ) -> None:
        self.parser = parser
        self.drop_malformed = drop_malformed
        self.parse_error = wire.attribute_fields({PARSE_ERROR: f"not a valid {protocol} message"})
        """The attribute a malformed frame's record carries (the collector adds none; the issue asks for it)."""
        self.max_octets = max_octets
        """With octet counting: frames announcing a longer message are not parsed (0: no limit)."""

    def encode(self, frames: Sequence[bytes], common: bytes, now_ns: int) -> Encoded:
        """Encode prepared frames; `common` (encoded attributes) is added to every record."""
        fields = self.parser.fields
        observed = wire.OBSERVED_TIME + wire.fixed64(now_ns)
        len_field, body = wire.len_field, wire.string_body
        out = Encoded()
        parts: list[bytes] = []
        for frame in frames:
            parsed = fields(frame) if not self.max_octets or self._fits(frame) else None
            if parsed is None:
                out.malformed += 1
                if not out.examples:
                    out.examples.append(frame)
                if self.drop_malformed:
                    continue
                parsed = self.parse_error
            record = b"".join((parsed, observed, body(frame), common))
            parts.append(len_field(wire.LOG_RECORD, record))
        out.records = b"".join(parts)
        out.count = len(parts)
        return out

    def _fits(self, frame: bytes) -> bool:
        """Whether an octet-counted frame's message is within `max_octets`."""
        head, sep, _ = frame[:12].partition(b" ")
        return not (sep and head.isdigit()) or int(head) <= self.max_octets


def line_encoder(config: SyslogReceiverConfig) -> LineEncoder:
    """The per-line encoder the config asks for."""
    return LineEncoder(
        make_line_parser(config),
        config.on_error.startswith("drop"),
        config.max_octets if config.enable_octet_counting else 0,
        config.protocol,
    )


class ChunkEncoder(Protocol):
    """Encodes a whole chunk of prepared frames (the vectorized path)."""

    def encode(self, frames: Sequence[bytes], common: bytes, now_ns: int) -> Encoded: ...


class RecordEncoder:
    """Encodes chunks of frames as log records per the receiver's config."""

    def __init__(self, config: SyslogReceiverConfig, leading: bool = True, trailing: bool = True) -> None:
        self.lines = line_encoder(config)
        self.static = wire.attribute_fields(config.attributes)
        self.resource = wire.resource_field(config.resource)
        self.leading, self.trailing = leading, trailing
        self.columnar = _columnar(config)

    def prepare(self, frames: Sequence[bytes]) -> list[bytes]:
        """Trimmed (as configured), non-empty, valid UTF-8 frames."""
        chars = b" \t\r\n"
        if self.leading and self.trailing:
            kept = [f for f in (f.strip(chars) for f in frames) if f]
        elif self.leading:
            kept = [f for f in (f.lstrip(chars) for f in frames) if f]
        elif self.trailing:
            kept = [f for f in (f.rstrip(chars) for f in frames) if f]
        else:
            kept = [f for f in frames if f]
        return sanitize(kept)

    def encode(self, frames: Sequence[bytes], extra: bytes = b"", now_ns: int | None = None) -> Encoded:
        """Encode prepared frames; `extra` (encoded attributes, e.g. `net.*`) is added to every record."""
        now = time.time_ns() if now_ns is None else now_ns
        common = extra + self.static
        if self.columnar is not None and len(frames) >= COLUMNAR_MIN_FRAMES:
            return self.columnar.encode(frames, common, now)
        return self.lines.encode(frames, common, now)

    def request(self, encoded: Encoded) -> bytes:
        """The ExportLogsServiceRequest holding `encoded`'s records."""
        return wire.export_request(self.resource, (encoded.records,))


def _columnar(config: SyslogReceiverConfig) -> ChunkEncoder | None:
    if config.protocol != "rfc5424":
        return None
    try:
        from receivers.syslog.columnar import ColumnarEncoder
    except ImportError:  # pyarrow is the optional 'backend' extra
        return None
    return ColumnarEncoder(config)
