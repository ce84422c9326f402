"""Live tail: matching records that land after the tail starts, polled from ClickHouse, as SSE events.

Every `tail_poll_interval` a tail asks for matching records with Timestamp >= its floor: the newest
timestamp it has sent (or its start time, or now if older) less `tail_lateness`, so records whose
batch lands late are still found; the keys (Timestamp, tie) it sent since the floor are kept and
skipped again. At start, the records already in that window are marked seen without being sent.
Each event carries the record's key as `id`; a client reconnecting with `Last-Event-ID` gets the
records after that key. A tail sends at most `tail_max_rate` records a second, oldest first; when
it falls more than `tail_max_lag` behind, it skips ahead and says how many records it skipped (an
`event: dropped`). A failed query ends the stream with an `event: error`. `TailHub` bounds how many
tails run at once and ends them all on shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import AsyncIterator
from typing import Any

from backend.logs.config import LogsServiceConfig
from backend.logs.filters import Bindings, LogFilter
from backend.logs.records import COLUMNS, TIE, event_id, record
from backend.logs.sse import event
from backend.service import NANOS, BadRequestError, Store, now_ns
from backend.streams import StreamHub, polled_events

log = logging.getLogger("airis.logs.tail")

Key = tuple[int, int]
"""A record's (Unix ns, tie)."""
_EVENT_ID = re.compile(r"^(\d{1,19})-([0-9a-f]{16})$")
MAX_SEEN_PER_RECORD_BUDGET = 20
"""A tail remembers at most this many polls' worth of sent keys (`tail_max_rate` x interval each)."""


def parse_event_id(text: str, parameter: str = "Last-Event-ID") -> Key:
    """The key of an event id (`<Unix ns>-<16 hex digits>`); BadRequestError if it is not one."""
    match = _EVENT_ID.match(text.strip())
    if not match or int(match.group(1)) >= 2**63:
        raise BadRequestError(f"{text!r} is not an event id this service sent", parameter)
    return int(match.group(1)), int(match.group(2), 16)


class TailHub(StreamHub["Tail"]):
    """The live tails of one service: at most `tail_max_streams` at once; `close` ends them all."""

    def __init__(self, store: Store, config: LogsServiceConfig) -> None:
        super().__init__(config.tail_max_streams, "live tails")
        self.store = store
        self.config = config

    def open(self, where: LogFilter, resume: Key | None = None) -> Tail:
        """A new tail, counted until its `close`; TooManyStreamsError when none is free."""
        return self.admit(Tail(self, where, resume))


class Tail:
    """One live tail: `events()` yields SSE chunks until the hub closes or the consumer stops."""

    def __init__(self, hub: TailHub, where: LogFilter, resume: Key | None) -> None:
        self.hub = hub
        self.store = hub.store
        self.config = hub.config
        self.where = where
        self.resume = resume
        self.task: asyncio.Task[Any] | None = None
        interval = self.config.tail_poll_interval.total_seconds()
        self.budget = max(1, math.ceil(self.config.tail_max_rate * interval))
        """The most records one poll sends."""
        self.lateness = int(self.config.tail_lateness.total_seconds() * NANOS)
        self.seen: dict[Key, None] = {}
        """Keys sent (or present at start) at or after the floor."""
        self.max_seen = 0
        self.hard_floor = 0
        self.polls = 0

    def close(self) -> None:
        """Give the tail's slot back (idempotent)."""
        self.hub.release(self)

    @property
    def floor(self) -> int:
        """The oldest Timestamp the next poll asks for."""
        return max(self.hard_floor, min(self.max_seen, now_ns()) - self.lateness)

    def events(self) -> AsyncIterator[bytes]:
        """SSE chunks: a retry hint, then records as they land, keep-alive comments when idle."""
        return polled_events(
            self,
            self.hub.closing,
            self.config.tail_poll_interval.total_seconds(),
            self.config.tail_keepalive.total_seconds(),
            log,
        )

    async def prime(self) -> None:
        """Start after a resumed event, or mark the records already in the window as seen (they landed
        before the tail started)."""
        if self.resume is not None:
            self.hard_floor = self.max_seen = self.resume[0]
            return
        self.max_seen = now_ns()
        self.hard_floor = self.max_seen - self.lateness
        bind = Bindings()
        cap = self.budget * MAX_SEEN_PER_RECORD_BUDGET
        sql = (
            f"SELECT toUnixTimestamp64Nano(Timestamp) AS time_ns, {TIE} AS tie "
            f"FROM {self.store.table('otel_logs')} WHERE {self._window(bind)} "
            f"ORDER BY Timestamp DESC, tie DESC LIMIT {bind(cap, 'UInt32')}"
        )
        rows = await self.store.rows(sql, bind.values)
        keys = [(int(t), int(tie)) for t, tie in reversed(rows)]
        self.seen = dict.fromkeys(keys)
        if len(rows) == cap:
            self.hard_floor = keys[0][0]

    async def poll(self) -> list[bytes]:
        """One poll: the SSE chunks of records not sent yet, oldest first, at most `budget` of them."""
        self.polls += 1
        bind = Bindings()
        conditions = self._window(bind)
        if self.seen:
            conditions += f" AND (time_ns, tie) NOT IN {bind(list(self.seen), 'Array(Tuple(Int64, UInt64))')}"
        if self.resume is not None:
            conditions += f" AND (time_ns, tie) > {bind(self.resume, 'Tuple(Int64, UInt64)')}"
        sql = (
            f"SELECT {COLUMNS} FROM {self.store.table('otel_logs')} WHERE {conditions} "
            f"ORDER BY Timestamp, tie LIMIT {bind(self.budget + 1, 'UInt32')}"
        )
        rows = await self.store.rows(sql, bind.values)
        chunks = []
        for row in rows[: self.budget]:
            key = (int(row[0]), int(row[1]))
            self.seen[key] = None
            self.max_seen = max(self.max_seen, key[0])
            chunks.append(event(json.dumps(record(row), separators=(",", ":")), id=event_id(*key)))
        if len(rows) > self.budget and now_ns() - self.lateness - self.max_seen > self._max_lag:
            chunks.append(await self._skip_ahead())
        self._forget_old()
        return chunks

    @property
    def _max_lag(self) -> int:
        return int(self.config.tail_max_lag.total_seconds() * NANOS)

    async def _skip_ahead(self) -> bytes:
        """Jump to the present: count the records passed over and tell the client."""
        target = now_ns() - self.lateness
        bind = Bindings()
        sql = (
            f"SELECT count() FROM {self.store.table('otel_logs')} WHERE {self._window(bind)} "
            f"AND Timestamp > fromUnixTimestamp64Nano({bind(self.max_seen, 'Int64')}) "
            f"AND Timestamp < fromUnixTimestamp64Nano({bind(target, 'Int64')})"
        )
        [(skipped,)] = await self.store.rows(sql, bind.values)
        self.hard_floor = self.max_seen = target
        return event(json.dumps({"dropped": int(skipped), "until": str(target)}), name="dropped")

    def _window(self, bind: Bindings) -> str:
        floor = self.floor
        return (
            f"{self.where.where(bind)} AND Timestamp >= fromUnixTimestamp64Nano({bind(floor, 'Int64')}) "
            f"AND TimestampTime >= toDateTime({bind(floor // NANOS, 'Int64')})"
        )

    def _forget_old(self) -> None:
        """Drop keys older than the floor; past the memory bound, raise the floor instead."""
        floor = self.floor
        limit = self.budget * MAX_SEEN_PER_RECORD_BUDGET
        old = [key for key in self.seen if key[0] < floor]
        for key in old:
            del self.seen[key]
        if len(self.seen) > limit:
            ordered = sorted(self.seen)
            for key in ordered[: len(ordered) - limit]:
                del self.seen[key]
            self.hard_floor = max(self.hard_floor, ordered[len(ordered) - limit][0])


__all__ = ["Key", "Tail", "TailHub", "parse_event_id"]
