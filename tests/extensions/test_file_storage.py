"""The file_storage extension and its durable log: what was appended survives until acknowledged."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from collector.component import ComponentId, Kind, ServiceStatus, Settings
from collector.configstruct import decode
from collector.storage import LogStorage
from collector.telemetry import MetricsRegistry
from extensions.file_storage.extension import FileStorage, owner_folder_name
from extensions.file_storage.factory import FACTORY, FileStorageConfig
from extensions.file_storage.log import FileLog

ROOT = Path(__file__).resolve().parents[2]


class FakeHost:
    """The extension asks nothing of its host."""

    status = ServiceStatus.STARTING

    def extension(self, id: ComponentId) -> object:
        raise KeyError(id)

    def extensions(self) -> dict[ComponentId, object]:
        return {}


def settings() -> Settings:
    return Settings(
        ComponentId("file_storage"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger("file_storage")
    )


def segments(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".seg")


async def test_unacked_records_are_replayed_after_close_and_reopen(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    assert log.replay() == []
    seqs = [await log.append(f"r{i}".encode()) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    await log.ack(1)
    await log.ack(2)
    assert log.pending() == 3
    await log.close()
    await log.close()

    log = FileLog(tmp_path)
    assert log.replay() == [(3, b"r2"), (4, b"r3"), (5, b"r4")]
    assert log.replay() == []
    assert log.pending() == 3
    assert await log.append(b"new") == 6
    for seq in (3, 4, 5):
        await log.ack(seq)
    await log.close()

    log = FileLog(tmp_path)
    assert log.replay() == [(6, b"new")]
    await log.close()


async def test_out_of_order_acks_advance_the_watermark_over_the_contiguous_prefix(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    seqs = await asyncio.gather(*(log.append(bytes([i])) for i in range(10)))
    assert sorted(seqs) == list(range(1, 11))
    for seq in (3, 2, 5, 9, 10):
        await log.ack(seq)
    assert log.watermark() == 0
    await log.ack(1)
    assert log.watermark() == 3
    await log.ack(4)
    assert log.watermark() == 5
    await log.ack(4)  # repeated and unknown acks are ignored
    await log.ack(99)
    assert log.pending() == 3
    await log.close()
    assert (tmp_path / "committed").read_text() == "5\n"

    log = FileLog(tmp_path)  # acks above the watermark (9, 10) are re-delivered: at-least-once
    assert [seq for seq, _ in log.replay()] == [6, 7, 8, 9, 10]
    await log.close()


async def test_segments_rotate_and_fully_acked_ones_are_deleted(tmp_path: Path) -> None:
    log = FileLog(tmp_path, segment_size=100)
    seqs = [await log.append(bytes(40)) for _ in range(7)]  # 48 bytes per record: two per segment
    assert segments(tmp_path) == [f"{base:020d}.seg" for base in (1, 3, 5, 7)]
    assert (tmp_path / f"{1:020d}.seg").stat().st_size == 96
    await log.ack(seqs[0])
    await log.ack(seqs[2])
    await asyncio.sleep(0.05)
    assert segments(tmp_path) == [f"{base:020d}.seg" for base in (1, 3, 5, 7)]
    await log.ack(seqs[1])
    await log.ack(seqs[3])
    await log.ack(seqs[4])
    await log.close()
    assert segments(tmp_path) == [f"{base:020d}.seg" for base in (5, 7)]

    log = FileLog(tmp_path, segment_size=100)
    assert [seq for seq, _ in log.replay()] == [6, 7]
    await log.ack(6)
    await log.ack(7)
    assert await log.append(b"x" * 500) == 8  # larger than a segment: alone in its own
    await log.close()
    assert segments(tmp_path) == [f"{8:020d}.seg"]


async def test_sequence_numbers_keep_growing_after_everything_is_acked(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    for _ in range(3):
        await log.ack(await log.append(b"x"))
    await log.close()
    assert segments(tmp_path) == [f"{1:020d}.seg"]  # the last one written stays until the next open
    log = FileLog(tmp_path)
    assert log.replay() == []
    assert segments(tmp_path) == []
    assert await log.append(b"y") == 4
    await log.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from extensions.file_storage.log import FileLog

    async def appender(log, task):
        for i in range(100_000):
            seq = await log.append(f"{task}-{i}|".encode() + bytes(5000))
            print(seq, f"{task}-{i}", flush=True)

    async def main():
        log = FileLog(Path(sys.argv[1]), fsync=sys.argv[2] == "1", segment_size=200_000)
        await asyncio.gather(*(appender(log, t) for t in range(4)))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("fsync", [True, False])
def test_every_returned_append_survives_kill_9(tmp_path: Path, fsync: bool) -> None:
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), "1" if fsync else "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        returned: dict[int, str] = {}
        for _ in range(random.randint(5, 300)):
            number, name = child.stdout.readline().split()
            returned[int(number)] = name
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        for line in rest.splitlines(keepends=True):
            if line.endswith("\n"):
                number, name = line.split()
                returned[int(number)] = name
        assert child.returncode == -signal.SIGKILL

        log = FileLog(tmp_path, segment_size=200_000)
        replayed = dict(log.replay())
        missing = [seq for seq in returned if seq not in replayed]
        assert missing == [], f"round {round_}: {len(missing)} returned appends were lost"
        for seq, name in returned.items():
            assert replayed[seq].startswith(f"{name}|".encode())
        # Acknowledge half, so the next round also checks the watermark across kills.
        acked = sorted(replayed)[: len(replayed) // 2]
        asyncio.run(_ack_and_close(log, acked))
        reopened = FileLog(tmp_path, segment_size=200_000)
        assert [seq for seq, _ in reopened.replay()] == sorted(set(replayed) - set(acked))


async def _ack_and_close(log: FileLog, seqs: list[int]) -> None:
    for seq in seqs:
        await log.ack(seq)
    await log.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
async def test_a_torn_tail_is_cut_away_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = FileLog(tmp_path)
    for i in range(3):
        await log.append(f"record-{i}".encode() * 10)
    await log.close()
    segment = tmp_path / segments(tmp_path)[-1]
    size = segment.stat().st_size
    if damage == "truncate":
        os.truncate(segment, size - 7)  # the last record loses its end
        good = 2
    else:
        with segment.open("ab") as f:
            f.write(b"\x05\x00\x00\x00garbage that is no record")
        good = 3

    with caplog.at_level(logging.WARNING):
        log = FileLog(tmp_path)
    assert [seq for seq, _ in log.replay()] == list(range(1, good + 1))
    assert any("torn or corrupt" in r.getMessage() and segment.name in r.getMessage() for r in caplog.records)
    assert segment.stat().st_size == size // 3 * good
    assert await log.append(b"after") == good + 1
    await log.close()

    caplog.clear()
    log = FileLog(tmp_path)
    assert [seq for seq, _ in log.replay()] == [*range(1, good + 1), good + 1]
    assert caplog.records == []
    await log.close()


async def test_a_corrupt_record_drops_the_rest_of_its_segment_only(tmp_path: Path) -> None:
    log = FileLog(tmp_path, segment_size=100)
    for _ in range(4):
        await log.append(bytes(40))  # segments of two records: 1-2, 3-4
    await log.close()
    first = tmp_path / segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[60] ^= 0xFF  # inside the payload of record 2
    first.write_bytes(bytes(data))
    log = FileLog(tmp_path, segment_size=100)
    assert [seq for seq, _ in log.replay()] == [1, 3, 4]
    assert await log.append(b"x") == 5
    await log.close()


async def test_concurrent_appends_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    log = FileLog(tmp_path)
    seqs = await asyncio.gather(*(log.append(bytes(1000)) for _ in range(50)))
    assert sorted(seqs) == list(range(1, 51))
    assert 1 <= len(calls) <= 3  # the segment (and its directory once)
    await log.close()


async def test_without_fsync_appends_never_call_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    log = FileLog(tmp_path, fsync=False, segment_size=100)
    for _ in range(10):
        await log.ack(await log.append(bytes(60)))
    await log.close()
    assert calls == []
    assert FileLog(tmp_path).replay() == []


async def test_a_failed_write_fails_its_appends_and_the_log_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = FileLog(tmp_path)
    assert await log.append(b"one") == 1
    real_writev = os.writev

    def full_disk(fd: int, buffers: list[memoryview]) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", full_disk)
    with pytest.raises(OSError, match="No space left"):
        await log.append(b"two")
    assert log.pending() == 1
    monkeypatch.setattr(os, "writev", real_writev)
    assert await log.append(b"three") == 3
    await log.ack(1)
    assert log.watermark() == 2
    await log.close()
    assert FileLog(tmp_path).replay() == [(3, b"three")]


async def test_a_cancelled_append_does_not_hold_back_the_watermark(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    task = asyncio.create_task(log.append(b"cancelled"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await log.ack(await log.append(b"kept"))
    assert log.pending() == 0
    assert log.watermark() == 2
    await log.close()
    assert FileLog(tmp_path).replay() == []


async def test_acks_after_close_are_ignored(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    await log.append(b"a")
    await log.close()
    log = FileLog(tmp_path)
    assert log.replay() == [(1, b"a")]
    await log.close()
    await log.ack(1)
    assert FileLog(tmp_path).replay() == [(1, b"a")]


async def test_appending_after_close_is_refused(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    await log.close()
    with pytest.raises(RuntimeError, match="closed"):
        await log.append(b"late")


def test_owner_names_become_distinct_safe_folder_names() -> None:
    assert owner_folder_name("exporter/otlp/backend/traces") == "exporter%2Fotlp%2Fbackend%2Ftraces"
    assert owner_folder_name("a_b") != owner_folder_name("a/b")
    assert owner_folder_name("..") == "%2E."
    assert owner_folder_name(".airis.lock") == "%2Eairis.lock"
    long = owner_folder_name("x" * 1000)
    assert len(long) == 167
    assert long != owner_folder_name("x" * 999)
    with pytest.raises(ValueError):
        owner_folder_name("")


async def test_the_extension_opens_one_log_per_owner(tmp_path: Path) -> None:
    storage = FileStorage(settings(), FileStorageConfig(directory=str(tmp_path / "queue")))
    assert isinstance(storage, LogStorage)
    with pytest.raises(RuntimeError, match="not started"):
        storage.open_log("exporter/otlp/traces")
    await storage.start(FakeHost())  # type: ignore[arg-type]
    assert (tmp_path / "queue" / ".airis.lock").read_text() == f"{os.getpid()}\n"
    log = storage.open_log("exporter/otlp/traces")
    with pytest.raises(ValueError, match="open already"):
        storage.open_log("exporter/otlp/traces")
    other = storage.open_log("exporter/otlp/logs")
    assert await log.append(b"t") == 1
    assert await other.append(b"l") == 1
    await log.close()
    log = storage.open_log("exporter/otlp/traces")  # closed logs may be opened again
    assert log.replay() == [(1, b"t")]
    await storage.shutdown()
    await storage.shutdown()
    assert storage.logs == {}
    with pytest.raises(RuntimeError, match="closed"):
        await other.append(b"late")
    assert (tmp_path / "queue" / "exporter%2Fotlp%2Flogs").is_dir()


async def test_shutdown_without_start_is_safe(tmp_path: Path) -> None:
    storage = FileStorage(settings(), FileStorageConfig(directory=str(tmp_path)))
    await storage.shutdown()
    await storage.shutdown()


async def test_a_missing_directory_fails_start_unless_it_may_be_created(tmp_path: Path) -> None:
    config = FileStorageConfig(directory=str(tmp_path / "missing"), create_directory=False)
    with pytest.raises(OSError, match="missing does not exist"):
        await FileStorage(settings(), config).start(FakeHost())  # type: ignore[arg-type]


LOCK_HOLDER = textwrap.dedent(
    """
    import asyncio, logging, sys, time
    from collector.component import ComponentId, Kind, Settings
    from collector.telemetry import MetricsRegistry
    from extensions.file_storage.extension import FileStorage
    from extensions.file_storage.factory import FileStorageConfig

    settings = Settings(ComponentId("file_storage"), Kind.EXTENSION, MetricsRegistry(), logging.getLogger())
    storage = FileStorage(settings, FileStorageConfig(directory=sys.argv[1]))
    asyncio.run(storage.start(None))
    print("locked", flush=True)
    time.sleep(60)
    """
)


async def test_a_second_process_on_the_directory_fails_naming_it_and_the_holder(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, str(tmp_path), cwd=ROOT, stdout=subprocess.PIPE
    )
    config = FileStorageConfig(directory=str(tmp_path), timeout=timedelta(milliseconds=100))
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        storage = FileStorage(settings(), config)
        with pytest.raises(OSError) as error:
            await storage.start(FakeHost())  # type: ignore[arg-type]
        assert str(tmp_path) in str(error.value)
        assert f"pid {holder.pid}" in str(error.value)
        await storage.shutdown()
    finally:
        holder.kill()
        await holder.wait()
    storage = FileStorage(settings(), config)  # the lock dies with its holder
    await storage.start(FakeHost())  # type: ignore[arg-type]
    await storage.shutdown()


def test_its_config_is_checked() -> None:
    config, problems = decode(FileStorageConfig, {"directory": "/tmp/q", "timeout": "5s", "fsync": False})
    assert problems == []
    assert config == FileStorageConfig(directory="/tmp/q", fsync=False, timeout=timedelta(seconds=5))
    _, problems = decode(FileStorageConfig, {"directory": " "}, "extensions::file_storage")
    assert [str(p) for p in problems] == ["extensions::file_storage: directory must not be empty"]


def test_the_factory_creates_the_extension(tmp_path: Path) -> None:
    assert FACTORY.type == "file_storage"
    assert FACTORY.default_config() == FileStorageConfig()
    assert FileStorageConfig().directory == "./data/queue"
    assert isinstance(FACTORY.create(settings(), FileStorageConfig(directory=str(tmp_path))), FileStorage)
