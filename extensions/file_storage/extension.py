"""The `file_storage` extension: locks its directory and opens one durable log per owner in it.

Layout of `directory`: `.airis.lock` (flock'ed while running, holds the pid) and one folder per owner,
named by percent-encoding the owner (`exporter/otlp/backend/traces` -> `exporter%2Fotlp%2Fbackend%2Ftraces`;
only letters, digits and `_.-~` stay as they are, a leading `.` is encoded too, and names longer than
200 bytes keep 150 and end in `-` + 16 hex digits of their SHA-256), so distinct owners never share one.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
from pathlib import Path
from urllib.parse import quote

from collector.component import Host, Settings
from collector.folderlock import lock_folder, unlock_folder
from extensions.file_storage.factory import FileStorageConfig
from extensions.file_storage.log import SEGMENT_SIZE, FileLog

_NAME_MAX = 200


def owner_folder_name(owner: str) -> str:
    """The folder name of `owner`'s log: percent-encoded, never hidden, at most 200 bytes."""
    if not owner:
        raise ValueError("the owner of a log must not be empty")
    name = quote(owner, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > _NAME_MAX:
        name = f"{name[:150]}-{hashlib.sha256(owner.encode()).hexdigest()[:16]}"
    return name


class FileStorage:
    """Offers `open_log(owner)` (a `collector.storage.LogStorage`) over a directory only this process uses."""

    def __init__(
        self, settings: Settings, config: FileStorageConfig, segment_size: int = SEGMENT_SIZE
    ) -> None:
        self.settings = settings
        self.config = config
        self.directory = Path(config.directory)
        self.segment_size = segment_size
        self.logs: dict[str, FileLog] = {}
        self._lock_fd: int | None = None

    async def start(self, host: Host) -> None:
        directory = self.directory
        if self.config.create_directory:
            directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        elif not directory.is_dir():
            raise OSError(
                errno.ENOENT, f"file_storage directory {directory} does not exist (create_directory is false)"
            )
        where = directory.resolve()
        self._lock_fd = await asyncio.to_thread(
            lock_folder,
            directory,
            self.config.timeout.total_seconds(),
            lambda pid: (
                f"file_storage directory {where} is locked by another process (pid {pid}); "
                "two collectors must not share one directory"
            ),
        )

    def open_log(self, owner: str) -> FileLog:
        """The log of `owner` (reading its files now); ValueError if it is open already."""
        if self._lock_fd is None:
            raise RuntimeError(f"extension {self.settings.id} is not started")
        if owner in self.logs:
            raise ValueError(f"the log of {owner!r} is open already")
        log = FileLog(
            self.directory / owner_folder_name(owner),
            fsync=self.config.fsync,
            segment_size=self.segment_size,
            logger=self.settings.logger,
            on_close=lambda: self.logs.pop(owner, None),
        )
        self.logs[owner] = log
        return log

    async def shutdown(self) -> None:
        for log in list(self.logs.values()):
            await log.close()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            unlock_folder(fd)
