"""The two ways statements come in: native batches (each statement on its
own; rejected ones reported by index) and xAPI batches (all or nothing, as
the xAPI specification requires). Both end in `activity.ingest`."""
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork
from services.reporting import statements, xapi
from services.reporting.commands.activity import Outcome, ingest
from services.reporting.commands.catalog import ensure_courses

CATALOG_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _too_many(count: int) -> None:
    if count > statements.MAX_STATEMENTS:
        raise AppError(ErrorCode.INVALID_INPUT, f"at most {statements.MAX_STATEMENTS} statements per request",
                       {"statements": [f"{count} given"]})


def ingest_native(uow: UnitOfWork, org_id: str, raw_statements: list, fetch_courses,
                  max_future: timedelta = timedelta(minutes=5)) -> dict:
    if not isinstance(raw_statements, list) or not raw_statements:
        raise AppError(ErrorCode.INVALID_INPUT, "statements: a non-empty list", {"statements": ["required"]})
    _too_many(len(raw_statements))
    now = datetime.now(UTC)
    outcome = Outcome()
    parsed = []
    for index, raw in enumerate(raw_statements):
        try:
            parsed.append((index, statements.parse(raw, now, max_future)))
        except statements.Rejected as exc:
            outcome.reject(index, exc.code, exc.message)
    if parsed:
        ingest(uow, org_id, parsed, outcome, fetch_courses)
    return outcome.view()


def resolve_course_refs(uow: UnitOfWork, refs: set[str], fetch_courses) -> dict[str, str]:
    """{reference: course id} for references that are a catalog course id or slug."""
    refs = sorted(refs)
    rows = uow.session.execute(text(
        "SELECT course_id, slug FROM courses WHERE course_id = ANY(CAST(:refs AS text[])) "
        "OR slug = ANY(CAST(:refs AS text[]))"), {"refs": refs}).all()
    found = {}
    for course_id, slug in rows:
        found[course_id] = course_id
        found[slug] = course_id
    missing = {ref for ref in refs if ref not in found and CATALOG_ID.match(ref)}
    for course_id in ensure_courses(uow, missing, fetch_courses) & missing:
        found[course_id] = course_id
    return found


def ingest_xapi(uow: UnitOfWork, org_id: str, body, fetch_courses,
                max_future: timedelta = timedelta(minutes=5)) -> list[str]:
    """A statement or a list of them; every one valid and stored, or none
    (AppError INVALID_INPUT naming each bad statement by index; CONFLICT when an
    id is already stored with other content). Answers the statement ids in order."""
    raws = body if isinstance(body, list) else [body]
    if not raws:
        raise AppError(ErrorCode.INVALID_INPUT, "no statements", {"statements": ["required"]})
    _too_many(len(raws))
    now = datetime.now(UTC)
    outcome = Outcome()
    parsed = []
    for index, raw in enumerate(raws):
        try:
            parsed.append((index, xapi.parse(raw, now, max_future)))
        except statements.Rejected as exc:
            outcome.reject(index, exc.code, exc.message)
    if outcome.rejected:
        raise AppError(ErrorCode.INVALID_INPUT, "invalid statements: none stored",
                       {"statements": outcome.view()["rejected"]})
    courses = resolve_course_refs(uow, {row.course_id for _, row in parsed}, fetch_courses)
    for _, row in parsed:
        row.course_id = courses.get(row.course_id, row.course_id)
    ingest(uow, org_id, parsed, outcome, fetch_courses, all_or_nothing=True)
    return [row.statement_id for _, row in parsed]
