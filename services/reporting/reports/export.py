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
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import eventlet
import eventlet.queue
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


def _lines(cursor, sql: str, params: dict, finished: bool = False) -> Iterator[bytes]:
    """Blocks of CSV lines. `finished`: the query answers one column, the finished line (the Usage
    report); else (line, cells) rows, the line SEP-joined and the cells given when risky (`cells.finish`)."""
    cursor.execute(sql, params)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return
        if finished:
            yield ("\r\n".join([row[0] for row in rows]) + "\r\n").encode()
            continue
        sep, finish = cells.SEP, cells.finish
        yield ("\r\n".join([row[0].replace(sep, ",") if row[1] is None else finish(row) for row in rows])
               + "\r\n").encode()


def share_bounds(parts: int, part: int) -> tuple[str, str]:
    """The first and last UUID of share `part` of `parts` (even ranges of the UUID space)."""
    space = 1 << 128
    return str(uuid.UUID(int=space * part // parts)), str(uuid.UUID(int=space * (part + 1) // parts - 1))


def _params(request: ExportRequest, parts: int = 1, part: int = 0) -> dict:
    share_from, share_to = share_bounds(parts, part)
    return {"org_id": request.org_id, "programs": request.programs, "program_id": request.program_id,
            "course_id": request.course_id, "share_from": share_from, "share_to": share_to}


def _begin(dbapi, snapshot: str | None = None) -> None:
    """Start the export's transaction on this connection: REPEATABLE READ READ
    ONLY, on `snapshot` (another connection's, exported) if given."""
    dbapi.rollback()
    with dbapi.cursor() as plain:
        plain.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot:
            plain.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
        # JIT compiling the wide row expressions costs seconds per export and gains nothing here; a
        # larger work_mem keeps the hash joins of a big report in memory; a cursor is planned for
        # all of its rows, not the first tenth (PostgreSQL's default for cursors).
        plain.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{WORK_MEM}'; "
                      "SET LOCAL cursor_tuple_fraction = 1")


def stream(engine: Engine, request: ExportRequest, parts: int = 1) -> Iterator[bytes]:
    """The CSV's bytes. With `parts` > 1 (org reports), that many connections
    read disjoint shares of the rows (by the people's ids) at once, all on
    the first connection's snapshot (pg_export_snapshot): PostgreSQL does not
    run a cursor's query in parallel itself, and making the rows' text is
    most of an export's cost."""
    parts = parts if request.report in definitions.PARTITIONED else 1
    raws = [engine.raw_connection() for _ in range(parts)]
    clean = False
    try:
        first = raws[0].driver_connection
        _begin(first)
        snapshot = None
        with first.cursor() as plain:
            if parts > 1:
                plain.execute("SELECT pg_export_snapshot()")
                snapshot = plain.fetchone()[0]
            params = _params(request)
            finished = False
            if request.report == definitions.GRADEBOOK:
                plain.execute(_psycopg(definitions.GRADEBOOK_ITEMS_SQL), params)
                found = plain.fetchall()
                items = [row[0] for row in found]
                headers = [*definitions.GRADEBOOK_LEADING, *definitions.gradebook_headers(found),
                           *definitions.GRADEBOOK_TRAILING]
                sql = definitions.gradebook_sql(len(items))
                params.update({f"item_{i}": item for i, item in enumerate(items)})
            else:
                report = definitions.REPORTS[request.report]
                headers, sql, finished = report.headers, report.sql, report.finished
        for raw in raws[1:]:
            _begin(raw.driver_connection, snapshot)
        yield header_bytes(headers)
        sql = _psycopg(sql)
        if parts == 1:
            with first.cursor(name=f"report_{uuid.uuid4().hex}") as cursor:
                yield from _lines(cursor, sql, params, finished)
        else:
            yield from _merged([(raw.driver_connection, sql, {**params, **_params(request, parts, i)}, finished)
                                for i, raw in enumerate(raws)])
        clean = True
    finally:
        for raw in raws:
            if clean:
                raw.driver_connection.rollback()  # read only: nothing to keep
            else:
                raw.invalidate()  # left mid-fetch (client gone, error): not fit for reuse
            raw.close()


_DONE = object()


def _merged(shares: list[tuple]) -> Iterator[bytes]:
    """The blocks of several cursors, as they come (a bounded queue: each
    reader waits while the client is slower than the database)."""
    blocks: eventlet.queue.Queue = eventlet.queue.Queue(maxsize=2 * len(shares))

    def read(dbapi, sql, params, finished):
        try:
            with dbapi.cursor(name=f"report_{uuid.uuid4().hex}") as cursor:
                for block in _lines(cursor, sql, params, finished):
                    blocks.put(block)
            blocks.put(_DONE)
        except Exception as exc:  # the export fails as a whole
            blocks.put(exc)

    readers = [eventlet.spawn(read, *share) for share in shares]
    running = len(readers)
    try:
        while running:
            block = blocks.get()
            if block is _DONE:
                running -= 1
            elif isinstance(block, Exception):
                raise block
            else:
                yield block
    finally:
        for reader in readers:
            reader.kill()


def _psycopg(sql: str) -> str:
    """The definitions use `:name` parameters (SQLAlchemy style); psycopg2 takes `%(name)s`."""
    sql = sql.replace("%", "%%")
    return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", sql)


def org_report_query(request: ExportRequest) -> tuple[str, dict]:
    """(psycopg2 SQL, parameters) of an organization report read as one share:
    the rows `stream` sends (finished lines, or lines and their cells when
    risky), for a baseline such as `COPY (...) TO STDOUT` (bench/bench_reporting.py)."""
    return _psycopg(definitions.REPORTS[request.report].sql), _params(request)
