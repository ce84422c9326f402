"""A durable append-only log in one folder: CRC-checked records in segment files plus a committed watermark.

Files in the folder:

- `<base>.seg` (base: the first record's sequence number, 20 digits): records `[u32 length][u32 crc32]
  [payload]`, little-endian; the crc32 covers the 4 length bytes then the payload (so a zero-filled tail
  never reads as valid). A record's sequence number is its segment's base plus its index in the segment.
  Each open of the log writes to fresh segments; earlier ones are only read, truncated or deleted.
- `committed`: decimal text W, "every record with seq <= W is acknowledged", replaced atomically (write
  `committed.tmp`, rename). It is fsynced only before segments are deleted and on close, so after a crash
  a few acknowledged records may be delivered again (at-least-once); acks above the first gap are kept
  in memory only and are re-delivered too.

Recovery reads every segment; at the first record that is short or fails its crc (a torn tail after a
crash mid-write, or corruption) the rest of that segment is dropped with a warning and the file is
truncated there. Resynchronising past corruption is not attempted, since the sequence numbers of
records behind it would be unknown; later segments are still read (their base is in their name).
Sequence numbers only grow across restarts: the next one is past every segment's records and W.

All writes, fsyncs and deletions run in one worker thread call at a time (`asyncio.to_thread`): appends
that arrive while a call runs are written and fsynced together by the next (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import struct
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEGMENT_SIZE = 64 << 20
_HEADER = struct.Struct("<II")
_LENGTH = struct.Struct("<I")
_MAX_RECORD = (1 << 32) - 1
_IOV_MAX = 1024
_SEGMENT_RE = re.compile(r"^[0-9]{20}\.seg$")
_COMMITTED = "committed"

_log = logging.getLogger(__name__)


@dataclass
class _Segment:
    """One segment file; `end` is the sequence number after its last record."""

    base: int
    end: int
    path: Path


@dataclass
class _Active:
    """The segment being written: its open file descriptor and size in bytes."""

    segment: _Segment
    fd: int
    size: int = 0


def _crc(view: bytes | memoryview, length: bytes | memoryview) -> int:
    return zlib.crc32(view, zlib.crc32(length))


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """`writev` every buffer in order, resuming after short writes."""
    views = [memoryview(b) for b in buffers]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileLog:
    """A `collector.storage.DurableLog` in `folder`; appends are durable (fsync unless `fsync=False`) on return."""

    def __init__(
        self,
        folder: Path,
        *,
        fsync: bool = True,
        segment_size: int = SEGMENT_SIZE,
        logger: logging.Logger | None = None,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self.folder = folder
        self.fsync = fsync
        self.segment_size = segment_size
        self.logger = logger or _log
        self.on_close = on_close
        folder.mkdir(parents=True, exist_ok=True)
        self._segments: list[_Segment] = []
        self._active: _Active | None = None
        self._committed = self._read_committed()  # as last written to disk (worker side)
        self._replay, self._next_seq = self._recover()
        self._order: deque[int] = deque(seq for seq, _ in self._replay)  # unacked or queued, ascending
        self._unacked = set(self._order)
        self._watermark_seen = self._committed  # the last watermark handed to the worker
        self._records: list[tuple[int, bytes]] = []  # queued for the worker
        self._futures: list[asyncio.Future[None]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._closing_task: asyncio.Task[None] | None = None

    def replay(self) -> list[tuple[int, bytes]]:
        """Unacknowledged records of earlier runs, oldest first; later calls return []."""
        records, self._replay = self._replay, []
        return records

    async def append(self, record: bytes) -> int:
        """Queue `record` for the worker and return its sequence number once it is written (and fsynced)."""
        if self._closing:
            raise RuntimeError(f"log {self.folder} is closed")
        if len(record) > _MAX_RECORD:
            raise ValueError(f"record of {len(record)} bytes is larger than {_MAX_RECORD}")
        seq = self._next_seq
        self._next_seq = seq + 1
        self._order.append(seq)
        self._unacked.add(seq)
        future = asyncio.get_running_loop().create_future()
        self._records.append((seq, record))
        self._futures.append(future)
        self._wake()
        try:
            await future
        except asyncio.CancelledError:
            await self.ack(seq)  # its caller never learns the seq: nobody else could ack it
            raise
        return seq

    async def ack(self, seq: int) -> None:
        """Mark `seq` delivered; unknown or repeated sequence numbers are ignored."""
        if seq in self._unacked:
            self._unacked.remove(seq)
            if self._order[0] == seq:
                self._advance()
                if not self._closing:
                    self._wake()

    def pending(self) -> int:
        """Records appended (or replayed) and not acknowledged."""
        return len(self._unacked)

    def watermark(self) -> int:
        """Every record with a sequence number up to this one is acknowledged (or failed to append)."""
        return self._order[0] - 1 if self._order else self._next_seq - 1

    async def close(self) -> None:
        """Write what is queued, persist the watermark durably and close the files. Idempotent."""
        if self._closing_task is None:
            self._closing = True
            self._closing_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing_task)

    async def _close(self) -> None:
        try:
            if self._worker is not None and self._wakeup is not None:
                self._wakeup.set()
                await self._worker
            await asyncio.to_thread(self._finish, self.watermark())
        finally:
            if self.on_close is not None:
                self.on_close()

    # --- event loop side

    def _advance(self) -> None:
        order, unacked = self._order, self._unacked
        while order and order[0] not in unacked:
            order.popleft()

    def _wake(self) -> None:
        if self._worker is None:
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"log {self.folder}")
        assert self._wakeup is not None
        self._wakeup.set()

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            records, futures = self._records, self._futures
            self._records, self._futures = [], []
            watermark = self.watermark()
            if records or watermark != self._watermark_seen:
                self._watermark_seen = watermark
                try:
                    done, error = await asyncio.to_thread(self._write, records, watermark)
                except Exception as exc:  # a bug: fail the appends rather than hang them
                    done, error = 0, exc
                for future in futures[:done]:
                    if not future.done():
                        future.set_result(None)
                if done < len(records):
                    for (seq, _), future in zip(records[done:], futures[done:], strict=True):
                        self._unacked.discard(seq)
                        if not future.done():
                            future.set_exception(error or OSError(f"append to {self.folder} failed"))
                    self._advance()
            if self._closing and not self._records:
                return

    # --- worker thread side (one call at a time)

    def _write(self, records: list[tuple[int, bytes]], watermark: int) -> tuple[int, BaseException | None]:
        """Write (and fsync) `records`, then persist `watermark`; return how many were written and the error."""
        done, error = self._write_records(records)
        try:
            self._commit(watermark, final=False)
        except OSError as exc:
            self.logger.warning("file_storage: could not persist the watermark of %s: %s", self.folder, exc)
        return done, error

    def _write_records(self, records: list[tuple[int, bytes]]) -> tuple[int, OSError | None]:
        i, n = 0, len(records)
        header, limit = _HEADER.pack, self.segment_size
        while i < n:
            start = i
            try:
                active = self._active or self._open_segment(records[i][0])
            except OSError as exc:
                return start, exc
            size, buffers = active.size, []
            if size and size + 8 + len(records[i][1]) > limit:
                self._close_active()  # full: the next record starts a new segment
                continue
            while i < n:
                record = records[i][1]
                length = len(record)
                if size and size + 8 + length > limit:
                    break
                buffers.append(header(length, _crc(record, _LENGTH.pack(length))))
                buffers.append(record)
                size += 8 + length
                i += 1
            try:
                _write_all(active.fd, buffers)
                if self.fsync:
                    os.fsync(active.fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(active.fd, active.size)
                self._close_active()
                return start, exc
            active.size = size
            active.segment.end += i - start
            if i < n:
                self._close_active()
        return n, None

    def _open_segment(self, base: int) -> _Active:
        path = self.folder / f"{base:020d}.seg"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        segment = _Segment(base, base, path)
        self._segments.append(segment)
        self._active = _Active(segment, fd)
        if self.fsync:
            _fsync_dir(self.folder)
        return self._active

    def _close_active(self) -> None:
        if self._active is not None:
            with contextlib.suppress(OSError):
                os.close(self._active.fd)
            self._active = None

    def _commit(self, watermark: int, *, final: bool) -> None:
        """Persist `watermark` if it moved (durably before deleting segments or when `final`), then delete."""
        active = self._active.segment if self._active else None
        done = [s for s in self._segments if s is not active and s.end - 1 <= watermark]
        durable = self.fsync and (final or bool(done))
        if watermark != self._committed or durable:
            tmp = self.folder / f"{_COMMITTED}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, f"{watermark}\n".encode())
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.folder / _COMMITTED)
            if durable:
                _fsync_dir(self.folder)
            self._committed = watermark
        for segment in done:
            segment.path.unlink(missing_ok=True)
            self._segments.remove(segment)

    def _finish(self, watermark: int) -> None:
        try:
            self._commit(watermark, final=True)
        finally:
            self._close_active()

    # --- opening

    def _read_committed(self) -> int:
        try:
            text = (self.folder / _COMMITTED).read_text()
        except FileNotFoundError:
            return 0
        try:
            return int(text.strip())
        except ValueError:
            self.logger.warning(
                "file_storage: %s holds %r, not a number; replaying every record on disk",
                self.folder / _COMMITTED,
                text[:40],
            )
            return 0

    def _recover(self) -> tuple[list[tuple[int, bytes]], int]:
        """Read every segment: records above the watermark (oldest first) and the next sequence number."""
        watermark, records, next_seq = self._committed, [], max(self._committed + 1, 1)
        for path in sorted(p for p in self.folder.iterdir() if _SEGMENT_RE.match(p.name)):
            base = int(path.name[:20])
            data = path.read_bytes()
            view, offset, seq, total = memoryview(data), 0, base, len(data)
            while offset + 8 <= total:
                length, crc = _HEADER.unpack_from(data, offset)
                end = offset + 8 + length
                if end > total or _crc(view[offset + 8 : end], view[offset : offset + 4]) != crc:
                    break
                if seq > watermark:
                    records.append((seq, data[offset + 8 : end]))
                offset, seq = end, seq + 1
            if offset < total:
                self.logger.warning(
                    "file_storage: dropping %d bytes of a torn or corrupt record after %d good records of %s",
                    total - offset,
                    seq - base,
                    path,
                )
                os.truncate(path, offset)
            next_seq = max(next_seq, seq)
            if seq == base or seq - 1 <= watermark:
                path.unlink()  # empty, or every record acknowledged
            else:
                self._segments.append(_Segment(base, seq, path))
        return records, next_seq
