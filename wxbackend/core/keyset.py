"""Keyset paging for the console's lists (DESIGN §15): `WHERE (sort_key, id) > (:last_key, :last_id) ORDER BY
sort_key, id LIMIT n + 1`, never OFFSET, so a page costs the same on the millionth row as on the first.

The cursor a "下一页" link carries is the last row's sort key and id as text (`<microseconds>.<id>` for a time,
`<id>` alone when the id is the sort key); a cursor that does not parse is the first page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from wxbackend.core.db import db

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None  # None: this is the last page


def encode(at: datetime | None, row_id: int) -> str:
    if at is None:
        return str(row_id)
    return f"{int(at.timestamp() * 1_000_000)}.{row_id}"


def decode(cursor: str | None) -> tuple[datetime | None, int] | None:
    """(sort time or None, id) of a cursor, or None when it is missing or malformed."""
    if not cursor or len(cursor) > 40:
        return None
    head, _, tail = cursor.partition(".")
    try:
        if not tail:
            at, row_id = None, int(head)
        else:
            at, row_id = datetime.fromtimestamp(int(head) / 1_000_000, UTC), int(tail)
    except (ValueError, OverflowError, OSError):
        return None
    return (at, row_id) if 0 <= row_id < 2**31 else None  # an `integer` id column: no row past it


def page(query: sa.Select, key: sa.ColumnElement | None, row_id: sa.ColumnElement, cursor: str | None,
         key_of: Callable[[Any], tuple[datetime | None, int]], *, descending: bool = False,
         size: int = PAGE_SIZE, scalars: bool = True) -> Page:
    """One page of `query` ordered by (`key`, `row_id`) (by `row_id` alone when `key` is None), starting after
    `cursor`; `key_of(row)` gives a row's (key, id) for the next cursor."""
    columns: Sequence[sa.ColumnElement] = (key, row_id) if key is not None else (row_id,)
    after = decode(cursor)
    if after is not None and (after[0] is None) == (key is None):
        last = (sa.literal(after[0], key.type), after[1]) if key is not None else (after[1],)
        left = sa.tuple_(*columns) if key is not None else row_id
        right = sa.tuple_(*last) if key is not None else last[0]
        query = query.where(left < right if descending else left > right)
    order = [column.desc() if descending else column.asc() for column in columns]
    result = db.session.execute(query.order_by(*order).limit(size + 1))
    rows = list(result.scalars() if scalars else result)
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode(*key_of(rows[-1])) if more else None)
