"""reporting's reads: the admin home (summary, funnel), a learner's figures,
and the activity audiences messaging asks for. Every read filters by the
organization, and by the caller's programs where the caller is a program
admin (`program_ids`: None for all of the organization's programs)."""
from datetime import datetime

from sqlalchemy import text

from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.reporting import home
from services.reporting.commands.activity import US_PER_HOUR

NIL_UUID = "00000000-0000-0000-0000-000000000000"


def _hours(us) -> float:
    return round(float(us or 0) / US_PER_HOUR, 2)


def _scope(program_ids: list[str] | None, column: str = "program_id") -> str:
    return "" if program_ids is None else f" AND {column} = ANY(CAST(:programs AS uuid[]))"


# The (user, course) pairs enrolled through the caller's programs: course
# enrollments and the courses of specialization enrollments.
ENROLLED_COURSES = """
    SELECT e.user_id, e.course_id FROM enrollments e
     WHERE e.org_id = :org AND e.course_id IS NOT NULL{scope}
    UNION
    SELECT e.user_id, c.course_id FROM enrollments e JOIN specializations s
        ON s.specialization_id = e.specialization_id, unnest(s.course_ids) AS c(course_id)
     WHERE e.org_id = :org AND e.specialization_id IS NOT NULL{scope}"""


def summary(uow: UnitOfWork, org_id: str, program_ids: list[str] | None) -> dict:
    """Enrollments, estimated learning hours and lessons taken since the
    subscription start (all time when the organization has none). An org
    admin's hours and lessons are all of the organization's learners'; a
    program admin's those in courses enrolled through their programs.
    Read from the home's counters (home.py: a few rows per day); a program
    admin of programs that share a learner's course gets the hours and lessons
    summed from the learners' figures (each learner and course once)."""
    params = {"org": org_id, "programs": program_ids or []}
    start = uow.read(text("SELECT subscription_start FROM orgs WHERE org_id = :org"), params).scalar()
    params["start"] = start.isoformat() if start else "1970-01-01"
    counts = home.summary_counts(uow, org_id, params["start"], program_ids)
    found = home.organization_activity(uow, org_id, params["start"]) if program_ids is None else \
        home.program_activity(uow, org_id, params["start"], program_ids)
    if found is not None:
        hours, lessons = found
    else:  # programs that share a learner's course: each (learner, course) once
        enrolled = ENROLLED_COURSES.format(scope=_scope(program_ids, "e.program_id"))
        hours = uow.read(text(
            f"WITH ec AS ({enrolled}) SELECT sum(cd.hours_us) FROM course_days cd JOIN ec "
            "ON ec.user_id = cd.user_id AND ec.course_id = cd.course_id WHERE cd.org_id = :org "
            "AND cd.day >= :start"), params).scalar()
        lessons = uow.read(text(
            f"WITH ec AS ({enrolled}) SELECT count(*) FROM learner_lessons ll JOIN ec "
            "ON ec.user_id = ll.user_id AND ec.course_id = ll.course_id WHERE ll.org_id = :org "
            "AND ll.first_completed_at >= CAST(:start AS date)"), params).scalar()
    return {"org_id": org_id, "since": start, "enrollments": counts.courses + counts.specializations,
            "course_enrollments": counts.courses, "specialization_enrollments": counts.specializations,
            "learning_hours": _hours(hours), "learning_hours_estimated": True, "lessons_taken": lessons or 0,
            "as_of": utcnow()}


def funnel(uow: UnitOfWork, org_id: str, program_ids: list[str] | None) -> dict:
    """invited (every invitation created, emailed or not) → joined (people who
    joined, removed since or not) → enrolled (of those, people with an
    enrollment), per program and overall (programs not removed); plus the
    quick actions' counts: pending invitations, current members not enrolled.
    Read from the counters the handlers keep (home.py)."""
    programs = [{"program_id": r.program_id, "name": r.name, "slug": r.slug, "invited": r.invited,
                 "joined": r.joined, "enrolled": r.enrolled, "pending_invitations": r.pending,
                 "joined_not_enrolled": r.joined_not_enrolled} for r in home.funnel_rows(uow, org_id, program_ids)]
    overall = {key: sum(p[key] for p in programs) for key in ("invited", "joined", "enrolled",
                                                               "pending_invitations", "joined_not_enrolled")}
    return {"org_id": org_id, **overall, "programs": programs, "as_of": utcnow()}


def learner(uow: UnitOfWork, org_id: str, user_id: str) -> dict:
    """One learner's figures: estimated hours, sessions, and per course."""
    params = {"org": org_id, "user": user_id}
    row = uow.read(text("SELECT hours_us, sessions, statements, first_activity_at, last_activity_at FROM learners "
                        "WHERE org_id = :org AND user_id = :user"), params).first()
    courses = uow.read(text(
        "SELECT lc.course_id, lc.hours_us, lc.statements, lc.last_activity_at, lc.items_completed, "
        "lc.lessons_taken, lc.graded_items, lc.grade_pct, lc.completed_at, c.item_count FROM learner_courses lc "
        "LEFT JOIN courses c ON c.course_id = lc.course_id WHERE lc.org_id = :org AND lc.user_id = :user "
        "ORDER BY lc.course_id"), params).all()
    return {
        "user_id": user_id,
        "learning_hours": _hours(row.hours_us if row else 0),
        "learning_hours_us": row.hours_us if row else 0,
        "sessions": row.sessions if row else 0,
        "statements": row.statements if row else 0,
        "last_activity_at": row.last_activity_at if row else None,
        "courses": [{
            "course_id": c.course_id, "learning_hours": _hours(c.hours_us), "learning_hours_us": c.hours_us,
            "statements": c.statements, "last_activity_at": c.last_activity_at,
            "items_completed": c.items_completed, "lessons_taken": c.lessons_taken,
            "overall_progress": progress(c.items_completed, c.item_count),
            "completed": c.completed_at is not None, "completed_at": c.completed_at,
            "course_grade": None if c.grade_pct is None else round(c.grade_pct, 2)} for c in courses],
    }


def progress(items_completed: int, item_count: int | None) -> float | None:
    """Overall progress: distinct completed items over the course's items, in
    percent with 2 decimals (at most 100); unknown without an item count."""
    if not item_count:
        return None
    return round(min(100.0, 100.0 * items_completed / item_count), 2)


AUDIENCE_PAGE = 10_000  # user ids per page of an activity audience (about 370 KB of JSON)


def _page(rows: list[str], limit: int | None):
    """A whole list (callers that ask for no page), or {user_ids, next_after} (None: the last page)."""
    if limit is None:
        return rows
    return {"user_ids": rows, "next_after": rows[-1] if len(rows) == limit else None}


def active_learners(uow: UnitOfWork, org_id: str, since: datetime, after: str | None = None,
                    limit: int | None = None):
    """People of the organization with activity at or after `since`
    (messaging's INACTIVE_FOR_DAYS), in user id order, a page of `limit` after `after`."""
    rows = list(uow.read(text(
        "SELECT user_id::text FROM learners WHERE org_id = :org AND last_activity_at >= :since "
        "AND user_id > CAST(:after AS uuid) ORDER BY user_id LIMIT :limit"),
        {"org": org_id, "since": since, "after": after or NIL_UUID, "limit": limit}).scalars())
    return _page(rows, limit)


def course_completers(uow: UnitOfWork, org_id: str, course_ids: list[str], after: str | None = None,
                      limit: int | None = None):
    """People of the organization who completed one of the courses (messaging's
    COMPLETED_COURSE), in user id order, a page of `limit` after `after`."""
    rows = list(uow.read(text(
        "SELECT DISTINCT user_id::text FROM learner_courses WHERE org_id = :org "
        "AND course_id = ANY(CAST(:courses AS text[])) AND completed_at IS NOT NULL "
        "AND user_id > CAST(:after AS uuid) ORDER BY 1 LIMIT :limit"),
        {"org": org_id, "courses": list(course_ids), "after": after or NIL_UUID, "limit": limit}).scalars())
    return _page(rows, limit)


def course_enrollment_figures(uow: UnitOfWork, org_id: str, program_ids: list[str] | None) -> list[dict]:
    """Each course enrollment of the organization (the caller's programs) with its
    figures: what a usage row shows (docs/reporting.md "Derived figures")."""
    rows = uow.read(text(f"""
        SELECT e.enrollment_id::text, e.program_id::text, e.user_id::text, e.course_id, e.enrolled_at,
               lc.last_activity_at, coalesce(lc.hours_us, 0) AS hours_us, coalesce(lc.items_completed, 0) AS items,
               coalesce(lc.lessons_taken, 0) AS lessons, lc.grade_pct, lc.completed_at, c.item_count
        FROM enrollments e
        LEFT JOIN learner_courses lc ON lc.org_id = e.org_id AND lc.user_id = e.user_id AND lc.course_id = e.course_id
        LEFT JOIN courses c ON c.course_id = e.course_id
        WHERE e.org_id = :org AND e.kind = 'COURSE'{_scope(program_ids, "e.program_id")}
        ORDER BY e.enrolled_at, e.enrollment_id"""), {"org": org_id, "programs": program_ids or []}).all()
    return [{"enrollment_id": r.enrollment_id, "program_id": r.program_id, "user_id": r.user_id,
             "course_id": r.course_id, "enrolled_at": r.enrolled_at, "last_activity_at": r.last_activity_at,
             "learning_hours": _hours(r.hours_us), "overall_progress": progress(r.items, r.item_count),
             "lessons_taken": r.lessons, "completed": r.completed_at is not None, "completed_at": r.completed_at,
             "course_grade": None if r.grade_pct is None else round(r.grade_pct, 2)} for r in rows]


def specialization_enrollment_figures(uow: UnitOfWork, org_id: str, program_ids: list[str] | None) -> list[dict]:
    """Each specialization enrollment with its last activity (the latest of its
    courses') and completion (every course completed; time: the last of them)."""
    rows = uow.read(text(f"""
        SELECT e.enrollment_id::text, e.program_id::text, e.user_id::text, e.specialization_id, e.enrolled_at,
               f.last_activity_at, CASE WHEN f.completed = cardinality(s.course_ids) THEN f.last_completed END
                   AS completed_at
        FROM enrollments e
        JOIN specializations s ON s.specialization_id = e.specialization_id
        LEFT JOIN LATERAL (
            SELECT max(lc.last_activity_at) AS last_activity_at, count(lc.completed_at) AS completed,
                   max(lc.completed_at) AS last_completed
            FROM learner_courses lc WHERE lc.org_id = e.org_id AND lc.user_id = e.user_id
             AND lc.course_id = ANY(s.course_ids)) f ON true
        WHERE e.org_id = :org AND e.kind = 'SPECIALIZATION'{_scope(program_ids, "e.program_id")}
        ORDER BY e.enrolled_at, e.enrollment_id"""), {"org": org_id, "programs": program_ids or []}).all()
    return [{"enrollment_id": r.enrollment_id, "program_id": r.program_id, "user_id": r.user_id,
             "specialization_id": r.specialization_id, "enrolled_at": r.enrolled_at,
             "last_activity_at": r.last_activity_at, "completed": r.completed_at is not None,
             "completed_at": r.completed_at} for r in rows]
