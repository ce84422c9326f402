"""Cutting a TCP byte stream into syslog frames (RFC 6587): LF- or NUL-terminated, or octet-counted.

The framer never waits for more than `max_size` bytes of one frame: a longer frame is cut at
`max_size` (the rest of it is skipped), so a sender can neither make the receiver buffer without
bound nor stall the connection. With octet counting a frame is `LEN SP MSG` and is kept whole
(prefix included, as the collector keeps it); data that does not start with a length is taken up
to the next LF instead, so a stream that is not octet-counted still gets through.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Framer", "FramingMode"]

FramingMode = Literal["lf", "nul", "octet"]
_WHITESPACE = b" \t\r\n"


class Framer:
    """Feed received bytes, get complete frames back; `finish()` flushes what is left at EOF."""

    def __init__(self, mode: FramingMode, max_size: int) -> None:
        self.mode = mode
        self.max_size = max_size
        self.delimiter = b"\0" if mode == "nul" else b"\n"
        self.truncated = 0
        """Frames cut at `max_size` so far."""
        self._buffer = b""
        self._skip = 0  # bytes still to drop of a frame that was cut (octet counting)
        self._discarding = False  # dropping the rest of a cut frame up to the next delimiter

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by `data`, in order."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        if self._discarding:
            end = data.find(self.delimiter)
            if end < 0:
                return []
            self._discarding = False
            data = data[end + 1 :]
        buffer = self._buffer + data if self._buffer else data
        if self.mode == "octet":
            return self._octets(buffer)
        return self._delimited(buffer)

    def finish(self) -> list[bytes]:
        """What is left at EOF, as one last frame (the collector flushes at EOF too)."""
        rest, self._buffer = self._buffer, b""
        if self._discarding or self._skip or not rest.strip(_WHITESPACE):
            return []
        return [rest[: self.max_size]]

    def _delimited(self, buffer: bytes) -> list[bytes]:
        end = buffer.rfind(self.delimiter)
        if end < 0:
            self._buffer = buffer
            return self._cut_if_too_long()
        self._buffer = buffer[end + 1 :]
        frames = buffer[:end].split(self.delimiter)
        if end > self.max_size:
            frames = [self._cut(f) for f in frames]
        if len(self._buffer) > self.max_size:
            frames += self._cut_if_too_long()
        return frames

    def _cut(self, frame: bytes) -> bytes:
        if len(frame) <= self.max_size:
            return frame
        self.truncated += 1
        return frame[: self.max_size]

    def _cut_if_too_long(self) -> list[bytes]:
        """A pending frame longer than `max_size`: its start, and the rest is dropped until the delimiter."""
        if len(self._buffer) < self.max_size:
            return []
        frame, self._buffer = self._buffer[: self.max_size], b""
        self._discarding = True
        self.truncated += 1
        return [frame]

    def _octets(self, buffer: bytes) -> list[bytes]:
        frames: list[bytes] = []
        pos, size = 0, len(buffer)
        while pos < size:
            if buffer[pos] in _WHITESPACE:  # stray separators between frames
                pos += 1
                continue
            space = buffer.find(b" ", pos, pos + 11)
            length = buffer[pos:space] if space > pos else b""
            if not (length.isdigit() and length[:1] != b"0"):
                if space < 0 and size - pos < 11 and buffer[pos:].isdigit():
                    break  # a length still arriving
                end = buffer.find(b"\n", pos)  # not octet-counted: take it up to the next LF
                if end < 0:
                    break
                frames.append(self._cut(buffer[pos:end]))
                pos = end + 1
                continue
            end = space + 1 + int(length)
            if end <= size:
                frames.append(self._cut(buffer[pos:end]))
                pos = end
                continue
            if end - pos > self.max_size and size - pos >= self.max_size:
                frames.append(self._cut(buffer[pos:end]))  # cut now; skip the rest as it arrives
                self._skip = end - size
                pos = size
            break
        self._buffer = buffer[pos:]
        if self.mode == "octet" and not self._skip and len(self._buffer) > self.max_size:
            frames += self._cut_if_too_long()  # a non-counted line longer than max_size
        return frames
