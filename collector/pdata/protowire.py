"""Protobuf wire-format pieces for hand-built messages (receivers that write OTLP bytes directly)."""

from __future__ import annotations

import struct

__all__ = ["VARINTS", "fixed64", "len_field", "varint"]

VARINTS = [bytes([n]) if n < 0x80 else b"" for n in range(0x4000)]
"""The varints of 0 .. 0x3FFF (filled below), for hot loops that index them directly."""


def varint(n: int) -> bytes:
    """The base-128 varint of a non-negative int (negative int64: its two's complement)."""
    if n < 0x80:
        return VARINTS[n] if n >= 0 else varint(n + (1 << 64))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


for _n in range(0x80, 0x4000):
    VARINTS[_n] = varint(_n)
_FIXED64 = struct.Struct("<Q")


def fixed64(n: int) -> bytes:
    """Eight little-endian bytes."""
    return _FIXED64.pack(n)


def len_field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    size = len(payload)
    return tag + (VARINTS[size] if size < 0x4000 else varint(size)) + payload
