"""Log search: the matching records, newest first by (Timestamp, tie), a page at a time with a cursor.

A page is usually one query sorted by Timestamp alone, so that ClickHouse keeps only the newest rows
while it reads (its top-K filter skips granules older than the current top, by the minmax index
`idx_timestamp` of migration 0004) and computes `tie` and reads the other columns for the returned
rows only. Records sharing a timestamp are ordered by
`tie` in Python; only when such a group straddles the end of a page is it read again, alone and
sorted by `tie` (the "group" query), and the cursor then says the next page starts inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.logs.cursor import Cursor
from backend.logs.filters import Bindings, LogFilter
from backend.logs.records import COLUMNS, record
from backend.service import NANOS, Store

Row = tuple[Any, ...]
"""A row of COLUMNS: (time_ns, tie, ...)."""


@dataclass
class Page:
    """One page of records and the cursor of the next one (None after the last page)."""

    records: list[dict[str, Any]]
    next: Cursor | None


def newest_sql(
    store: Store, where: LogFilter, limit: int, before_ns: int | None = None
) -> tuple[str, dict[str, object]]:
    """The newest `limit` matching rows (older than `before_ns` if given), by Timestamp only."""
    bind = Bindings()
    conditions = where.where(bind)
    if before_ns is not None:
        conditions += (
            f" AND Timestamp < fromUnixTimestamp64Nano({bind(before_ns, 'Int64')})"
            f" AND TimestampTime <= toDateTime({bind(before_ns // NANOS, 'Int64')})"
        )
    sql = (
        f"SELECT {COLUMNS} FROM {store.table('otel_logs')} WHERE {conditions} "
        f"ORDER BY Timestamp DESC LIMIT {bind(limit, 'UInt32')}"
    )
    return sql, bind.values


def group_sql(
    store: Store, where: LogFilter, at_ns: int, limit: int, max_tie: int | None = None, skip: int = 0
) -> tuple[str, dict[str, object]]:
    """Matching rows stamped exactly `at_ns` (with tie <= `max_tie`), by tie, newest first: `limit`
    of them after the first `skip`."""
    bind = Bindings()
    conditions = (
        f"{where.where(bind)} AND Timestamp = fromUnixTimestamp64Nano({bind(at_ns, 'Int64')})"
        f" AND TimestampTime = toDateTime({bind(at_ns // NANOS, 'Int64')})"
    )
    if max_tie is not None:
        conditions += f" AND tie <= {bind(max_tie, 'UInt64')}"
    sql = (
        f"SELECT {COLUMNS} FROM {store.table('otel_logs')} WHERE {conditions} "
        f"ORDER BY tie DESC LIMIT {bind(limit, 'UInt32')} OFFSET {bind(skip, 'UInt32')}"
    )
    return sql, bind.values


async def search(store: Store, where: LogFilter, limit: int, cursor: Cursor | None = None) -> Page:
    """Up to `limit` matching records, newest first, from `cursor` on (from the newest without one)."""
    rows: list[Row] = []
    if cursor is not None and not cursor.done:  # the rest of the cursor's timestamp group first
        rows = await store.rows(*group_sql(store, where, cursor.time_ns, limit + 1, cursor.tie, cursor.skip))
    if len(rows) <= limit:
        wanted = limit + 1 - len(rows)
        older = await store.rows(
            *newest_sql(store, where, wanted, None if cursor is None else cursor.time_ns)
        )
        older.sort(key=_key, reverse=True)
        rows += older
        if len(older) == wanted and len(rows) > limit and rows[limit][0] == rows[limit - 1][0]:
            # the page ends inside a group of equal timestamps that the query may have cut: read it whole
            start = next(i for i, row in enumerate(rows) if row[0] == rows[limit][0])
            rows[start:] = await store.rows(*group_sql(store, where, int(rows[limit][0]), limit + 1 - start))
    page = rows[:limit]
    if len(rows) <= limit:
        return Page([record(row) for row in page], None)
    return Page([record(row) for row in page], next_cursor(page, cursor, done=rows[limit][0] != page[-1][0]))


def _key(row: Row) -> tuple[int, int]:
    return int(row[0]), int(row[1])


def next_cursor(page: list[Row], cursor: Cursor | None, done: bool) -> Cursor:
    """The cursor after `page` (rows newest first) read from `cursor`; `done`: no more rows share the
    last row's timestamp."""
    last = _key(page[-1])
    same = 0
    for row in reversed(page):
        if _key(row) != last:
            break
        same += 1
    if cursor is not None and last == (cursor.time_ns, cursor.tie) and same == len(page):
        same += cursor.skip  # the whole page continued a run of equal keys begun on earlier pages
    return Cursor(last[0], last[1], same, done)


__all__ = ["Page", "group_sql", "newest_sql", "next_cursor", "search"]
