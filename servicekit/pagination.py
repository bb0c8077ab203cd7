"""Keyset pagination, one cursor format for every list.

The cursor carries the sort key of the last row shown, so page 2,000 costs
what page 1 costs (an index range scan, no OFFSET). It is opaque to clients:
URL-safe base64 of the JSON list `[version, *sort key]`. Decoding checks the
version, the key's length and each value against its column's type, so a
tampered or foreign cursor is a 400 INVALID_INPUT, never a database error."""
import base64
import binascii
import json
import uuid
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Date, DateTime, Integer, Uuid, tuple_

from contracts.errors import invalid

CURSOR_VERSION = 1
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_REFUSED = {"cursor": ["not a valid cursor; use next_cursor from the previous page"]}


class Page(NamedTuple):
    items: list
    next_cursor: str | None


def encode_cursor(key: tuple | list) -> str:
    """The opaque cursor of a sort key (strings, numbers, datetimes, dates, UUIDs)."""
    values = [value.isoformat() if isinstance(value, date | datetime) else value for value in key]
    raw = json.dumps([CURSOR_VERSION, *values], default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: tuple[type, ...] | int) -> tuple | None:
    """The sort key in `cursor`, each value parsed as its kind (`str`, `int`,
    `datetime`, `date`, `uuid.UUID`; an int n means n strings). None when
    there is no cursor (the first page); INVALID_INPUT when it is not one of ours."""
    if not cursor:
        return None
    if isinstance(kinds, int):
        kinds = (str,) * kinds
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or values[:1] != [CURSOR_VERSION] or len(values) != len(kinds) + 1:
            raise ValueError("not a cursor of this list")
        return tuple(_parse(value, kind) for value, kind in zip(values[1:], kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid(_REFUSED) from None


def _parse(value: Any, kind: type):
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an integer")
        return value
    if not isinstance(value, str) or "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("not a string")  # NUL and lone surrogates are not text PostgreSQL can take
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime")
        return parsed
    if kind is date:
        return date.fromisoformat(value)
    if kind is uuid.UUID:
        return str(uuid.UUID(value))
    return value


def contains(q: str) -> str:
    """The LIKE pattern of a search for `q` as typed, lower-cased (compare it with lower-cased text): its %, _
    and \\ match themselves."""
    return "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def check_limit(limit, max_limit: int = MAX_LIMIT) -> int:
    """A page size: an integer from 1 to `max_limit`, else INVALID_INPUT."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= max_limit:
        raise invalid({"limit": [f"must be between 1 and {max_limit}"]})
    return limit


def column_kind(column) -> type:
    """The cursor kind of a sort column, from its SQL type."""
    sql_type = column.type
    for sql_class, kind in ((Uuid, uuid.UUID), (DateTime, datetime), (Date, date), (Integer, int)):
        if isinstance(sql_type, sql_class):
            return kind
    return str


def keyset_page(session, query, sort_columns: list, cursor: str | None, limit: int, key_of=None, *,
                descending: bool = False, scalars: bool = False, max_limit: int = MAX_LIMIT) -> Page:
    """Rows of `query` ordered by `sort_columns` after `cursor` (descending:
    newest first). `key_of(row)` gives a row's sort values; with
    `scalars=True` rows are ORM objects and, by default, their attributes
    named as the columns. Returns (rows, next_cursor)."""
    limit = check_limit(limit, max_limit)
    after = decode_cursor(cursor, tuple(column_kind(column) for column in sort_columns))
    if after is not None:
        position = tuple_(*sort_columns)
        query = query.where(position < tuple_(*after) if descending else position > tuple_(*after))
    order = [column.desc() for column in sort_columns] if descending else sort_columns
    statement = query.order_by(*order).limit(limit + 1)
    rows = list(session.scalars(statement) if scalars else session.execute(statement).all())
    if key_of is None:
        names = [column.key for column in sort_columns]

        def key_of(row):
            return tuple(getattr(row, name) for name in names)

    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(key_of(rows[-1])) if more and rows else None)
