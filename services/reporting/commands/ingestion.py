"""The two ways statements come in: native batches (each statement on its
own; rejected ones reported by index) and xAPI batches (all or nothing, as
the xAPI specification requires). Both end in `activity.ingest`."""
import re
from datetime import timedelta

from sqlalchemy import text

from contracts.errors import AppError, ErrorCode
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.reporting import statements, xapi
from services.reporting.commands.activity import Outcome, ingest
from services.reporting.commands.catalog import save_courses

CATALOG_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _too_many(count: int) -> None:
    if count > statements.MAX_STATEMENTS:
        raise AppError(ErrorCode.INVALID_INPUT, f"at most {statements.MAX_STATEMENTS} statements per request",
                       {"statements": [f"{count} given"]})


def _parse_all(raws: list, parse, max_future: timedelta) -> tuple[Outcome, list]:
    """Each statement parsed on its own: the outcome (rejections by index) and the (index, row) pairs."""
    _too_many(len(raws))
    now = utcnow()
    outcome = Outcome()
    parsed = []
    for index, raw in enumerate(raws):
        try:
            parsed.append((index, parse(raw, now, max_future)))
        except statements.Rejected as exc:
            outcome.reject(index, exc.code, exc.message)
    return outcome, parsed


def ingest_native(uow: UnitOfWork, org_id: str, raw_statements: list, fetch_courses,
                  max_future: timedelta = timedelta(minutes=5)) -> dict:
    if not isinstance(raw_statements, list) or not raw_statements:
        raise AppError(ErrorCode.INVALID_INPUT, "statements: a non-empty list", {"statements": ["required"]})
    outcome, parsed = _parse_all(raw_statements, statements.parse, max_future)
    if parsed:
        ingest(uow, org_id, parsed, outcome, fetch_courses)
    return outcome.view()


def resolve_course_refs(uow: UnitOfWork, refs: set[str], find_courses) -> dict[str, str]:
    """{reference: course id} for references that are a catalog course id or
    slug, or an Open edX course key whose course code is one (xapi.openedx_candidates)."""
    candidates = {ref: xapi.openedx_candidates(ref) or [ref] for ref in refs}
    wanted = sorted({c for names in candidates.values() for c in names})
    rows = uow.session.execute(text(
        "SELECT course_id, slug FROM courses WHERE course_id = ANY(CAST(:refs AS text[])) "
        "OR slug = ANY(CAST(:refs AS text[]))"), {"refs": wanted}).all()
    known = {}
    for course_id, slug in rows:
        known[course_id] = course_id
        known.setdefault(slug, course_id)
    missing = sorted(c for c in wanted if c not in known and CATALOG_ID.match(c))
    if missing and find_courses is not None:  # programs' catalog, by id or slug
        found = find_courses(missing)
        save_courses(uow, found)
        for course in found:
            known[course["id"]] = course["id"]
            known.setdefault(course["slug"], course["id"])
    return {ref: next(known[c] for c in names if c in known)
            for ref, names in candidates.items() if any(c in known for c in names)}


def ingest_xapi(uow: UnitOfWork, org_id: str, body, fetch_courses,
                max_future: timedelta = timedelta(minutes=5), find_courses=None) -> list[str]:
    """A statement or a list of them; every one valid and stored, or none
    (AppError INVALID_INPUT naming each bad statement by index; CONFLICT when an
    id is already stored with other content). Answers the statement ids in order."""
    raws = body if isinstance(body, list) else [body]
    if not raws:
        raise AppError(ErrorCode.INVALID_INPUT, "no statements", {"statements": ["required"]})
    outcome, parsed = _parse_all(raws, xapi.parse, max_future)
    if outcome.rejected:
        raise AppError(ErrorCode.INVALID_INPUT, "invalid statements: none stored",
                       {"statements": outcome.view()["rejected"]})
    courses = resolve_course_refs(uow, {row.course_id for _, row in parsed}, find_courses)
    for _, row in parsed:
        row.course_id = courses.get(row.course_id, row.course_id)
    ingest(uow, org_id, parsed, outcome, fetch_courses, all_or_nothing=True)
    return [row.statement_id for _, row in parsed]
