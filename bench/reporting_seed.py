"""Seeding reporting's projection for its benchmarks: an organization of many members, straight into the
reporting database with set-based SQL (generate_series), as reporting's event handlers would have left it.

Going through the events (identity, programs, invitations publishing 100,000+ joins and 1,000,000
enrollments) would take many minutes and measure the handlers, not what these benchmarks are about
(ingestion, the Usage export, the admin home). The rows are those of reporting's own tables
(services/reporting/models.py); `figures=True` also fills the per-learner and per-course figures the
statements would have produced (hours, progress, grades, completions, lessons, days) so that the Usage
report and the summary have real work to do. The admin home's counters are then computed from those rows
(services/reporting/home.py `rebuild`), as the handlers and ingestion would have kept them.

User ids are `md5('bench|<org>|<n>')::uuid`, n = 1..members (`user_id(org, n)` gives the same in Python)."""
import hashlib
import uuid

from sqlalchemy import text

from services.reporting import home


def user_id(org_id: str, n: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"bench|{org_id}|{n}".encode()).hexdigest()))


def _run(conn, sql: str, **params) -> None:
    conn.execute(text(sql), params)


def seed_org(engine, org_id: str, program_id: str, contract_id: str, members: int, courses: list[dict],
             enrollments_per_member: int = 0, pending_invitations: int = 0, figures: bool = False,
             log=print) -> None:
    """`members` MEMBER memberships (each with an ACCEPTED invitation, a profile and an account) of one
    program, `pending_invitations` more people only invited, and `enrollments_per_member` course enrollments
    each (courses taken round-robin from `courses`: catalog rows with id, slug, name, partner and counts)."""
    uid = "md5('bench|' || CAST(:org AS text) || '|' || n)::uuid"
    with engine.begin() as conn:
        _run(conn, "INSERT INTO orgs (org_id, name, subscription_start) VALUES (:org, 'Bench org', "
                   "current_date - 365) ON CONFLICT (org_id) DO UPDATE SET subscription_start = "
                   "EXCLUDED.subscription_start", org=org_id)
        _run(conn, "INSERT INTO contracts (contract_id, org_id, name, license_count, starts_on, ends_on) VALUES "
                   "(:c, :org, 'Bench contract', :n, current_date - 365, current_date + 365) ON CONFLICT DO NOTHING",
             c=contract_id, org=org_id, n=members + pending_invitations)
        _run(conn, "INSERT INTO programs (program_id, org_id, name, slug, contract_ids) VALUES "
                   "(:p, :org, 'Bench Academy', 'bench-academy', ARRAY[CAST(:c AS text)]) ON CONFLICT DO NOTHING",
             p=program_id, org=org_id, c=contract_id)
        for course in courses:
            _run(conn, "INSERT INTO courses (course_id, slug, name, partner, item_count, lesson_count, "
                       "graded_item_count) VALUES (:id, :slug, :name, :partner, :items, :lessons, :graded) "
                       "ON CONFLICT DO NOTHING",
                 id=course["id"], slug=course["slug"], name=course["name"], partner=course["partner"],
                 items=course.get("item_count") or 0, lessons=course.get("lesson_count") or 0,
                 graded=course.get("graded_item_count") or 0)
        people = members + pending_invitations
        log(f"  seeding {people:,} people, {members:,} members ...")
        _run(conn, f"INSERT INTO accounts (user_id, email, full_name) SELECT {uid}, 'learner' || n || "
                   "'@bench.example', 'Learner ' || n FROM generate_series(1, :n) AS n ON CONFLICT DO NOTHING",
             org=org_id, n=people)
        _run(conn, f"INSERT INTO people (org_id, user_id, email, full_name, external_id, job_title, business_unit, "
                   f"location_country) SELECT :org, {uid}, 'learner' || n || '@bench.example', 'Learner ' || n, "
                   "'EXT-' || n, 'Analyst', 'Unit ' || (n % 20), 'Country ' || (n % 30) "
                   "FROM generate_series(1, :n) AS n ON CONFLICT DO NOTHING", org=org_id, n=people)
        _run(conn, f"INSERT INTO invitations (invitation_id, org_id, program_id, contract_id, user_id, email, "
                   "full_name, state, send_email, created_at, last_sent_at, closed_at) "
                   f"SELECT md5('inv|' || CAST(:org AS text) || '|' || n)::uuid, :org, :p, :c, {uid}, "
                   "'learner' || n || '@bench.example', 'Learner ' || n, "
                   "CASE WHEN n <= :members THEN 'ACCEPTED' ELSE 'PENDING' END, true, "
                   "now() - interval '200 days' + n * interval '1 second', now() - interval '200 days', "
                   "CASE WHEN n <= :members THEN now() - interval '190 days' END "
                   "FROM generate_series(1, :n) AS n ON CONFLICT DO NOTHING",
             org=org_id, p=program_id, c=contract_id, n=people, members=members)
        _run(conn, f"INSERT INTO memberships (program_id, user_id, org_id, membership_id, state, contract_id, "
                   "invitation_id, email, full_name, invited_at, joined_at) "
                   f"SELECT :p, {uid}, :org, md5('m|' || CAST(:org AS text) || '|' || n)::uuid, "
                   "CASE WHEN n <= :members THEN 'MEMBER' ELSE 'INVITED' END, :c, "
                   "md5('inv|' || CAST(:org AS text) || '|' || n)::uuid, 'learner' || n || '@bench.example', "
                   "'Learner ' || n, now() - interval '200 days', "
                   "CASE WHEN n <= :members THEN now() - interval '190 days' END "
                   "FROM generate_series(1, :n) AS n ON CONFLICT DO NOTHING",
             org=org_id, p=program_id, c=contract_id, n=people, members=members)
        if enrollments_per_member:
            _seed_enrollments(conn, org_id, program_id, members, courses, enrollments_per_member, figures, log)
        home.rebuild(conn, org_id)  # the admin home's counters, as the handlers and ingestion keep them
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def _seed_enrollments(conn, org_id, program_id, members, courses, per_member, figures, log) -> None:
    log(f"  seeding {members * per_member:,} course enrollments{' and their figures' if figures else ''} ...")
    _run(conn, "CREATE TEMP TABLE bench_courses (k int, course_id text, slug text, name text, items int, "
               "lessons int, graded int) ON COMMIT DROP")
    for k, course in enumerate(courses):
        _run(conn, "INSERT INTO bench_courses VALUES (:k, :id, :slug, :name, :items, :lessons, :graded)",
             k=k, id=course["id"], slug=course["slug"], name=course["name"],
             items=course.get("item_count") or 1, lessons=course.get("lesson_count") or 1,
             graded=course.get("graded_item_count") or 0)
    # member n, enrollment j: course (n + j) mod #courses (distinct courses per member while j < #courses)
    pairs = ("FROM generate_series(1, :members) AS n CROSS JOIN generate_series(0, :per - 1) AS j "
             "JOIN bench_courses bc ON bc.k = (n + j) % :ncourses")
    uid = "md5('bench|' || CAST(:org AS text) || '|' || n)::uuid"
    params = {"org": org_id, "p": program_id, "members": members, "per": per_member, "ncourses": len(courses)}
    _run(conn, "INSERT INTO enrollments (enrollment_id, org_id, program_id, user_id, kind, course_id, item_name, "
               f"item_slug, enrolled_at) SELECT md5('e|' || CAST(:org AS text) || '|' || n || '|' || j)::uuid, :org, "
               f":p, {uid}, 'COURSE', bc.course_id, bc.name, bc.slug, "
               f"now() - interval '180 days' + (n % 1000) * interval '1 minute' {pairs} ON CONFLICT DO NOTHING",
         **params)
    if not figures:
        return
    # most enrollments have activity; every 4th one completed; hours 0.5-20 h
    _run(conn, "INSERT INTO learner_courses (org_id, user_id, course_id, hours_us, statements, first_activity_at, "
               "last_activity_at, items_completed, lessons_taken, graded_items, grade_pct, completed_at) "
               f"SELECT :org, {uid}, bc.course_id, (1800 + (n * 7919 + j * 104729) % 70000) * 1000000::bigint, "
               "20 + (n + j) % 60, now() - interval '150 days', now() - ((n + j) % 90) * interval '1 day', "
               "CASE WHEN (n + j) % 4 = 0 THEN bc.items ELSE ((n + j) % bc.items) END, "
               "CASE WHEN (n + j) % 4 = 0 THEN bc.lessons ELSE ((n + j) % bc.lessons) END, "
               "LEAST(bc.graded, (n + j) % 9), CASE WHEN bc.graded > 0 THEN 60 + (n * 31 + j) % 40 END, "
               "CASE WHEN (n + j) % 4 = 0 THEN now() - ((n + j) % 90) * interval '1 day' END "
               f"{pairs} WHERE (n + j) % 10 <> 9 ON CONFLICT DO NOTHING", **params)
    _run(conn, "INSERT INTO learners (org_id, user_id, hours_us, sessions, statements, first_activity_at, "
               "last_activity_at) SELECT org_id, user_id, sum(hours_us), count(*) * 5, sum(statements), "
               "min(first_activity_at), max(last_activity_at) FROM learner_courses WHERE org_id = :org "
               "GROUP BY org_id, user_id ON CONFLICT DO NOTHING", org=org_id)
    _run(conn, "INSERT INTO course_days (org_id, day, user_id, course_id, hours_us) "
               "SELECT org_id, CAST(last_activity_at AS date), user_id, course_id, hours_us FROM learner_courses "
               "WHERE org_id = :org ON CONFLICT DO NOTHING", org=org_id)
    _run(conn, "INSERT INTO learner_lessons (org_id, user_id, course_id, lesson_id, first_completed_at) "
               "SELECT lc.org_id, lc.user_id, lc.course_id, lc.course_id || '-l' || lpad(CAST(l AS text), 2, '0'), "
               "lc.last_activity_at FROM learner_courses lc CROSS JOIN LATERAL generate_series(1, "
               "LEAST(lc.lessons_taken, 1)) AS l WHERE lc.org_id = :org ON CONFLICT DO NOTHING", org=org_id)
