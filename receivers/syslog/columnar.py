"""RFC 5424 chunks parsed and encoded at once with pyarrow compute (the optional 'backend' extra).

A chunk's frames become one string array. One anchored regex validates every header; splitting
on the first six spaces gives the header fields as columns; the structured data of the rows that
have some is cut off with one more regex and parsed once per distinct text. Each record's protobuf
bytes are then assembled by a single element-wise join of its pieces: a field's tag and length
prefix depends only on its value's length, so it is looked up in a table (`take`) rather than
computed. Rows the vectorized checks do not accept (malformed ones, unusual ones) go through the
per-line parser, so both paths give the same records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from receivers.syslog import wire
from receivers.syslog.config import SyslogReceiverConfig
from receivers.syslog.parser import parse_structured_data
from receivers.syslog.protocol import key_field, priority_fields
from receivers.syslog.records import Encoded, line_encoder

__all__ = ["ColumnarEncoder"]

_TIMESTAMP = (
    r"(?:-|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))"
)
_PRI = r"<(?:0|[1-9][0-9]?|1[0-8][0-9]|19[01])>"
_HEADER = r"[1-9][0-9]{0,2} " + _TIMESTAMP + r" [!-~]+ [!-~]+ [!-~]+ [!-~]+ (?:-(?: |$)|\[)"
_STRUCTURED = r'(?s)^(?P<sd>(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (?P<msg>.*))?$'
_PRI_VERSION = re.compile(rb"(?:<([0-9]+)>)?([0-9]+)\Z")
_FIELD_LIMITS = (255, 48, 128, 32)  # hostname, appname, proc_id, msg_id (split parts 2..5)
_ATTRIBUTES = ("hostname", "appname", "proc_id", "msg_id")
_MAX_LINE = 30_000
"""Longer frames take the per-line path (it keeps the length-prefix tables small)."""
_BIN = pa.binary()
_NULL_BIN = pa.scalar(None, _BIN)
_NULL_STR = pa.scalar(None, pa.string())


class _Prefixes:
    """Length-delimited field prefixes by payload length, as a binary array for `take`, grown on demand."""

    def __init__(self, prefix: Callable[[int], bytes]) -> None:
        self.prefix = prefix
        self.table = pa.array([], _BIN)
        self.sizes = pa.array([], pa.int32())

    def of(self, lengths: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Each length's prefix, and the prefix's length plus the length (the whole field's size)."""
        top = pc.max(lengths).as_py() or 0
        if top >= len(self.table):
            size = max(1024, len(self.table))
            while size <= top:
                size *= 2
            prefixes = [self.prefix(n) for n in range(size)]
            self.table = pa.array(prefixes, _BIN)
            self.sizes = pa.array([len(p) + n for n, p in enumerate(prefixes)], pa.int32())
        return pc.take(self.table, lengths), pc.take(self.sizes, lengths)


def _string_attribute_prefix(key: str) -> Callable[[int], bytes]:
    key_bytes = key_field(key) + wire.VALUE

    def prefix(size: int) -> bytes:
        any_value = wire.STRING_VALUE + wire.varint(size)
        key_value = len(key_bytes) + len(wire.varint(len(any_value) + size)) + len(any_value) + size
        return (
            wire.ATTRIBUTE
            + wire.varint(key_value)
            + key_bytes
            + wire.varint(len(any_value) + size)
            + any_value
        )

    return prefix


def _body_prefix(size: int) -> bytes:
    any_value = wire.STRING_VALUE + wire.varint(size)
    return wire.BODY + wire.varint(len(any_value) + size) + any_value


def _record_prefix(size: int) -> bytes:
    return wire.LOG_RECORD + wire.varint(size)


class ColumnarEncoder:
    """Vectorized RFC 5424 encoding of a chunk; the per-line parser handles the rows it does not accept."""

    def __init__(self, config: SyslogReceiverConfig) -> None:
        octets = r"^(?:[1-9][0-9]* )?" if config.enable_octet_counting else "^"
        pri = f"(?:{_PRI})?" if config.allow_skip_pri_header else _PRI
        self.header = octets + pri + _HEADER
        self.octet_counting = config.enable_octet_counting
        self.max_octets = config.max_octets
        self.lines = line_encoder(config)
        self.attributes = {
            name: _Prefixes(_string_attribute_prefix(name)) for name in (*_ATTRIBUTES, "message")
        }
        self.body = _Prefixes(_body_prefix)
        self.record = _Prefixes(_record_prefix)
        self._pri_cache: dict[str, bytes | None] = {}
        self._sd_cache: dict[str, bytes | None] = {}

    def encode(self, frames: Sequence[bytes], common: bytes, now_ns: int) -> Encoded:
        """Encode prepared (trimmed, non-empty, UTF-8) frames; `common` is appended to every record."""
        lines = pa.array(frames, pa.string())
        try:
            accepted, records = self._vectorized(lines, common, now_ns)
        except pa.ArrowException:  # e.g. a timestamp on Feb 30 fails the whole cast: the reference path
            return self.lines.encode(frames, common, now_ns)
        others = pc.indices_nonzero(pc.invert(accepted)).to_pylist()
        out = Encoded(count=len(frames) - len(others))
        if others:
            encoded = [self.lines.encode([frames[i]], common, now_ns) for i in others]
            for one in encoded:
                out.malformed += one.malformed
                out.count += one.count
                if one.examples and not out.examples:
                    out.examples = one.examples
            values = pa.array([one.records for one in encoded], _BIN)
            records = pc.replace_with_mask(records, pc.invert(accepted), values)
        out.records = _concatenate(records)
        return out

    def _vectorized(self, lines: pa.Array, common: bytes, now_ns: int) -> tuple[pa.Array, pa.Array]:
        """Which rows the vectorized checks accept, and each row's encoded record (null where not)."""
        n = len(lines)
        candidate = pc.and_(
            pc.match_substring_regex(lines, self.header), pc.less(pc.binary_length(lines), _MAX_LINE)
        )
        every = candidate.true_count == n
        if candidate.true_count == 0:
            return candidate, pa.nulls(n, _BIN)
        lines_in = lines if every else lines.filter(candidate)
        text = lines_in
        if self.octet_counting:
            text = pc.replace_substring_regex(lines_in, r"^[1-9][0-9]* ", "", max_replacements=1)
        parts = pc.split_pattern(text, " ", max_splits=6)
        head = [pc.list_element(parts, i) for i in range(7)]
        ok, priority = self._priority(head[0])
        for field, limit in zip(head[2:6], _FIELD_LIMITS, strict=True):
            ok = pc.and_(ok, pc.less_equal(pc.binary_length(field), limit))
        if self.octet_counting:
            ok = pc.and_(ok, self._within_max_octets(lines_in))
        structured, message, sd_ok = self._structured_data(head[6])
        ok = pc.and_(ok, sd_ok)
        pieces: list[Any] = [*self._time(head[1], ok), priority]
        sizes: list[Any] = [
            pc.multiply(pc.is_valid(pieces[0]).cast(pa.int32()), 9),
            pc.binary_length(priority),
        ]
        for name, values in zip(_ATTRIBUTES, head[2:6], strict=True):
            self._string_attribute(name, values, pieces, sizes)
        pieces.append(structured)
        sizes.append(pc.binary_length(structured))
        self._string_attribute("message", message, pieces, sizes, nil=False)
        body_prefix, body_size = self.body.of(pc.binary_length(lines_in))
        tail = wire.OBSERVED_TIME + wire.fixed64(now_ns) + common
        pieces += [body_prefix, lines_in.cast(_BIN), pa.scalar(tail, _BIN)]
        sizes.append(body_size)
        total = sizes[0]
        for size in sizes[1:]:
            total = pc.add(total, pc.fill_null(size, 0))
        record_prefix, _ = self.record.of(pc.add(total, len(tail)))
        record = _join(record_prefix, *pieces)
        record = pc.if_else(ok, record, _NULL_BIN)
        if every:
            return ok, record
        accepted = pc.fill_null(pc.replace_with_mask(candidate, candidate, ok), False)
        return accepted, pc.replace_with_mask(pa.nulls(n, _BIN), candidate, record)

    def _string_attribute(
        self, name: str, values: pa.Array, pieces: list[Any], sizes: list[Any], nil: bool = True
    ) -> None:
        """Add a string attribute's pieces (prefix, value) and sizes; null rows (and `-` if `nil`) get none."""
        present = pc.if_else(pc.equal(values, "-"), _NULL_STR, values) if nil else values
        prefix, size = self.attributes[name].of(pc.binary_length(present))
        pieces += [prefix, present.cast(_BIN)]
        sizes.append(size)

    def _within_max_octets(self, lines: pa.Array) -> pa.Array:
        """Whether each frame's announced length (if it has one) is within `max_octets`."""
        lead = pc.list_element(pc.split_pattern(lines, " ", max_splits=1), 0)
        counted = pc.match_substring_regex(lead, r"^[1-9][0-9]{0,8}$")
        announced = pc.cast(pc.if_else(counted, lead, "0"), pa.int64())
        return pc.less_equal(announced, self.max_octets)

    def _time(self, timestamps: pa.Array, ok: pa.Array) -> list[pa.Array]:
        """The `time_unix_nano` tag and value of each row (null where the timestamp is `-`)."""
        absent = pc.or_(pc.equal(timestamps, "-"), pc.invert(ok))
        instants = pc.cast(
            pc.if_else(absent, "1970-01-01T00:00:00Z", timestamps), pa.timestamp("ns", tz="UTC")
        ).cast(pa.int64())
        eight = pa.Array.from_buffers(
            pa.binary(8), len(instants), [None, instants.buffers()[1]], offset=instants.offset
        ).cast(_BIN)
        return [
            pc.if_else(absent, _NULL_BIN, pa.scalar(wire.TIME, _BIN)),
            pc.if_else(absent, _NULL_BIN, eight),
        ]

    def _priority(self, tokens: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Validity and encoded severity, `priority`, `facility`, `facility_text`, `version` of `<PRI>VER`."""
        encoded = pc.dictionary_encode(tokens)
        table = [
            self._cached(self._pri_cache, t, self._priority_bytes) for t in encoded.dictionary.to_pylist()
        ]
        values = pc.take(pa.array(table, _BIN), encoded.indices)
        return pc.is_valid(values), values

    @staticmethod
    def _priority_bytes(token: str) -> bytes | None:
        match = _PRI_VERSION.match(token.encode())
        if match is None:
            return None
        pri, version = match.groups()
        prefix = priority_fields(int(pri)) if pri is not None else b""
        return prefix + wire.int_attribute("version", int(version))

    def _structured_data(self, rest: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Each row's encoded `structured_data` attribute (null for `-`), message and validity."""
        has_sd = pc.starts_with(rest, "[")
        message = pc.utf8_slice_codeunits(rest, 2)
        if not pc.any(has_sd).as_py():
            return pa.nulls(len(rest), _BIN), _nonempty(message), pa.repeat(True, len(rest))
        rows = pc.indices_nonzero(has_sd)
        cut = pc.extract_regex(pc.take(rest, rows), _STRUCTURED)
        texts = pc.dictionary_encode(pc.struct_field(cut, "sd"))
        table = [self._cached(self._sd_cache, t, _sd_bytes) for t in texts.dictionary.to_pylist()]
        encoded = pc.take(pa.array(table, _BIN), texts.indices)
        valid = pc.and_(pc.is_valid(cut), pc.is_valid(encoded))
        structured = pc.replace_with_mask(pa.nulls(len(rest), _BIN), has_sd, encoded)
        message = pc.replace_with_mask(message, has_sd, pc.struct_field(cut, "msg"))
        ok = pc.replace_with_mask(pa.repeat(True, len(rest)), has_sd, pc.fill_null(valid, False))
        return structured, _nonempty(message), ok

    @staticmethod
    def _cached(
        cache: dict[str, bytes | None], key: str, make: Callable[[str], bytes | None]
    ) -> bytes | None:
        if key not in cache:
            if len(cache) > 4096:
                cache.clear()
            cache[key] = make(key)
        return cache[key]


def _sd_bytes(text: str) -> bytes | None:
    """The encoded `structured_data` attribute of a whole SD section; None unless it parses exactly."""
    raw = text.encode()
    parsed = parse_structured_data(raw)
    if parsed is None or parsed[1] != len(raw):
        return None
    return wire.kvlist_attribute("structured_data", parsed[0])


def _nonempty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.fill_null(values, ""), ""), _NULL_STR, values)


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, pa.scalar(b""), null_handling="skip")


def _concatenate(records: pa.Array) -> bytes:
    """All values of a binary array, back to back (null rows are empty)."""
    listed = pa.ListArray.from_arrays(pa.array([0, len(records)], pa.int32()), pc.fill_null(records, b""))
    value = pc.binary_join(listed, pa.scalar(b""))[0].as_py()
    return value if isinstance(value, bytes) else b""
