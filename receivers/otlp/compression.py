"""HTTP request bodies by `Content-Encoding`, decompressed within a size limit (a zip bomb stops there).

The encodings are the collector's (confighttp): gzip, zstd, zlib, deflate (zlib-wrapped, as the
collector reads it), snappy (block format, or framed when the body starts with the framing
header, as the collector auto-detects), x-snappy-framed and lz4 (frame format). gzip and zlib are
inflated as chunks arrive, never past the limit; the others are decompressed into a buffer of the
limit's size and fail when it would overflow.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import cramjam

__all__ = ["ENCODINGS", "BodyTooLargeError", "CorruptBodyError", "UnsupportedEncodingError", "body_decoder"]


class BodyTooLargeError(Exception):
    """The body, as received or once decompressed, is larger than the limit."""

    def __init__(self, limit: int, decompressed: bool) -> None:
        super().__init__(f"{'decompressed ' if decompressed else ''}body over {limit} bytes")
        self.limit = limit
        self.decompressed = decompressed


class CorruptBodyError(ValueError):
    """The body is not valid data of its Content-Encoding (corrupt or truncated)."""


class UnsupportedEncodingError(ValueError):
    """A Content-Encoding the receiver does not decode."""


class BodyDecoder(Protocol):
    """Takes a body's chunks as they arrive and returns the (decompressed) body."""

    def feed(self, chunk: bytes) -> None: ...
    def finish(self) -> bytes: ...


class _Identity:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise BodyTooLargeError(self.limit, decompressed=False)
        self.chunks.append(chunk)

    def finish(self) -> bytes:
        return b"".join(self.chunks)


class _Inflate:
    """gzip (several members allowed, as Go's reader does) or zlib, inflated as chunks arrive."""

    def __init__(self, encoding: str, gzip: bool, limit: int) -> None:
        self.encoding = encoding
        self.wbits = 31 if gzip else 15
        self.limit = limit
        self.wire = _Identity(limit)  # bounds the compressed bytes, too
        self.out: list[bytes] = []
        self.size = 0
        self.inflater = zlib.decompressobj(self.wbits)

    def feed(self, chunk: bytes) -> None:
        self.wire.feed(chunk)
        data = chunk
        while data:
            if self.inflater.eof:
                if self.wbits != 31:
                    raise CorruptBodyError(
                        f"invalid {self.encoding} body: data after the end of the compressed stream"
                    )
                self.inflater = zlib.decompressobj(self.wbits)  # the next gzip member
            try:
                # Never ask for more than one byte past the limit: a bomb stops here.
                out = self.inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as err:
                raise CorruptBodyError(f"invalid {self.encoding} body: {err}") from None
            self._take(out)
            # Input is left over only past the limit (raised above) or after the end of a stream.
            data = self.inflater.unconsumed_tail or self.inflater.unused_data

    def _take(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self.limit:
            raise BodyTooLargeError(self.limit, decompressed=True)
        if out:
            self.out.append(out)

    def finish(self) -> bytes:
        if not self.inflater.eof:
            try:
                self._take(self.inflater.flush())
            except zlib.error as err:
                raise CorruptBodyError(f"invalid {self.encoding} body: {err}") from None
            raise CorruptBodyError(
                f"invalid {self.encoding} body: truncated (the compressed stream does not end)"
            )
        return b"".join(self.out)


_SNAPPY_FRAMING_HEADER = b"\xff\x06\x00\x00sNaPpY"


class _Cramjam:
    """zstd, snappy and lz4: the whole compressed body, decompressed into a buffer the limit's size."""

    def __init__(self, encoding: str, codec: str, limit: int) -> None:
        self.encoding = encoding
        self.codec = codec
        self.limit = limit
        self.wire = _Identity(limit)

    def feed(self, chunk: bytes) -> None:
        self.wire.feed(chunk)

    def finish(self) -> bytes:
        data = self.wire.finish()
        try:
            if self.codec == "snappy" and not data.startswith(_SNAPPY_FRAMING_HEADER):
                # The block format declares its decompressed length up front.
                if cramjam.snappy.decompress_raw_len(data) > self.limit:
                    raise BodyTooLargeError(self.limit, decompressed=True)
                return bytes(cramjam.snappy.decompress_raw(data))
            module = {"zstd": cramjam.zstd, "lz4": cramjam.lz4}.get(self.codec, cramjam.snappy)
            buffer = bytearray(self.limit + 1)
            size = module.decompress_into(data, buffer)
        except cramjam.DecompressionError as err:
            if "failed to write whole buffer" in str(err):  # the buffer of limit + 1 bytes is full
                raise BodyTooLargeError(self.limit, decompressed=True) from None
            raise CorruptBodyError(f"invalid {self.encoding} body: {err}") from None
        if size > self.limit:
            raise BodyTooLargeError(self.limit, decompressed=True)
        return bytes(memoryview(buffer)[:size])


# Content-Encoding -> the decoder's name; "" and "identity" mean not compressed.
ENCODINGS: dict[str, str] = {
    "": "",
    "identity": "",
    "gzip": "gzip",
    "x-gzip": "gzip",
    "zlib": "zlib",
    "deflate": "zlib",
    "zstd": "zstd",
    "snappy": "snappy",
    "x-snappy-framed": "x-snappy-framed",
    "lz4": "lz4",
}
SUPPORTED = ", ".join(sorted(e for e in ENCODINGS if e))


def body_decoder(content_encoding: str, limit: int) -> BodyDecoder:
    """The decoder of bodies in `content_encoding`; UnsupportedEncodingError if there is none."""
    name = content_encoding.strip().lower()
    codec = ENCODINGS.get(name)
    if codec is None:
        raise UnsupportedEncodingError(
            f"unsupported Content-Encoding {content_encoding!r}, supported: [{SUPPORTED}]"
        )
    if not codec:
        return _Identity(limit)
    if codec in ("gzip", "zlib"):
        return _Inflate(name, codec == "gzip", limit)
    return _Cramjam(name, codec, limit)
