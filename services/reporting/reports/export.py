"""Streaming a report: one consistent snapshot, a server-side cursor,
constant memory.

`stream(engine, request)` yields the CSV as bytes: the UTF-8 byte order mark
and the header row first, then blocks of FETCH_ROWS lines. It runs in a
REPEATABLE READ READ ONLY transaction on a connection of the export pool
(not the RPC workers' pool), so every query of one report (the gradebook
asks twice) sees the same snapshot, and nothing is written. The rows come
through a named (server-side) cursor, FETCH_ROWS at a time: the process
holds one block, whatever the report's size. PostgreSQL makes each row's
finished line (definitions.py), so Python only joins and encodes.

The transaction lasts exactly as long as the export: it ends when the last
block is sent, or when the client goes away (the generator is closed: the
connection is rolled back and returned to the pool)."""
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from servicekit import config
from services.reporting.reports import cells, definitions

log = logging.getLogger(__name__)
FETCH_ROWS = 5000
WORK_MEM = "64MB"  # per hash/sort node of an export query, for its transaction only


@dataclass(frozen=True)
class ExportRequest:
    """What one export holds: the report, the organization, the programs the
    asker may see (None: all of the org), and for gradebooks the program and course."""
    report: str
    org_id: str
    programs: list[str] | None = None
    program_id: str | None = None
    course_id: str | None = None

    def claims(self) -> dict:
        return {"report": self.report, "org": self.org_id, "programs": self.programs,
                "program": self.program_id, "course": self.course_id}

    @classmethod
    def from_claims(cls, claims: dict) -> "ExportRequest":
        return cls(report=claims["report"], org_id=claims["org"], programs=claims.get("programs"),
                   program_id=claims.get("program"), course_id=claims.get("course"))

    @property
    def filename(self) -> str:
        return definitions.FILENAMES[self.report]


def make_export_engine(service: str, size: int) -> Engine:
    """A pool of its own: `size` exports at once, beyond that they wait; the
    RPC workers' pool is never taken by a long export."""
    return create_engine(config.database_url(service), pool_size=size, max_overflow=0, pool_pre_ping=True,
                         pool_recycle=1800, hide_parameters=True)


def header_bytes(headers: list[str]) -> bytes:
    return (cells.BOM + cells.line(headers)).encode("utf-8")


def _lines(cursor, sql: str, params: dict) -> Iterator[bytes]:
    cursor.execute(sql, params)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return
        yield ("\r\n".join([row[0] if row[1] is None else cells.finish(row) for row in rows]) + "\r\n").encode()


def _params(request: ExportRequest) -> dict:
    return {"org_id": request.org_id, "programs": request.programs, "program_id": request.program_id,
            "course_id": request.course_id}


def stream(engine: Engine, request: ExportRequest) -> Iterator[bytes]:
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        dbapi.rollback()
        with dbapi.cursor() as plain:
            plain.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # JIT compiling the wide row expressions costs seconds per export and gains nothing here;
            # a larger work_mem keeps the hash joins of a big report in memory.
            plain.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL cursor_tuple_fraction = 1")
            params = _params(request)
            if request.report == definitions.GRADEBOOK:
                plain.execute(_psycopg(definitions.GRADEBOOK_ITEMS_SQL), params)
                items = [row[0] for row in plain.fetchall()]
                headers = [*definitions.GRADEBOOK_LEADING, *items, *definitions.GRADEBOOK_TRAILING]
                sql = definitions.gradebook_sql(len(items))
                params.update({f"item_{i}": item for i, item in enumerate(items)})
            else:
                report = definitions.REPORTS[request.report]
                headers, sql = report.headers, report.sql
        yield header_bytes(headers)
        with dbapi.cursor(name=f"report_{uuid.uuid4().hex}") as cursor:
            cursor.itersize = FETCH_ROWS
            yield from _lines(cursor, _psycopg(sql), params)
        dbapi.rollback()  # read only: nothing to keep
    finally:
        raw.close()  # back to the pool (rolled back if anything is left open)


def _psycopg(sql: str) -> str:
    """The definitions use `:name` parameters (SQLAlchemy style); psycopg2 takes `%(name)s`."""
    import re

    sql = sql.replace("%", "%%")
    return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", sql)
