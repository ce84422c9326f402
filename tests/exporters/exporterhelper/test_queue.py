"""The sending queue: room reserved in the sizer's unit, FIFO order, blocking producers, closing."""

from __future__ import annotations

import asyncio

import pytest

from exporters.exporterhelper.queue import Entry, QueueClosedError, SendingQueue
from tests.exporters.exporterhelper.fakes import names, spans


def entry(size: int, name: str = "s") -> Entry:
    return Entry(spans(1, name), size)


async def test_entries_come_out_in_order_and_free_their_room() -> None:
    queue = SendingQueue(10)
    for name in "abc":
        assert queue.try_reserve(3)
        queue.push(entry(3, name))
    assert queue.size == 9 and len(queue) == 3
    got = [await queue.get() for _ in range(3)]
    assert [names(e.batch)[0] for e in got if e] == ["a0", "b0", "c0"]
    assert queue.size == 0


async def test_a_full_queue_refuses_a_reservation() -> None:
    queue = SendingQueue(10)
    assert queue.try_reserve(8)
    assert not queue.try_reserve(3)
    assert queue.try_reserve(2)
    assert queue.size == 10


async def test_one_entry_larger_than_the_capacity_fits_an_empty_queue() -> None:
    queue = SendingQueue(10)
    assert queue.try_reserve(25)
    assert not queue.try_reserve(1)


async def test_a_blocked_producer_gets_room_when_an_entry_is_taken() -> None:
    queue = SendingQueue(2)
    assert queue.try_reserve(2)
    queue.push(entry(2))
    waiting = asyncio.create_task(queue.reserve(1))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert not queue.try_reserve(1)  # no overtaking a blocked producer
    await queue.get()
    await asyncio.wait_for(waiting, 1)
    assert queue.size == 1


async def test_blocked_producers_are_served_in_arrival_order() -> None:
    queue = SendingQueue(2)
    assert queue.try_reserve(2)
    order: list[str] = []

    async def produce(name: str, size: int) -> None:
        await queue.reserve(size)
        order.append(name)

    tasks = [asyncio.create_task(produce("big", 2)), asyncio.create_task(produce("small", 1))]
    await asyncio.sleep(0.01)
    queue.release(1)  # room for "small" only, but "big" came first
    await asyncio.sleep(0.01)
    assert order == []
    queue.release(1)
    await asyncio.sleep(0.01)
    assert order == ["big"]
    queue.release(2)
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert order == ["big", "small"]


async def test_get_waits_until_its_deadline() -> None:
    queue = SendingQueue(2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await queue.get(started + 0.03) is None
    assert loop.time() - started >= 0.03


async def test_closing_wakes_consumers_and_producers_and_keeps_what_is_queued() -> None:
    queue = SendingQueue(1)
    assert queue.try_reserve(1)
    queue.push(entry(1))
    producer = asyncio.create_task(queue.reserve(1))
    await asyncio.sleep(0.01)
    queue.close()
    with pytest.raises(QueueClosedError):
        await producer
    with pytest.raises(QueueClosedError):
        queue.try_reserve(1)
    assert await queue.get() is not None  # drained after closing
    assert await queue.get() is None
    assert queue.size == 0


async def test_an_idle_consumer_is_woken_by_close() -> None:
    queue = SendingQueue(1)
    consumer = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    queue.close()
    assert await asyncio.wait_for(consumer, 1) is None


async def test_take_all_empties_the_queue() -> None:
    queue = SendingQueue(10)
    queue.push(entry(4), reserved=False)
    queue.push(entry(5), reserved=False)
    assert [e.size for e in queue.take_all()] == [4, 5]
    assert queue.size == 0 and len(queue) == 0
