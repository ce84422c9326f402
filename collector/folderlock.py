"""Claiming a folder for one process: an flock on `<folder>/.airis.lock` that holds our pid."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

LOCK_FILE = ".airis.lock"


def lock_folder(folder: str | Path, timeout: float, busy: Callable[[str], str]) -> int:
    """Flock `<folder>/.airis.lock` (waiting up to `timeout` s) and write our pid in it; the fd holds the lock.

    Another process holding it: OSError with errno EWOULDBLOCK and the message `busy(its pid)`. Blocks while it waits.
    """
    fd = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    error = OSError(busy(holder))  # str() is the message alone, without "[Errno 11]"
                    error.errno = errno.EWOULDBLOCK
                    raise error from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock_folder(fd: int) -> None:
    """Empty the lock file and close it, which releases the lock."""
    os.ftruncate(fd, 0)
    os.close(fd)
