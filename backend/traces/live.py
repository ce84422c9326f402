"""Live traces: the traces that start matching a search after a stream opens, as Server-Sent Events.

Every `live_poll_interval` a stream asks otel_traces, with the search's conditions
(`search.span_conditions` over a `TraceQuery` whose range is the window), for the traces with a
matching span stamped at most `live_lateness` ago (spans land late: exported when they end, batched,
retried). A trace is sent once, when first seen matching, as its summary at that moment
(`event: trace`); its id is remembered while it has matching spans in the window, and skipped in SQL,
so its later spans do not send it again. The traces matching when the stream opens are marked seen
unsent. A stream sends at most `live_max_rate` traces a second (a token bucket); the new traces a poll
finds beyond that are not sent, and an `event: dropped` says how many. Each trace event's `id` is the
poll's time: a client reconnecting with `Last-Event-ID` gets the matching traces with no span stamped
before it (spans stamped earlier that landed after it are not recovered, nor anything older than the
window). A failed query ends the stream with an `event: error`. `LiveHub` bounds how many streams run
at once and ends them all on shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.logs.sse import EventStream, event
from backend.service import NANOS, BadRequestError, Query, Store, now_ns
from backend.streams import StreamHub, TooManyStreamsError, polled_events
from backend.traces.config import TracesServiceConfig
from backend.traces.native_api import filtered_query, summary_json
from backend.traces.search import TraceQuery, span_conditions, trace_summaries

log = logging.getLogger("airis.traces.live")

_EVENT_ID = re.compile(r"^\d{1,19}$")
MIN_REMEMBERED = 1_000
"""A stream remembers at least this many trace ids (more when its rate and window allow more)."""


def parse_event_id(text: str, parameter: str = "Last-Event-ID") -> int:
    """The Unix ns of an event id this service sent; BadRequestError if it is not one."""
    value = text.strip()
    if not _EVENT_ID.match(value) or int(value) >= 2**63:
        raise BadRequestError(f"{text!r} is not an event id this service sent", parameter)
    return int(value)


class LiveHub(StreamHub["LiveTraces"]):
    """The live streams of one service: at most `live_max_streams` at once; `close` ends them all."""

    def __init__(self, store: Store, config: TracesServiceConfig) -> None:
        super().__init__(config.live_max_streams, "live traces streams")
        self.store = store
        self.config = config

    def open(self, search: TraceQuery, resume_ns: int | None = None) -> LiveTraces:
        """A new stream of the traces `search`'s filters match, counted until its `close`;
        TooManyStreamsError when none is free."""
        return self.admit(LiveTraces(self, search, resume_ns))


class LiveTraces:
    """One live stream: `events()` yields SSE chunks until the hub closes or the consumer stops."""

    def __init__(self, hub: LiveHub, search: TraceQuery, resume_ns: int | None) -> None:
        self.hub = hub
        self.store = hub.store
        self.search = search
        self.resume_ns = resume_ns
        self.task: asyncio.Task[Any] | None = None
        config = hub.config
        self.interval = config.live_poll_interval.total_seconds()
        self.lateness = int(config.live_lateness.total_seconds() * NANOS)
        self.rate = float(config.live_max_rate)
        self.capacity = max(1.0, self.rate * self.interval)
        """The most traces one poll may send (the bucket's size)."""
        self.tokens = self.capacity
        self.last_sent_ns = 0
        self.max_seen = max(
            MIN_REMEMBERED,
            2 * math.ceil(self.rate * (config.live_lateness + config.live_poll_interval).total_seconds()),
        )
        self.seen: dict[str, int] = {}
        """Trace id → its newest matching span's Unix ns, for the traces sent or passed over."""
        self.hard_floor = 0
        self.last_poll_ns = 0
        self.polls = 0

    def close(self) -> None:
        """Give the stream's slot back (idempotent)."""
        self.hub.release(self)

    def events(self) -> AsyncIterator[bytes]:
        """SSE chunks: a retry hint, then new traces as they match, keep-alive comments when idle."""
        keepalive = self.hub.config.live_keepalive.total_seconds()
        return polled_events(self, self.hub.closing, self.interval, keepalive, log)

    def _window(self, start_ns: int, end_ns: int) -> tuple[str, dict[str, object]]:
        """The search's WHERE clause over [start_ns, end_ns] and its parameters."""
        return span_conditions(replace(self.search, start_ns=start_ns, end_ns=end_ns))

    async def prime(self) -> None:
        """Mark as seen the traces matching already (up to the resumed event's time, if any)."""
        now = self.last_poll_ns = now_ns()
        until = now + self.lateness if self.resume_ns is None else min(self.resume_ns, now)
        where, parameters = self._window(now - self.lateness, until)
        parameters["limit"] = self.max_seen
        rows = await self.store.rows(
            f"SELECT TraceId, toUnixTimestamp64Nano(max(Timestamp)) AS last "
            f"FROM {self.store.table('otel_traces')} WHERE {where} "
            "GROUP BY TraceId ORDER BY last DESC LIMIT {limit:UInt32}",
            parameters,
        )
        self.seen = {str(trace_id): int(last) for trace_id, last in rows}
        if len(rows) == self.max_seen:  # more match than remembered: the older ones are behind the floor
            self.hard_floor = int(rows[-1][1]) + 1

    async def poll(self) -> list[bytes]:
        """One poll: an event per new matching trace (up to the rate), then a `dropped` event if any."""
        self.polls += 1
        now = now_ns()
        floor = max(self.hard_floor, now - self.lateness)
        # Remembered traces whose newest matching span may fall behind the floor before the next poll
        # are asked for again, to learn of their newer spans; the others are skipped in SQL.
        margin = 2 * max(int(self.interval * NANOS), now - self.last_poll_ns)
        settled = [trace_id for trace_id, last in self.seen.items() if last >= floor + margin]
        self.last_poll_ns = now
        where, parameters = self._window(floor, now + self.lateness)
        if settled:
            where += " AND TraceId NOT IN {settled:Array(String)}"
            parameters["settled"] = settled
        parameters["limit"] = self.max_seen
        rows = await self.store.rows(
            f"SELECT TraceId, toUnixTimestamp64Nano(max(Timestamp)) FROM {self.store.table('otel_traces')} "
            f"WHERE {where} GROUP BY TraceId ORDER BY min(Timestamp), TraceId LIMIT {{limit:UInt32}}",
            parameters,
        )
        new = []
        for trace_id, last in rows:
            known = self.seen.get(trace_id)
            if known is None:
                new.append(str(trace_id))
            self.seen[str(trace_id)] = max(int(last), known or 0)
        chunks = await self._send(new, now)
        self._forget(floor)
        return chunks

    async def _send(self, new: list[str], now: int) -> list[bytes]:
        """Events of the traces of `new` the bucket allows, and a `dropped` event for the others."""
        self.tokens = min(self.capacity, self.tokens + self.rate * max(0, now - self.last_sent_ns) / NANOS)
        self.last_sent_ns = now
        count = min(len(new), int(self.tokens))
        summaries = await trace_summaries(self.store, new[:count])
        # A trace lands in otel_traces a moment before the views copy it to the tables summaries read:
        # one not readable there yet is left for the next poll.
        for trace_id in set(new[:count]) - {summary.trace_id for summary in summaries}:
            del self.seen[trace_id]
        self.tokens -= len(summaries)
        chunks = [
            event(json.dumps(summary_json(summary), separators=(",", ":")), id=str(now), name="trace")
            for summary in summaries
        ]
        if len(new) > count:
            chunks.append(event(json.dumps({"dropped": len(new) - count}), name="dropped"))
        return chunks

    def _forget(self, floor: int) -> None:
        """Drop the traces with no matching span left in the window; past the memory bound, raise the
        floor over the oldest instead."""
        for trace_id in [trace_id for trace_id, last in self.seen.items() if last < floor]:
            del self.seen[trace_id]
        if len(self.seen) > self.max_seen:
            oldest = sorted(self.seen.items(), key=lambda item: item[1])[: len(self.seen) - self.max_seen]
            for trace_id, _ in oldest:
                del self.seen[trace_id]
            self.hard_floor = max(self.hard_floor, oldest[-1][1] + 1)


def live_routes(hub: LiveHub) -> list[BaseRoute]:
    """The live traces route (register it before `/v1/traces/{trace_id}`, which would take its path)."""
    config = hub.config

    async def live_traces(request: Request) -> Response:
        """New traces matching the search's filters, as Server-Sent Events (resume with Last-Event-ID).

        Filters as the search's (service, operation, kind, status, attr=key:value, min_duration,
        max_duration), no range or limit. Each trace that starts matching is sent once, as `event: trace`
        with its summary; `event: dropped` counts the traces over the rate limit; 429 when too many
        streams are open.
        """
        query = Query(request, config)
        search = filtered_query(query, 0, 0, 1)
        last = request.headers.get("last-event-id") or query.text("last_event_id")
        resume_ns = parse_event_id(last) if last else None
        try:
            stream = hub.open(search, resume_ns)
        except TooManyStreamsError as err:
            return JSONResponse({"error": str(err)}, status_code=429, headers={"Retry-After": "5"})
        return EventStream(stream.events(), on_close=stream.close)

    return [Route("/v1/traces/live", live_traces, methods=["GET"])]


__all__ = ["LiveHub", "LiveTraces", "live_routes", "parse_event_id"]
