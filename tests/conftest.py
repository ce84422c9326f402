"""Shared fixtures."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.components import JOURNAL


@pytest.fixture(autouse=True)
def fresh_journal() -> Iterator[None]:
    JOURNAL.events.clear()
    JOURNAL.receivers.clear()
    JOURNAL.exporters.clear()
    yield


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
