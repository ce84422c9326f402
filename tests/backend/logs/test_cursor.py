"""The search cursor: it round-trips, and anything altered or foreign is refused."""

from __future__ import annotations

import pytest

from backend.logs.cursor import MAX_SKIP, Cursor
from backend.logs.search import next_cursor
from backend.service import BadRequestError

QUERY = b"\x01" * 8
OTHER = b"\x02" * 8


def test_a_cursor_round_trips_for_its_own_query() -> None:
    for cursor in (Cursor(1_795_000_000_123_456_789, 2**64 - 1, 3), Cursor(-5, 0, 0, done=True)):
        text = cursor.encode(QUERY)
        assert text.isascii() and "=" not in text
        assert Cursor.decode(text, QUERY) == cursor


@pytest.mark.parametrize("position", [0, 5, 10, 20, -1])
def test_a_changed_character_is_refused(position: int) -> None:
    text = Cursor(10, 20, 0).encode(QUERY)
    chars = list(text)
    chars[position] = "B" if chars[position] == "A" else "A"
    changed = "".join(chars)
    with pytest.raises(BadRequestError, match=r"^cursor: "):
        Cursor.decode(changed, QUERY)


def test_truncated_foreign_and_oversized_cursors_are_refused() -> None:
    text = Cursor(10, 20, 0).encode(QUERY)
    for bad in (text[:-1], text + "AA", "", "not a cursor", "%%%"):
        with pytest.raises(BadRequestError, match=r"^cursor: is not a cursor this service returned"):
            Cursor.decode(bad, QUERY)
    with pytest.raises(BadRequestError, match="belongs to a query with other parameters"):
        Cursor.decode(text, OTHER)
    with pytest.raises(BadRequestError, match=r"^cursor: is not a cursor"):
        Cursor.decode(Cursor(10, 20, MAX_SKIP + 1).encode(QUERY), QUERY)


def test_the_next_cursor_counts_the_records_of_the_last_key_across_pages() -> None:
    page = [(9, 1), (7, 5), (7, 5)]
    assert next_cursor(page, None, done=False) == Cursor(7, 5, 2, done=False)
    assert next_cursor([(7, 5), (7, 5)], Cursor(7, 5, 2), done=False) == Cursor(7, 5, 4)
    assert next_cursor([(7, 5), (6, 1)], Cursor(7, 5, 2), done=True) == Cursor(6, 1, 1, done=True)
    assert next_cursor([(7, 4)], Cursor(7, 5, 2), done=False) == Cursor(7, 4, 1)
