"""Keyset pagination: the cursor carries the sort key of the last row shown,
so page 2,000 costs what page 1 costs (an index range scan, no OFFSET)."""
import base64
import json

from sqlalchemy import tuple_

from contracts.errors import invalid
from services.programs.boundary import is_storable

MAX_LIMIT = 200


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values) \
            or not is_storable(values):
        raise invalid({"cursor": ["not a valid cursor; use next_cursor from the previous page"]})
    return values


def check_limit(limit) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise invalid({"limit": [f"must be between 1 and {MAX_LIMIT}"]})
    return limit


def keyset_page(session, query, sort_columns: list, cursor: str | None, limit: int, key_of) -> tuple[list, str | None]:
    """Rows of `query` ordered by `sort_columns` (all text) after `cursor`;
    `key_of(row)` gives the sort values of a row. Returns (rows, next_cursor)."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, len(sort_columns))
    if after is not None:
        query = query.where(tuple_(*sort_columns) > tuple_(*after))
    rows = session.execute(query.order_by(*sort_columns).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(list(key_of(rows[-1]))) if more and rows else None)
