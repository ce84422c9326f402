"""ContainerFallback: the cheap ingest first, the full one for requests holding container values."""

from __future__ import annotations

from typing import Any

import pytest

from exporters.clickhouse.any_value_bytes import CONTAINERS_REFUSED
from exporters.clickhouse.ingest import MAX_ITEMS, STICKY, ContainerFallback


class FakeIngest:
    """Records the requests it takes; refuses those marked as holding a container when cheap."""

    def __init__(self, containers: bool, log: list[tuple[str, bytes]]) -> None:
        self.containers, self.log, self.forgotten = containers, log, 0

    async def write(self, backend: Any, data: bytes) -> None:
        if not self.containers and b"container" in data:
            raise RuntimeError(f"Code: 395. DB::Exception: {CONTAINERS_REFUSED}")
        if b"broken" in data:
            raise RuntimeError("Code: 27. DB::Exception: cannot parse")
        self.log.append(("full" if self.containers else "cheap", data))

    def forget(self) -> None:
        self.forgotten += 1


def fallback() -> tuple[ContainerFallback, list[tuple[str, bytes]]]:
    log: list[tuple[str, bytes]] = []
    return ContainerFallback(lambda containers: FakeIngest(containers, log)), log  # type: ignore[arg-type, return-value]


async def test_plain_requests_take_the_cheap_ingest_only() -> None:
    ingests, log = fallback()
    await ingests.write(None, b"plain", 10)  # type: ignore[arg-type]
    assert log == [("cheap", b"plain")]


async def test_a_refused_request_is_written_once_by_the_full_ingest_and_the_next_ones_go_there_directly() -> (
    None
):
    ingests, log = fallback()
    await ingests.write(None, b"container", 10)  # type: ignore[arg-type]
    for n in range(STICKY):
        await ingests.write(None, b"plain %d" % n, 10)  # type: ignore[arg-type]
    await ingests.write(None, b"plain again", 10)  # type: ignore[arg-type]
    assert log[0] == ("full", b"container")
    assert {path for path, _ in log[1 : 1 + STICKY]} == {"full"}
    assert log[-1] == ("cheap", b"plain again")
    assert len(log) == STICKY + 2  # every request written exactly once


async def test_a_request_too_big_for_one_block_goes_to_the_full_ingest() -> None:
    ingests, log = fallback()
    await ingests.write(None, b"huge", MAX_ITEMS + 1)  # type: ignore[arg-type]
    assert log == [("full", b"huge")]


async def test_other_errors_are_raised_as_they_are() -> None:
    ingests, log = fallback()
    with pytest.raises(RuntimeError, match="cannot parse"):
        await ingests.write(None, b"broken", 10)  # type: ignore[arg-type]
    assert log == []


def test_forget_resets_both_ingests() -> None:
    ingests, _ = fallback()
    ingests.forget()
    assert (ingests.cheap.forgotten, ingests.full.forgotten) == (1, 1)  # type: ignore[attr-defined]
