"""Storing learning statements and keeping the derived figures current, in
one transaction per batch (a crash mid-batch stores nothing; the client
retries and idempotency makes that safe).

Set-based throughout: a batch is a handful of statements whatever its size
(INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING RETURNING).

Order: (1) resolve learners and courses, (2) lock the learners' rows in a
stable order (concurrent batches of one learner, on any replica, apply one
after the other; no deadlocks), (3) insert the statements, (4) recompute the
credited interval of every statement of those learners from the earliest new
one on (a late statement changes its successor's credit: the figures equal a
sorted replay whatever the arrival order), (5) add the deltas to the
per-learner, per-course and per-day figures and recount items, lessons and
grades of the courses touched, (6) publish ATTEMPTS_GRADED and
LEARNING_HOURS_UPDATED through the outbox."""
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

from sqlalchemy import text

from contracts.errors import AppError, ErrorCode
from contracts.reporting import ATTEMPTS_GRADED, LEARNING_HOURS_UPDATED
from servicekit.bulk import json_rows, rows_json, unnest
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.reporting import home, item_names
from services.reporting.commands.catalog import ensure_courses
from services.reporting.models import SESSION_GAP_SECONDS
from services.reporting.statements import ID_CONFLICT, UNKNOWN_COURSE, UNKNOWN_LEARNER, Parsed

US_PER_HOUR = 3_600_000_000
SESSION_GAP_US = SESSION_GAP_SECONDS * 1_000_000


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)  # {index, code, message}
    stored_ids: list = field(default_factory=list)

    def reject(self, index: int, code: str, message: str) -> None:
        self.rejected.append({"index": index, "code": code, "message": message})

    def view(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": sorted(self.rejected, key=lambda r: r["index"])}


def resolve_learners(uow: UnitOfWork, org_id: str, rows: list[Parsed]) -> dict:
    """{email or user_id: user_id} of the current and former members of the
    organization among the statements' actors (anyone who ever joined one of
    its programs)."""
    emails = sorted({r.email for r in rows if r.email})
    ids = sorted({r.user_id for r in rows if r.user_id})
    if not emails and not ids:
        return {}
    found = uow.session.execute(text(
        "SELECT user_id::text, email FROM memberships WHERE org_id = :org AND joined_at IS NOT NULL "
        "AND user_id = ANY(CAST(:ids AS uuid[])) "
        "UNION SELECT user_id::text, email FROM memberships WHERE org_id = :org AND joined_at IS NOT NULL "
        "AND email = ANY(CAST(:emails AS text[])) "
        # the account's email as identity has it (a join event may carry none)
        "UNION SELECT p.user_id::text, p.email FROM people p WHERE p.org_id = :org "
        "AND p.email = ANY(CAST(:emails AS text[])) AND EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.org_id = p.org_id AND m.user_id = p.user_id AND m.joined_at IS NOT NULL)"),
        {"org": org_id, "ids": ids, "emails": emails}).all()
    known = {}
    for user_id, email in found:
        known[user_id] = user_id
        if email:
            known[email] = user_id
    return known


def ingest(uow: UnitOfWork, org_id: str, items: list[tuple[int, Parsed]], outcome: Outcome,
           fetch_courses: Callable[[list[str]], list[dict]] | None, all_or_nothing: bool = False) -> Outcome:
    """Store parsed statements (index, row) of one organization. Unknown
    learners and courses are rejected by index (with `all_or_nothing`, any
    rejection refuses the whole batch: AppError INVALID_INPUT); a statement id
    already stored is a duplicate (with `all_or_nothing`, one stored with other
    content is AppError CONFLICT and nothing is stored)."""
    rows = [row for _, row in items]
    learners = resolve_learners(uow, org_id, rows)
    known_courses = ensure_courses(uow, {row.course_id for row in rows}, fetch_courses)
    seen: dict[str, Parsed] = {}
    keep: list[Parsed] = []
    for index, row in items:
        user_id = learners.get(row.user_id or row.email)
        if user_id is None:
            outcome.reject(index, UNKNOWN_LEARNER, "the actor is not a current or former member of the organization")
            continue
        if row.course_id not in known_courses:
            outcome.reject(index, UNKNOWN_COURSE, f"no course {row.course_id} in the catalog")
            continue
        row.user_id = user_id
        first = seen.get(row.statement_id)
        if first is not None:
            if all_or_nothing and first.digest != row.digest:
                outcome.reject(index, ID_CONFLICT, "the same statement id twice with different content")
            else:
                outcome.duplicates += 1
            continue
        seen[row.statement_id] = row
        keep.append(row)
    if all_or_nothing and outcome.rejected:
        raise AppError(ErrorCode.INVALID_INPUT, "invalid statements: none stored",
                       {"statements": outcome.view()["rejected"]})
    if keep:
        store(uow, org_id, keep, outcome, all_or_nothing)
    return outcome


STATEMENT_COLUMNS = {"statement_id": "uuid", "user_id": "uuid", "verb": "text", "object_type": "text",
                     "item_id": "text", "course_id": "text", "lesson_id": "text", "item_type": "text",
                     "score": "float8", "max_score": "float8", "passed": "boolean", "attempt": "integer",
                     "ts": "timestamptz", "source": "text", "digest": "text", "credit_us": "bigint",
                     "session_start": "boolean"}


def _rows(rows: list[Parsed]) -> str:
    """The rows of STATEMENT_COLUMNS as one JSON parameter (servicekit.bulk.json_rows)."""
    return rows_json([(r.statement_id, r.user_id, r.verb, r.object_type, r.item_id, r.course_id, r.lesson_id,
                       r.item_type, r.score, r.max_score, r.passed, r.attempt, r.ts.isoformat(), r.source,
                       r.digest, r.credit_us, r.session_start) for r in rows])


def lock_learners(uow: UnitOfWork, org_id: str, user_ids: list[str]) -> dict:
    """Each learner's row, created if new, locked until commit (sorted: no
    deadlocks). Answers {user_id: time of their latest statement or None}."""
    session = uow.session
    session.execute(text(
        "INSERT INTO learners (org_id, user_id) SELECT CAST(:org AS uuid), u FROM unnest(CAST(:users AS uuid[])) u "
        "ORDER BY u ON CONFLICT DO NOTHING"), {"org": org_id, "users": user_ids})
    return dict(session.execute(text(
        "SELECT user_id::text, last_activity_at FROM learners WHERE org_id = :org "
        "AND user_id = ANY(CAST(:users AS uuid[])) ORDER BY user_id FOR UPDATE"),
        {"org": org_id, "users": user_ids}).all())


def _micros(delta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def credit_appended(rows: list[Parsed], latest: dict) -> set[str]:
    """The common case: a learner's new statements all come after their latest
    stored one. Their credits are computed here (what the window query would
    give) and stored with them; answers those learners. Others (a statement
    at or before their latest) are left to CREDITS_SQL."""
    by_user: dict[str, list[Parsed]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    appended = set()
    for user_id, mine in by_user.items():
        mine.sort(key=lambda r: (r.ts, r.statement_id))
        previous = latest.get(user_id)
        if previous is not None and mine[0].ts <= previous:
            continue
        appended.add(user_id)
        for row in mine:
            gap = None if previous is None else _micros(row.ts - previous)
            if gap is not None and gap <= SESSION_GAP_US:
                row.credit_us, row.session_start = gap, False
            else:
                row.credit_us, row.session_start = 0, True
            previous = row.ts
    return appended


def store(uow: UnitOfWork, org_id: str, rows: list[Parsed], outcome: Outcome, all_or_nothing: bool) -> None:
    session = uow.session
    latest = lock_learners(uow, org_id, sorted({r.user_id for r in rows}))
    appended = credit_appended(rows, latest)
    for row in rows:
        if row.user_id not in appended:
            row.credit_us = row.session_start = None
    rows.sort(key=lambda r: r.statement_id)  # a stable insert order: concurrent batches never deadlock
    names = ", ".join(STATEMENT_COLUMNS)
    inserted = {row[0] for row in session.execute(text(
        f"INSERT INTO statements (org_id, {names}) SELECT CAST(:org AS uuid), {names} "
        f"FROM {json_rows(STATEMENT_COLUMNS)} ON CONFLICT (org_id, statement_id) DO NOTHING "
        "RETURNING statement_id::text"), {"org": org_id, "rows": _rows(rows)})}
    new = [r for r in rows if r.statement_id in inserted]
    # An appended learner's statement that was a duplicate after all (its id stored under
    # another learner): the credits computed on the way in assumed it; recompute that learner.
    recheck = {r.user_id for r in rows if r.user_id in appended and r.statement_id not in inserted}
    outcome.accepted += len(new)
    outcome.duplicates += len(rows) - len(new)
    if all_or_nothing and len(new) < len(rows):
        _refuse_changed(uow, org_id, [r for r in rows if r.statement_id not in inserted])
    outcome.stored_ids = [r.statement_id for r in rows]
    item_names.record(session, org_id, new)
    if new:
        update_figures(uow, org_id, new, appended, recheck)


def _refuse_changed(uow: UnitOfWork, org_id: str, rows: list[Parsed]) -> None:
    """xAPI: a statement id already stored with other content is a conflict (409), and nothing is stored."""
    stored = dict(uow.session.execute(text(
        "SELECT statement_id::text, digest FROM statements WHERE org_id = :org "
        "AND statement_id = ANY(CAST(:ids AS uuid[]))"), {"org": org_id, "ids": [r.statement_id for r in rows]}).all())
    changed = [r.statement_id for r in rows if stored.get(r.statement_id) != r.digest]
    if changed:
        raise AppError(ErrorCode.CONFLICT, "a statement with this id was stored with other content",
                       {"statement_ids": changed[:50]})


CREDITS_SQL = f"""
WITH a AS (
  SELECT * FROM unnest(CAST(:users AS uuid[]), CAST(:since AS timestamptz[])) AS a(user_id, since)
), w AS (
  SELECT s.statement_id, s.user_id, s.course_id, s.ts, s.credit_us, s.session_start, a.since,
         lag(s.ts) OVER (PARTITION BY s.user_id ORDER BY s.ts, s.statement_id) AS prev_ts
  FROM a JOIN statements s ON s.org_id = :org AND s.user_id = a.user_id
   AND s.ts >= a.since - interval '{SESSION_GAP_SECONDS} seconds'
), c AS (
  SELECT statement_id, user_id, course_id, ts,
         credit_us IS NULL AS fresh,
         coalesce(credit_us, 0) AS old_credit,
         coalesce(session_start, false) AS old_start,
         CASE WHEN prev_ts IS NOT NULL AND ts - prev_ts <= interval '{SESSION_GAP_SECONDS} seconds'
              THEN (extract(epoch FROM ts - prev_ts) * 1000000)::bigint ELSE 0 END AS new_credit,
         (prev_ts IS NULL OR ts - prev_ts > interval '{SESSION_GAP_SECONDS} seconds') AS new_start
  FROM w WHERE ts >= since
), changed AS (
  SELECT * FROM c WHERE fresh OR old_credit <> new_credit OR old_start <> new_start
), upd AS (
  UPDATE statements s SET credit_us = ch.new_credit, session_start = ch.new_start
  FROM changed ch WHERE s.org_id = :org AND s.statement_id = ch.statement_id
  RETURNING 1
)
SELECT user_id::text, course_id, (ts AT TIME ZONE 'UTC')::date AS day,
       sum(new_credit - old_credit)::bigint AS d_credit,
       sum(new_start::int - old_start::int)::int AS d_sessions,
       (SELECT count(*) FROM upd) AS updated
FROM changed GROUP BY 1, 2, 3
"""


def update_figures(uow: UnitOfWork, org_id: str, new: list[Parsed], appended: set[str],
                   recheck: set[str] = frozenset()) -> None:
    """`appended`: learners whose new statements were stored with their credits
    (their deltas are those credits); the others' credits are recomputed by
    CREDITS_SQL from their earliest new statement on, as are `recheck`'s
    (appended, but a duplicate among them: CREDITS_SQL corrects the stored
    credits and answers the difference)."""
    session = uow.session
    since: dict[str, object] = {}
    appended_deltas = defaultdict(lambda: [0, 0])
    for r in new:
        if r.user_id in appended:  # credits computed on the way in
            delta = appended_deltas[(r.user_id, r.course_id, r.ts.astimezone(UTC).date())]
            delta[0] += r.credit_us
            delta[1] += 1 if r.session_start else 0
        if (r.user_id not in appended or r.user_id in recheck) and (r.user_id not in since or r.ts < since[r.user_id]):
            since[r.user_id] = r.ts
    deltas = [(u, c, d, credit, sessions, 0) for (u, c, d), (credit, sessions) in appended_deltas.items()]
    if since:
        users = sorted(since)
        deltas += session.execute(text(CREDITS_SQL), {"org": org_id, "users": users,
                                                      "since": [since[u].isoformat() for u in users]}).all()

    per_learner = defaultdict(lambda: [0, 0, 0, None, None])  # hours, sessions, statements, first, last
    per_course = {}  # (user, course) -> [hours, statements, first, last, completed_at]
    per_day = defaultdict(int)
    for user_id, course_id, day, d_credit, d_sessions, _ in deltas:
        learner = per_learner[user_id]
        learner[0] += d_credit
        learner[1] += d_sessions
        per_course.setdefault((user_id, course_id), [0, 0, None, None, None])[0] += d_credit
        if d_credit:
            per_day[(day, user_id, course_id)] += d_credit

    items = {}  # (user, course, item) -> [lesson, item_type, completed_at, best_pct, attempts, last]
    lessons = {}  # (user, course, lesson) -> first completed
    attempts = []
    for r in new:
        learner = per_learner[r.user_id]
        learner[2] += 1
        learner[3] = r.ts if learner[3] is None or r.ts < learner[3] else learner[3]
        learner[4] = r.ts if learner[4] is None or r.ts > learner[4] else learner[4]
        course = per_course.setdefault((r.user_id, r.course_id), [0, 0, None, None, None])
        course[1] += 1
        course[2] = r.ts if course[2] is None or r.ts < course[2] else course[2]
        course[3] = r.ts if course[3] is None or r.ts > course[3] else course[3]
        if r.object_type == "course":
            if r.verb == "completed" and (course[4] is None or r.ts < course[4]):
                course[4] = r.ts
            continue
        if r.verb not in ("completed", "graded"):
            continue  # started / viewed: activity (hours, last activity), nothing per item
        item = items.setdefault((r.user_id, r.course_id, r.item_id), [r.lesson_id, r.item_type, None, None, 0, r.ts])
        item[0] = item[0] or r.lesson_id
        item[5] = max(item[5], r.ts)
        if r.verb == "completed":
            if item[2] is None or r.ts < item[2]:
                item[2] = r.ts
            if r.lesson_id:
                key = (r.user_id, r.course_id, r.lesson_id)
                if key not in lessons or r.ts < lessons[key]:
                    lessons[key] = r.ts
        elif r.verb == "graded":
            pct = 100.0 * r.score / r.max_score
            item[3] = pct if item[3] is None else max(item[3], pct)
            item[4] += 1
            attempts.append(r)

    _upsert_items(session, org_id, items)
    lessons_taken = _upsert_lessons(session, org_id, lessons)
    hours = _upsert_courses(session, org_id, per_course)
    _upsert_learners(session, org_id, per_learner)
    _upsert_days(session, org_id, per_day)
    home.add_activity(session, org_id, per_day, lessons_taken)
    _publish(uow, org_id, attempts, hours)


def _iso(value):
    return None if value is None else value.isoformat()


def _upsert_items(session, org_id: str, items: dict) -> None:
    if not items:
        return
    columns = {"user_id": "uuid", "course_id": "text", "item_id": "text", "lesson_id": "text", "item_type": "text",
               "completed_at": "timestamptz", "best_pct": "float8", "attempts": "integer",
               "last_activity_at": "timestamptz"}
    rows = rows_json([(user_id, course_id, item_id, lesson_id, item_type, _iso(completed_at), best_pct, attempts,
                       _iso(last)) for (user_id, course_id, item_id), (lesson_id, item_type, completed_at, best_pct,
                                                                       attempts, last) in sorted(items.items())])
    names = ", ".join(columns)
    session.execute(text(
        f"INSERT INTO learner_items (org_id, {names}) SELECT CAST(:org AS uuid), {names} FROM {json_rows(columns)} "
        "ON CONFLICT (org_id, user_id, course_id, item_id) DO UPDATE SET "
        "lesson_id = coalesce(learner_items.lesson_id, EXCLUDED.lesson_id), "
        "item_type = coalesce(learner_items.item_type, EXCLUDED.item_type), "
        "completed_at = LEAST(learner_items.completed_at, EXCLUDED.completed_at), "
        "best_pct = GREATEST(learner_items.best_pct, EXCLUDED.best_pct), "
        "attempts = learner_items.attempts + EXCLUDED.attempts, "
        "last_activity_at = GREATEST(learner_items.last_activity_at, EXCLUDED.last_activity_at)"),
        {"org": org_id, "rows": rows})


def _upsert_lessons(session, org_id: str, lessons: dict) -> dict:
    """Record first completions per lesson; answers the lessons taken that
    changed per (UTC day, learner, course): a new lesson +1 on its day; a late
    statement moving a lesson's first completion to an earlier day -1 and +1
    (the home's counters)."""
    by_day: dict = defaultdict(int)
    if not lessons:
        return by_day
    keys = sorted(lessons)
    columns = {"user_id": "uuid", "course_id": "text", "lesson_id": "text", "first_completed_at": "timestamptz"}
    names = ", ".join(columns)
    rows = session.execute(text(
        f"WITH old AS (SELECT ll.user_id, ll.course_id, ll.lesson_id, ll.first_completed_at FROM learner_lessons ll "
        f"JOIN {unnest(columns)} ON ll.user_id = v.user_id AND ll.course_id = v.course_id "
        "AND ll.lesson_id = v.lesson_id WHERE ll.org_id = :org), "
        f"up AS (INSERT INTO learner_lessons (org_id, {names}) SELECT CAST(:org AS uuid), {names} "
        f"FROM {unnest(columns)} ON CONFLICT (org_id, user_id, course_id, lesson_id) DO UPDATE SET "
        "first_completed_at = LEAST(learner_lessons.first_completed_at, EXCLUDED.first_completed_at) "
        "RETURNING user_id, course_id, lesson_id, first_completed_at) "
        "SELECT up.user_id::text, up.course_id, (old.first_completed_at AT TIME ZONE 'UTC')::date, "
        "(up.first_completed_at AT TIME ZONE 'UTC')::date FROM up LEFT JOIN old USING (user_id, course_id, lesson_id)"),
        {"org": org_id, "user_id": [k[0] for k in keys], "course_id": [k[1] for k in keys],
         "lesson_id": [k[2] for k in keys], "first_completed_at": [_iso(lessons[k]) for k in keys]}).all()
    for user_id, course_id, old_day, new_day in rows:
        if old_day != new_day:
            by_day[(new_day, user_id, course_id)] += 1
            if old_day is not None:
                by_day[(old_day, user_id, course_id)] -= 1
    return by_day


# org_id is a column of the batch, not a constant, in the recounts below: for a constant the planner estimates
# the organization's rows from statistics that lag behind a fast-growing organization (one that had none at
# the last ANALYZE is taken to have ~1) and then counted a learner's lessons through learner_lessons_org_time,
# reading every lesson of the organization for each row (quadratic; measured: 41 µs of PostgreSQL CPU per
# statement after 20 batches into a new organization beside a large one, 2 µs through the primary key). As a
# column it is estimated from the number of organizations: the primary key wins.
COURSE_COLUMNS = {"org_id": "uuid", "user_id": "uuid", "course_id": "text", "hours_us": "bigint",
                  "statements": "integer", "first_activity_at": "timestamptz", "last_activity_at": "timestamptz",
                  "completed_at": "timestamptz"}


def _upsert_courses(session, org_id: str, per_course: dict) -> list:
    """Add the deltas; recount items, lessons and grade of the courses touched.
    Answers the courses whose hours changed: (user, course, hours_us, last activity)."""
    if not per_course:
        return []
    keys = sorted(per_course)
    params = {"org": org_id, "org_id": [org_id] * len(keys), "user_id": [k[0] for k in keys],
              "course_id": [k[1] for k in keys], "hours_us": [per_course[k][0] for k in keys],
              "statements": [per_course[k][1] for k in keys],
              "first_activity_at": [_iso(per_course[k][2]) for k in keys],
              "last_activity_at": [_iso(per_course[k][3]) for k in keys],
              "completed_at": [_iso(per_course[k][4]) for k in keys]}
    rows = session.execute(text(f"""
        INSERT INTO learner_courses (org_id, user_id, course_id, hours_us, statements, first_activity_at,
                                     last_activity_at, completed_at, items_completed, lessons_taken, graded_items,
                                     grade_pct, hours_as_of)
        SELECT v.org_id, v.user_id, v.course_id, v.hours_us, v.statements, v.first_activity_at,
               v.last_activity_at, v.completed_at, coalesce(i.completed, 0), coalesce(l.lessons, 0),
               coalesce(i.graded, 0), i.grade, v.last_activity_at
        FROM {unnest(COURSE_COLUMNS)}
        LEFT JOIN LATERAL (
            SELECT count(completed_at) AS completed, count(best_pct) AS graded, avg(best_pct) AS grade
            FROM learner_items li WHERE li.org_id = v.org_id AND li.user_id = v.user_id
             AND li.course_id = v.course_id) i ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS lessons FROM learner_lessons ll WHERE ll.org_id = v.org_id
             AND ll.user_id = v.user_id AND ll.course_id = v.course_id) l ON true
        ON CONFLICT (org_id, user_id, course_id) DO UPDATE SET
          hours_us = learner_courses.hours_us + EXCLUDED.hours_us,
          statements = learner_courses.statements + EXCLUDED.statements,
          first_activity_at = LEAST(learner_courses.first_activity_at, EXCLUDED.first_activity_at),
          last_activity_at = GREATEST(learner_courses.last_activity_at, EXCLUDED.last_activity_at),
          completed_at = LEAST(learner_courses.completed_at, EXCLUDED.completed_at),
          items_completed = EXCLUDED.items_completed,
          lessons_taken = EXCLUDED.lessons_taken,
          graded_items = EXCLUDED.graded_items,
          grade_pct = EXCLUDED.grade_pct,
          hours_as_of = CASE WHEN EXCLUDED.hours_us = 0 THEN learner_courses.hours_as_of
                             ELSE GREATEST(learner_courses.last_activity_at, EXCLUDED.last_activity_at,
                                           learner_courses.hours_as_of + interval '1 microsecond') END
        RETURNING user_id::text, course_id, hours_us, hours_as_of, xmax = 0 AS created
        """), params).all()
    changed = {k for k in keys if per_course[k][0]}
    return [row for row in rows if (row[0], row[1]) in changed]


def _upsert_learners(session, org_id: str, per_learner: dict) -> None:
    keys = sorted(per_learner)
    columns = {"user_id": "uuid", "hours_us": "bigint", "sessions": "integer", "statements": "integer",
               "first_activity_at": "timestamptz", "last_activity_at": "timestamptz"}
    names = ", ".join(columns)
    session.execute(text(
        f"INSERT INTO learners (org_id, {names}) SELECT CAST(:org AS uuid), {names} FROM {unnest(columns)} "
        "ON CONFLICT (org_id, user_id) DO UPDATE SET hours_us = learners.hours_us + EXCLUDED.hours_us, "
        "sessions = learners.sessions + EXCLUDED.sessions, statements = learners.statements + EXCLUDED.statements, "
        "first_activity_at = LEAST(learners.first_activity_at, EXCLUDED.first_activity_at), "
        "last_activity_at = GREATEST(learners.last_activity_at, EXCLUDED.last_activity_at)"),
        {"org": org_id, "user_id": keys, "hours_us": [per_learner[k][0] for k in keys],
         "sessions": [per_learner[k][1] for k in keys], "statements": [per_learner[k][2] for k in keys],
         "first_activity_at": [_iso(per_learner[k][3]) for k in keys],
         "last_activity_at": [_iso(per_learner[k][4]) for k in keys]})


def _upsert_days(session, org_id: str, per_day: dict) -> None:
    keys = sorted(k for k in per_day if per_day[k])
    if not keys:
        return
    columns = {"day": "date", "user_id": "uuid", "course_id": "text", "hours_us": "bigint"}
    names = ", ".join(columns)
    session.execute(text(
        f"INSERT INTO course_days (org_id, {names}) SELECT CAST(:org AS uuid), {names} FROM {unnest(columns)} "
        "ON CONFLICT (org_id, day, user_id, course_id) DO UPDATE SET "
        "hours_us = course_days.hours_us + EXCLUDED.hours_us"),
        {"org": org_id, "day": [k[0].isoformat() for k in keys], "user_id": [k[1] for k in keys],
         "course_id": [k[2] for k in keys], "hours_us": [per_day[k] for k in keys]})


def _publish(uow: UnitOfWork, org_id: str, attempts: list[Parsed], hours: list) -> None:
    if attempts:
        uow.publish(ATTEMPTS_GRADED, {"attempts": [
            {"statement_id": r.statement_id, "org_id": org_id, "user_id": r.user_id, "course_id": r.course_id,
             "item_id": r.item_id, "attempt": r.attempt, "score": r.score, "max_score": r.max_score,
             "passed": r.passed, "attempted_at": r.ts.isoformat()} for r in attempts]}, org_id=org_id)
    if hours:
        uow.publish(LEARNING_HOURS_UPDATED, {"hours": [
            {"org_id": org_id, "user_id": user_id, "course_id": course_id, "hours": hours_us / US_PER_HOUR,
             "as_of": (last or utcnow()).isoformat()} for user_id, course_id, hours_us, last, _ in hours]},
                    org_id=org_id)
