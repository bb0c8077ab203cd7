"""Many rows in one statement, for bulk operations (CSV imports, batch events).

A batch travels as one array parameter per column and is turned back into rows
by PostgreSQL's `unnest`: the statement text is the same whatever the batch
size, so SQLAlchemy compiles it once, and psycopg sends a handful of
parameters instead of one per value (a multi-row VALUES of 1,000 rows costs
more to compile than to run)."""
from sqlalchemy import text
from sqlalchemy.orm import Session


def unnest(columns: dict[str, str]) -> str:
    """`unnest(CAST(:a AS uuid[]), CAST(:b AS text[])) AS v(a, b)` for
    columns {name: PostgreSQL type}; bind them with `arrays`."""
    casts = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())
    return f"unnest({casts}) AS v({', '.join(columns)})"


def arrays(rows: list[dict], columns) -> dict[str, list]:
    """The array parameters of `unnest(columns)` for these rows."""
    return {name: [row[name] for row in rows] for name in columns}


def insert_rows(session: Session, table: str, columns: dict[str, str], rows: list[dict], conflict: str = "",
                returning: str = "", constants: dict | None = None):
    """INSERT rows into `table` in one statement. `conflict` is the ON CONFLICT
    clause (if any), `constants` values shared by every row ({column: (type,
    value)}); returns the result (rows of `returning`, if given)."""
    constants = constants or {}
    names = list(constants) + list(columns)
    shared = [f"CAST(:{name} AS {kind})" for name, (kind, _) in constants.items()]
    select = ", ".join(shared + [f"v.{name}" for name in columns])
    sql = f"INSERT INTO {table} ({', '.join(names)}) SELECT {select} FROM {unnest(columns)} {conflict}"
    if returning:
        sql += f" RETURNING {returning}"
    params = arrays(rows, columns)
    params.update({name: value for name, (_, value) in constants.items()})
    return session.execute(text(sql), params)
