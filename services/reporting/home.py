"""The admin home's read model: counters kept current by the event handlers
and by ingestion, so that the summary and the funnel read a few rows whatever
the organization's size (docs/reporting.md "Admin home").

Three tables (services/reporting/models.py):

* `home_funnel` (org, program): invited, pending, joined, enrolled, joined
  but not enrolled.
* `home_enrollment_days` (org, program, UTC day of the enrollment): course and
  specialization enrollments.
* `home_activity_days` (org, UTC day, shard): estimated learning time and
  lessons taken (first item completed in a lesson) of every learner of the
  organization. `shard` spreads concurrent ingestion batches of one
  organization over several rows (one row would serialize them all).

Exact under redelivery and any arrival order, by construction: every
counter is the sum of per-object contributions (a person's place in a
program, an invitation, an enrollment, a day's learning time). A handler
takes a transaction-scoped advisory lock on each object it changes (sorted:
no deadlocks), reads the objects' contributions, changes the projection,
reads them again and adds the difference. A redelivered event changes
nothing, so it adds nothing; an event that arrives before the one it
follows leaves the projection as the sorted order would, and the counters
follow the projection. `rebuild` recomputes them from the projection,
set-based (the migration's backfill, the benchmark's seed, the tests'
reference)."""
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import combinations

from sqlalchemy import text

from servicekit.bulk import unnest
from servicekit.db import UnitOfWork

ACTIVITY_SHARDS = 8
FUNNEL_FIELDS = ("invited", "pending", "joined", "enrolled", "joined_not_enrolled")

# What one person's place in a program adds to its funnel (the read side's old per-request counts).
PLACE_CONTRIBUTIONS = """
SELECT m.org_id::text, m.program_id::text, m.user_id::text,
       (m.joined_at IS NOT NULL)::int AS joined,
       (m.joined_at IS NOT NULL AND x.enrolled)::int AS enrolled,
       (m.state = 'MEMBER' AND NOT x.enrolled)::int AS joined_not_enrolled
FROM unnest(CAST(:programs AS uuid[]), CAST(:users AS uuid[])) AS k(program_id, user_id)
JOIN memberships m ON m.program_id = k.program_id AND m.user_id = k.user_id
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM enrollments e WHERE e.org_id = m.org_id
                                   AND e.program_id = m.program_id AND e.user_id = m.user_id) AS enrolled) x
"""
# What one invitation adds: invited (every invitation created, emailed or not), pending.
INVITATION_CONTRIBUTIONS = """
SELECT i.org_id::text, i.program_id::text, i.invitation_id::text, 1 AS invited,
       (i.state = 'PENDING')::int AS pending
FROM invitations i WHERE i.invitation_id = ANY(CAST(:ids AS uuid[]))
"""


def _lock(uow: UnitOfWork, keys: Iterable[str]) -> None:
    """Transaction-scoped advisory locks on these objects, in a stable order."""
    keys = sorted(set(keys))
    if keys:
        uow.session.execute(text(
            "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(k, 13) AS h "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) s"), {"keys": keys})


def _contributions(uow: UnitOfWork, places: list[tuple[str, str]], invitations: list[str]) -> dict:
    """{(org, program): [invited, pending, joined, enrolled, joined_not_enrolled]} of these objects."""
    totals: dict = defaultdict(lambda: [0] * len(FUNNEL_FIELDS))
    if places:
        for org, program, _, joined, enrolled, jne in uow.session.execute(text(PLACE_CONTRIBUTIONS), {
                "programs": [p for p, _ in places], "users": [u for _, u in places]}):
            row = totals[(org, program)]
            row[2] += joined
            row[3] += enrolled
            row[4] += jne
    if invitations:
        for org, program, _, invited, pending in uow.session.execute(text(INVITATION_CONTRIBUTIONS),
                                                                      {"ids": invitations}):
            row = totals[(org, program)]
            row[0] += invited
            row[1] += pending
    return totals


def _add_funnel(uow: UnitOfWork, deltas: dict) -> None:
    keys = sorted(k for k, v in deltas.items() if any(v))
    if not keys:
        return
    columns = {"org_id": "uuid", "program_id": "uuid", **{f: "integer" for f in FUNNEL_FIELDS}}
    params = {"org_id": [k[0] for k in keys], "program_id": [k[1] for k in keys]}
    params.update({f: [deltas[k][i] for k in keys] for i, f in enumerate(FUNNEL_FIELDS)})
    names = ", ".join(columns)
    updates = ", ".join(f"{f} = home_funnel.{f} + EXCLUDED.{f}" for f in FUNNEL_FIELDS)
    uow.session.execute(text(
        f"INSERT INTO home_funnel ({names}) SELECT {names} FROM {unnest(columns)} "
        f"ON CONFLICT (org_id, program_id) DO UPDATE SET {updates}"), params)


@contextmanager
def counted(uow: UnitOfWork, places: Iterable[tuple[str, str]] = (), invitations: Iterable[str] = ()) -> Iterator:
    """Around a change of the projection: the funnel counters of these people's
    places in programs ((program_id, user_id)) and of these invitations follow it."""
    places = sorted({(str(p), str(u)) for p, u in places})
    invitations = sorted({str(i) for i in invitations})
    _lock(uow, [f"place:{p}:{u}" for p, u in places] + [f"invitation:{i}" for i in invitations])
    before = _contributions(uow, places, invitations)
    yield
    after = _contributions(uow, places, invitations)
    deltas = {k: [a - b for a, b in zip(after.get(k, [0] * 5), before.get(k, [0] * 5), strict=True)]
              for k in set(before) | set(after)}
    _add_funnel(uow, deltas)


def enrollment_added(uow: UnitOfWork, org_id: str, program_id: str, kind: str, day) -> None:
    """A new enrollment (inserted, not a redelivery) counts on its UTC day."""
    course, spec = (1, 0) if kind == "COURSE" else (0, 1)
    uow.session.execute(text(
        "INSERT INTO home_enrollment_days (org_id, program_id, day, course_enrollments, specialization_enrollments) "
        "VALUES (:org, :program, :day, :course, :spec) ON CONFLICT (org_id, program_id, day) DO UPDATE SET "
        "course_enrollments = home_enrollment_days.course_enrollments + EXCLUDED.course_enrollments, "
        "specialization_enrollments = home_enrollment_days.specialization_enrollments "
        "+ EXCLUDED.specialization_enrollments"),
        {"org": org_id, "program": program_id, "day": day, "course": course, "spec": spec})


def add_activity(session, org_id: str, hours: dict, lessons: dict) -> None:
    """Ingestion's deltas per (UTC day, learner, course): learning time in µs and lessons taken. The
    organization's days get their sums; each program whose enrollments cover the learner's course
    (`home_program_courses`) gets its share. One shard per batch; rows locked in key order."""
    keys = sorted(k for k in set(hours) | set(lessons) if hours.get(k) or lessons.get(k))
    if not keys:
        return
    shard = random.randrange(ACTIVITY_SHARDS)
    by_day: dict = defaultdict(lambda: [0, 0])
    for key in keys:
        by_day[key[0]][0] += hours.get(key, 0)
        by_day[key[0]][1] += lessons.get(key, 0)
    days = sorted(d for d, (h, n) in by_day.items() if h or n)
    session.execute(text(
        "INSERT INTO home_activity_days (org_id, day, shard, hours_us, lessons) "
        "SELECT CAST(:org AS uuid), d, CAST(:shard AS smallint), h, n "
        "FROM unnest(CAST(:days AS date[]), CAST(:hours AS bigint[]), CAST(:lessons AS integer[])) AS v(d, h, n) "
        "ON CONFLICT (org_id, day, shard) DO UPDATE SET hours_us = home_activity_days.hours_us + EXCLUDED.hours_us, "
        "lessons = home_activity_days.lessons + EXCLUDED.lessons"),
        {"org": org_id, "shard": shard, "days": [d.isoformat() for d in days],
         "hours": [by_day[d][0] for d in days], "lessons": [by_day[d][1] for d in days]})
    session.execute(text(
        "INSERT INTO home_program_days (org_id, program_id, day, shard, hours_us, lessons) "
        "SELECT CAST(:org AS uuid), pc.program_id, v.day, CAST(:shard AS smallint), sum(v.hours), sum(v.lessons) "
        "FROM unnest(CAST(:days AS date[]), CAST(:users AS uuid[]), CAST(:courses AS text[]), "
        "  CAST(:hours AS bigint[]), CAST(:lessons AS integer[])) AS v(day, user_id, course_id, hours, lessons) "
        "JOIN home_program_courses pc ON pc.org_id = CAST(:org AS uuid) AND pc.user_id = v.user_id "
        " AND pc.course_id = v.course_id "
        "GROUP BY pc.program_id, v.day ORDER BY pc.program_id, v.day "
        f"{PROGRAM_DAYS_CONFLICT}"),
        {"org": org_id, "shard": shard, "days": [k[0].isoformat() for k in keys], "users": [k[1] for k in keys],
         "courses": [k[2] for k in keys], "hours": [hours.get(k, 0) for k in keys],
         "lessons": [lessons.get(k, 0) for k in keys]})


PROGRAM_DAYS_CONFLICT = ("ON CONFLICT (org_id, program_id, day, shard) DO UPDATE SET "
                         "hours_us = home_program_days.hours_us + EXCLUDED.hours_us, "
                         "lessons = home_program_days.lessons + EXCLUDED.lessons")

# ---------------------------------------------------------------- which programs count a learner's course

# The (program, learner, course) triples the enrollments of these learners cover: course enrollments and
# the courses of specialization enrollments (the specialization's course list as the catalog has it).
COVERED = """
SELECT e.program_id, e.user_id, e.course_id FROM enrollments e
 WHERE e.org_id = CAST(:org AS uuid) AND e.user_id = ANY(CAST(:users AS uuid[])) AND e.course_id IS NOT NULL
UNION
SELECT e.program_id, e.user_id, c.course_id FROM enrollments e
  JOIN specializations s ON s.specialization_id = e.specialization_id, unnest(s.course_ids) AS c(course_id)
 WHERE e.org_id = CAST(:org AS uuid) AND e.user_id = ANY(CAST(:users AS uuid[])) AND e.specialization_id IS NOT NULL
"""


def lock_learners(session, org_id: str, user_ids: list[str]) -> None:
    """The learners' rows (created if new), locked in id order: what ingestion locks too, so a
    coverage change and a batch of the same learner never interleave."""
    session.execute(text(
        "INSERT INTO learners (org_id, user_id) SELECT CAST(:org AS uuid), u FROM unnest(CAST(:users AS uuid[])) u "
        "ORDER BY u ON CONFLICT DO NOTHING"), {"org": org_id, "users": user_ids})
    session.execute(text(
        "SELECT 1 FROM learners WHERE org_id = CAST(:org AS uuid) AND user_id = ANY(CAST(:users AS uuid[])) "
        "ORDER BY user_id FOR UPDATE"), {"org": org_id, "users": user_ids})


def sync_coverage(session, org_id: str, user_ids: Iterable[str]) -> None:
    """Bring `home_program_courses` of these learners in line with their enrollments; a triple that
    appears brings the learner's learning time and lessons in that course (all days) to the program's
    days, one that goes takes them away; `home_program_overlaps` counts the (learner, course) pairs two
    programs share (a program admin of both must not count them twice)."""
    users = sorted({str(u) for u in user_ids})
    if not users:
        return
    lock_learners(session, org_id, users)
    params = {"org": org_id, "users": users}
    changes = session.execute(text(
        f"WITH desired AS ({COVERED}), current AS (SELECT program_id, user_id, course_id FROM home_program_courses "
        "WHERE org_id = CAST(:org AS uuid) AND user_id = ANY(CAST(:users AS uuid[]))) "
        "SELECT 1, program_id::text, user_id::text, course_id "
        "FROM (SELECT * FROM desired EXCEPT SELECT * FROM current) a "
        "UNION ALL SELECT -1, program_id::text, user_id::text, course_id FROM "
        "(SELECT * FROM current EXCEPT SELECT * FROM desired) r ORDER BY 2, 3, 4"), params).all()
    if not changes:
        return
    pairs = sorted({(u, c) for _, _, u, c in changes})
    before = defaultdict(set)
    for program, user, course in session.execute(text(
            "SELECT pc.program_id::text, pc.user_id::text, pc.course_id FROM home_program_courses pc "
            "JOIN unnest(CAST(:u AS uuid[]), CAST(:c AS text[])) AS k(user_id, course_id) "
            "ON pc.user_id = k.user_id AND pc.course_id = k.course_id WHERE pc.org_id = CAST(:org AS uuid)"),
            {"org": org_id, "u": [p[0] for p in pairs], "c": [p[1] for p in pairs]}):
        before[(user, course)].add(program)
    after = {pair: set(programs) for pair, programs in before.items()}
    for sign, program, user, course in changes:
        after.setdefault((user, course), set())
        (after[(user, course)].add if sign > 0 else after[(user, course)].discard)(program)
    columns = {"sign": "integer", "program_id": "uuid", "user_id": "uuid", "course_id": "text"}
    rows = {"org": org_id, "shard": random.randrange(ACTIVITY_SHARDS), "sign": [c[0] for c in changes],
            "program_id": [c[1] for c in changes], "user_id": [c[2] for c in changes],
            "course_id": [c[3] for c in changes]}
    session.execute(text(
        "INSERT INTO home_program_courses (org_id, program_id, user_id, course_id) "
        f"SELECT CAST(:org AS uuid), program_id, user_id, course_id FROM {unnest(columns)} WHERE sign > 0"), rows)
    session.execute(text(
        f"DELETE FROM home_program_courses pc USING {unnest(columns)} WHERE v.sign < 0 "
        "AND pc.org_id = CAST(:org AS uuid) AND pc.program_id = v.program_id AND pc.user_id = v.user_id "
        "AND pc.course_id = v.course_id"), rows)
    session.execute(text(
        "INSERT INTO home_program_days (org_id, program_id, day, shard, hours_us, lessons) "
        "SELECT CAST(:org AS uuid), program_id, day, CAST(:shard AS smallint), sum(hours), sum(lessons) FROM ("
        f"  SELECT v.program_id, cd.day, v.sign * cd.hours_us AS hours, 0 AS lessons FROM {unnest(columns)} "
        "   JOIN course_days cd ON cd.org_id = CAST(:org AS uuid) AND cd.user_id = v.user_id "
        "    AND cd.course_id = v.course_id "
        "  UNION ALL "
        f"  SELECT v.program_id, (ll.first_completed_at AT TIME ZONE 'UTC')::date, 0, v.sign FROM {unnest(columns)} "
        "   JOIN learner_lessons ll ON ll.org_id = CAST(:org AS uuid) AND ll.user_id = v.user_id "
        "    AND ll.course_id = v.course_id"
        ") d GROUP BY program_id, day ORDER BY program_id, day "
        f"{PROGRAM_DAYS_CONFLICT}"), rows)
    overlaps: dict = defaultdict(int)
    for pair, programs in after.items():
        for a, b in combinations(sorted(programs), 2):
            overlaps[(a, b)] += 1
        for a, b in combinations(sorted(before.get(pair, ())), 2):
            overlaps[(a, b)] -= 1
    keys = sorted(k for k, v in overlaps.items() if v)
    if keys:
        session.execute(text(
            "INSERT INTO home_program_overlaps (org_id, program_a, program_b, pairs) "
            "SELECT CAST(:org AS uuid), a, b, n "
            "FROM unnest(CAST(:a AS uuid[]), CAST(:b AS uuid[]), CAST(:n AS integer[])) AS v(a, b, n) "
            "ON CONFLICT (org_id, program_a, program_b) DO UPDATE SET "
            "pairs = home_program_overlaps.pairs + EXCLUDED.pairs"),
            {"org": org_id, "a": [k[0] for k in keys], "b": [k[1] for k in keys], "n": [overlaps[k] for k in keys]})


def specializations_changed(session, specialization_ids: list[str]) -> None:
    """A specialization's course list is new or changed: its enrolled learners' coverage follows."""
    if not specialization_ids:
        return
    learners = defaultdict(list)
    for org, user in session.execute(text(
            "SELECT DISTINCT org_id::text, user_id::text FROM enrollments "
            "WHERE specialization_id = ANY(CAST(:s AS text[])) ORDER BY 1, 2"), {"s": sorted(specialization_ids)}):
        learners[org].append(user)
    for org in sorted(learners):
        sync_coverage(session, org, learners[org])


# ---------------------------------------------------------------- reads


def summary_counts(uow: UnitOfWork, org_id: str, start: str, program_ids: list[str] | None) -> tuple:
    """(course enrollments, specialization enrollments) since `start`, in the programs (None: all)."""
    scope = "" if program_ids is None else " AND program_id = ANY(CAST(:programs AS uuid[]))"
    return uow.read(text(
        "SELECT coalesce(sum(course_enrollments), 0) AS courses, "
        "coalesce(sum(specialization_enrollments), 0) AS specializations FROM home_enrollment_days "
        f"WHERE org_id = :org AND day >= CAST(:start AS date){scope}"),
        {"org": org_id, "start": start, "programs": program_ids or []}).one()


def organization_activity(uow: UnitOfWork, org_id: str, start: str) -> tuple:
    """(learning time in µs, lessons taken) of every learner of the organization since `start`."""
    return uow.read(text(
        "SELECT coalesce(sum(hours_us), 0), coalesce(sum(lessons), 0) FROM home_activity_days "
        "WHERE org_id = :org AND day >= CAST(:start AS date)"), {"org": org_id, "start": start}).one()


def program_activity(uow: UnitOfWork, org_id: str, start: str, program_ids: list[str]) -> tuple | None:
    """(learning time in µs, lessons taken) since `start` in the courses enrolled through these
    programs, from their days; None when two of them share a (learner, course) pair (their sum would
    count it twice: the caller sums the figures themselves)."""
    params = {"org": org_id, "start": start, "programs": program_ids}
    if len(program_ids) > 1 and uow.read(text(
            "SELECT coalesce(sum(pairs), 0) FROM home_program_overlaps WHERE org_id = :org "
            "AND program_a = ANY(CAST(:programs AS uuid[])) AND program_b = ANY(CAST(:programs AS uuid[]))"),
            params).scalar():
        return None
    return uow.read(text(
        "SELECT coalesce(sum(hours_us), 0), coalesce(sum(lessons), 0) FROM home_program_days "
        "WHERE org_id = :org AND program_id = ANY(CAST(:programs AS uuid[])) AND day >= CAST(:start AS date)"),
        params).one()


def funnel_rows(uow: UnitOfWork, org_id: str, program_ids: list[str] | None) -> list:
    scope = "" if program_ids is None else " AND p.program_id = ANY(CAST(:programs AS uuid[]))"
    return uow.read(text(
        "SELECT p.program_id::text, p.name, p.slug, " +
        ", ".join(f"coalesce(f.{f}, 0) AS {f}" for f in FUNNEL_FIELDS) +
        " FROM programs p LEFT JOIN home_funnel f ON f.org_id = p.org_id AND f.program_id = p.program_id "
        f"WHERE p.org_id = :org AND p.removed_at IS NULL{scope} ORDER BY p.name, p.program_id"),
        {"org": org_id, "programs": program_ids or []}).all()


# ---------------------------------------------------------------- rebuild (set-based)

REBUILD = (
    "DELETE FROM home_funnel WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    "DELETE FROM home_enrollment_days WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    "DELETE FROM home_activity_days WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    "DELETE FROM home_program_courses WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    "DELETE FROM home_program_days WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    "DELETE FROM home_program_overlaps WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)",
    """INSERT INTO home_funnel (org_id, program_id, invited, pending, joined, enrolled, joined_not_enrolled)
    SELECT org_id, program_id, sum(invited), sum(pending), sum(joined), sum(enrolled), sum(jne) FROM (
      SELECT i.org_id, i.program_id, count(*) AS invited, count(*) FILTER (WHERE i.state = 'PENDING') AS pending,
             0 AS joined, 0 AS enrolled, 0 AS jne
      FROM invitations i WHERE CAST(:org AS uuid) IS NULL OR i.org_id = CAST(:org AS uuid)
      GROUP BY i.org_id, i.program_id
      UNION ALL
      SELECT m.org_id, m.program_id, 0, 0, count(*) FILTER (WHERE m.joined_at IS NOT NULL),
             count(*) FILTER (WHERE m.joined_at IS NOT NULL AND x.enrolled),
             count(*) FILTER (WHERE m.state = 'MEMBER' AND NOT x.enrolled)
      FROM memberships m
      CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM enrollments e WHERE e.org_id = m.org_id
                                         AND e.program_id = m.program_id AND e.user_id = m.user_id) AS enrolled) x
      WHERE CAST(:org AS uuid) IS NULL OR m.org_id = CAST(:org AS uuid)
      GROUP BY m.org_id, m.program_id
    ) c GROUP BY org_id, program_id""",
    """INSERT INTO home_enrollment_days (org_id, program_id, day, course_enrollments, specialization_enrollments)
    SELECT org_id, program_id, (enrolled_at AT TIME ZONE 'UTC')::date, count(*) FILTER (WHERE kind = 'COURSE'),
           count(*) FILTER (WHERE kind <> 'COURSE')
    FROM enrollments WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid) GROUP BY 1, 2, 3""",
    """INSERT INTO home_activity_days (org_id, day, shard, hours_us, lessons)
    SELECT org_id, day, 0, sum(hours_us), sum(lessons) FROM (
      SELECT org_id, day, hours_us, 0 AS lessons FROM course_days
       WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)
      UNION ALL
      SELECT org_id, (first_completed_at AT TIME ZONE 'UTC')::date, 0, 1 FROM learner_lessons
       WHERE CAST(:org AS uuid) IS NULL OR org_id = CAST(:org AS uuid)
    ) a GROUP BY org_id, day""",
    """INSERT INTO home_program_courses (org_id, program_id, user_id, course_id)
    SELECT e.org_id, e.program_id, e.user_id, e.course_id FROM enrollments e
     WHERE (CAST(:org AS uuid) IS NULL OR e.org_id = CAST(:org AS uuid)) AND e.course_id IS NOT NULL
    UNION
    SELECT e.org_id, e.program_id, e.user_id, c.course_id FROM enrollments e
      JOIN specializations s ON s.specialization_id = e.specialization_id, unnest(s.course_ids) AS c(course_id)
     WHERE (CAST(:org AS uuid) IS NULL OR e.org_id = CAST(:org AS uuid)) AND e.specialization_id IS NOT NULL""",
    """INSERT INTO home_program_days (org_id, program_id, day, shard, hours_us, lessons)
    SELECT org_id, program_id, day, 0, sum(hours_us), sum(lessons) FROM (
      SELECT pc.org_id, pc.program_id, cd.day, cd.hours_us, 0 AS lessons FROM home_program_courses pc
        JOIN course_days cd ON cd.org_id = pc.org_id AND cd.user_id = pc.user_id AND cd.course_id = pc.course_id
       WHERE CAST(:org AS uuid) IS NULL OR pc.org_id = CAST(:org AS uuid)
      UNION ALL
      SELECT pc.org_id, pc.program_id, (ll.first_completed_at AT TIME ZONE 'UTC')::date, 0, 1
        FROM home_program_courses pc
        JOIN learner_lessons ll ON ll.org_id = pc.org_id AND ll.user_id = pc.user_id AND ll.course_id = pc.course_id
       WHERE CAST(:org AS uuid) IS NULL OR pc.org_id = CAST(:org AS uuid)
    ) a GROUP BY org_id, program_id, day""",
    """INSERT INTO home_program_overlaps (org_id, program_a, program_b, pairs)
    SELECT a.org_id, a.program_id, b.program_id, count(*) FROM home_program_courses a
      JOIN home_program_courses b ON b.org_id = a.org_id AND b.user_id = a.user_id AND b.course_id = a.course_id
       AND a.program_id < b.program_id
     WHERE CAST(:org AS uuid) IS NULL OR a.org_id = CAST(:org AS uuid)
     GROUP BY a.org_id, a.program_id, b.program_id""",
)


def rebuild(session, org_id: str | None = None) -> None:
    """The counters recomputed from the projection (one organization, or all)."""
    for statement in REBUILD:
        session.execute(text(statement), {"org": org_id})
