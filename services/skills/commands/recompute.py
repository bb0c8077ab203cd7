"""The full recompute, the calibration of assessment difficulties and the
monthly benchmark snapshots.

`recompute` replays every stored attempt against the current difficulty
snapshot with the vectorised engine (services/skills/engine.py) and rebuilds
learner_skills and every aggregate from scratch. It holds the exclusive side of
the advisory lock the event handlers take shared (commands/ratings.py), so no
incremental update interleaves; the tables are rewritten only at the end, so
views wait at most for that last step.

`calibrate` rates every assessment that has new attempts since the last
calibration over one Glicko-2 rating period (its matches: each attempt, scored
1 - the learner's fraction, against the learner's current rating in each skill
of the course, weighted by relevance), stores the new snapshot and recomputes,
so every rating depends only on the learner's own attempts and the snapshot."""
from __future__ import annotations

import functools
import io
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime

import eventlet
import numpy as np
import psycopg2.extensions
from sqlalchemy import text

from contracts.errors import AppError, ErrorCode
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.offload import CpuGate
from services.skills import engine
from services.skills.commands.ratings import HOURS_BUCKETS_PER_HOUR, MAX_HOURS_BUCKET, RECOMPUTE_LOCK
from services.skills.models import HoursHistogram, LearnerSkill, MasteryDay, SkillStats
from services.skills.rating import DEFAULT_DEVIATION, DEFAULT_RATING, DEFAULT_VOLATILITY
from services.skills.settings import SkillsSettings

CALIBRATION_LOCK = 7_140_115
SNAPSHOT_LOCK = 7_140_116
COPY_CHUNK_ROWS = 10_000  # one COPY blocks the process (below): tens of milliseconds at a time
FETCH_CHUNK_ROWS = 10_000  # rows converted per call (it holds the GIL: the event loop waits meanwhile)


@functools.cache
def cpu() -> CpuGate:
    """The process's gate for the long CPU work (one recompute at a time per
    replica; the calibration lock already makes it one per installation)."""
    return CpuGate(1, 8, None, lambda: AppError(ErrorCode.SERVICE_UNAVAILABLE, "skills is busy recomputing",
                                                {"retry_after_seconds": 60}))


def _raw(uow: UnitOfWork):
    return uow.session.connection().connection.dbapi_connection


def _fetched(uow: UnitOfWork, sql: str, params=None):
    """A query run cooperatively; its rows are converted by the caller (`.fetchall()`), in the CPU pool."""
    cursor = _raw(uow).cursor()
    cursor.execute(sql, params)
    return cursor


def _all(cursor) -> list:
    """Every row, converted a slice at a time: one fetchall holds the GIL for all of it."""
    rows: list = []
    try:
        while chunk := cursor.fetchmany(FETCH_CHUNK_ROWS):
            rows.extend(chunk)
        return rows
    finally:
        cursor.close()


def copy_in(uow: UnitOfWork, statement: str, lines) -> None:
    """COPY FROM STDIN, COPY_CHUNK_ROWS lines at a time. psycopg2 refuses COPY
    while a wait callback is set (the eventlet-cooperative driver,
    servicekit/green.py): it is lifted for each chunk, which blocks this
    process's other green threads while it lasts; they run between chunks."""
    lines = lines if isinstance(lines, list) else lines.readlines()
    cursor = _raw(uow).cursor()
    try:
        for start in range(0, len(lines), COPY_CHUNK_ROWS):
            chunk = io.StringIO("".join(lines[start:start + COPY_CHUNK_ROWS]))
            callback = psycopg2.extensions.get_wait_callback()
            psycopg2.extensions.set_wait_callback(None)
            try:
                cursor.copy_expert(statement, chunk)
            finally:
                psycopg2.extensions.set_wait_callback(callback)
            eventlet.sleep(0)
    finally:
        cursor.close()


def load_matches(uow: UnitOfWork, until: datetime | None = None) -> dict:
    """Every stored attempt once per skill of its course, as arrays, with integer
    codes for learner-skills and assessments (a total order: attempted_at, statement_id)."""
    attempts = _fetched(
        uow, "SELECT org_id::text, user_id, course_id, item_id, fraction, "
        "(extract(epoch FROM attempted_at) * 1000000)::int8, statement_id "
        "FROM attempts" + (" WHERE attempted_at <= %(until)s" if until else "")
        + " ORDER BY attempted_at, statement_id", {"until": until})
    tags: dict = {}
    for course_id, skill_id, relevance in _all(_fetched(uow, "SELECT course_id, skill_id, relevance "
                                                             "FROM course_skills")):
        tags.setdefault(course_id, []).append((skill_id, relevance))
    snapshot = {r[0]: (r[1], r[2]) for r in _all(_fetched(uow, "SELECT item_id, rating, deviation FROM assessments"))}
    return cpu().run(_matches, attempts, tags, snapshot)


def _matches(attempts, tags: dict, snapshot: dict) -> dict:
    """load_matches' arrays from the attempts' fetched result (CPU only: runs in the pool)."""
    rows = _all(attempts)
    learner_index: dict = {}
    item_index: dict = {}
    skill_index: dict = {}
    course_tags: dict = {}
    a_learner, a_course, a_item, a_fraction, a_time = [], [], [], [], []
    course_index: dict = {}
    for org_id, user_id, course_id, item_id, fraction, epoch, _ in rows:
        a_learner.append(learner_index.setdefault((org_id, user_id), len(learner_index)))
        a_course.append(course_index.setdefault(course_id, len(course_index)))
        a_item.append(item_index.setdefault(item_id, len(item_index)))
        a_fraction.append(fraction)
        a_time.append(epoch)
    n = len(rows)
    learner = np.fromiter(a_learner, np.int64, n)
    course = np.fromiter(a_course, np.int64, n)
    # each course's (skill code, relevance) pairs as a CSR table
    offsets, skills, weights = [0], [], []
    for course_id in course_index:
        for skill_id, relevance in course_tags.setdefault(course_id, tags.get(course_id, [])):
            skills.append(skill_index.setdefault(skill_id, len(skill_index)))
            weights.append(relevance)
        offsets.append(len(skills))
    offsets = np.array(offsets, np.int64)
    per_attempt = offsets[course + 1] - offsets[course]
    attempt_of_match = np.repeat(np.arange(n), per_attempt)
    first = np.repeat(offsets[course], per_attempt)
    within = np.arange(len(attempt_of_match)) - np.repeat(np.cumsum(per_attempt) - per_attempt, per_attempt)
    match_tag = first + within
    skills = np.array(skills, np.int64)
    weights = np.array(weights, float)
    match_skill = skills[match_tag] if len(match_tag) else np.zeros(0, np.int64)
    n_skills = max(len(skill_index), 1)
    ls_code = learner[attempt_of_match] * n_skills + match_skill
    unique_ls, ls_group = np.unique(ls_code, return_inverse=True)
    items = list(item_index)
    item_rating = np.array([snapshot.get(i, (DEFAULT_RATING, DEFAULT_DEVIATION))[0] for i in items], float)
    item_deviation = np.array([snapshot.get(i, (DEFAULT_RATING, DEFAULT_DEVIATION))[1] for i in items], float)
    item = np.fromiter(a_item, np.int64, n)
    return {
        "attempts": n, "statements": [r[6] for r in rows], "learners": list(learner_index),
        "skills": list(skill_index), "items": items,
        "n_skills": n_skills, "unique_ls": unique_ls, "ls_group": ls_group.astype(np.int64),
        "order": attempt_of_match, "match_item": item[attempt_of_match],
        "opp_rating": item_rating[item[attempt_of_match]], "opp_deviation": item_deviation[item[attempt_of_match]],
        "fraction": np.fromiter(a_fraction, float, n)[attempt_of_match],
        "weight": weights[match_tag] if len(match_tag) else np.zeros(0),
        "time": np.fromiter(a_time, float, n)[attempt_of_match],
    }


def compute(matches: dict, settings: SkillsSettings) -> dict:
    return cpu().run(engine.replay, matches["ls_group"], matches["order"], matches["opp_rating"],
                     matches["opp_deviation"], matches["fraction"], matches["weight"], len(matches["unique_ls"]),
                     settings.tau, settings.scale, times=matches["time"])


@contextmanager
def reloading(uow: UnitOfWork, *models):
    """TRUNCATE the tables, drop their primary keys and indexes, let the caller fill
    them, and build the keys and indexes once at the end (much cheaper than
    maintaining them row by row for hundreds of thousands of rows)."""
    connection = uow.session.connection()
    uow.session.execute(text("TRUNCATE " + ", ".join(m.__tablename__ for m in models)))
    for model in models:
        for index in model.__table__.indexes:
            index.drop(connection)
        uow.session.execute(text(f"ALTER TABLE {model.__tablename__} DROP CONSTRAINT {model.__tablename__}_pkey"))
    yield
    for model in models:
        key = ", ".join(c.name for c in model.__table__.primary_key.columns)
        uow.session.execute(text(f"ALTER TABLE {model.__tablename__} ADD CONSTRAINT {model.__tablename__}_pkey "
                                 f"PRIMARY KEY ({key})"))
        for index in model.__table__.indexes:
            index.create(connection)


def _stamps(micros: np.ndarray) -> list[str]:
    """Times kept as microseconds since the epoch (exact in a float64) as ISO text in UTC; NaN (never) as empty."""
    never = np.isnan(micros)
    stamps = np.datetime_as_string(np.where(never, 0, micros).astype(np.int64).astype("datetime64[us]"),
                                   unit="us", timezone="UTC").tolist()
    if never.any():
        for i in np.nonzero(never)[0].tolist():
            stamps[i] = ""
    return stamps


def write_learner_skills(uow: UnitOfWork, matches: dict, result: dict, settings: SkillsSettings) -> int:
    """Replace learner_skills with the recomputed ratings and the hours from course_hours (COPY)."""
    hours = _fetched(uow, "SELECT ch.org_id::text, ch.user_id, cs.skill_id, sum(ch.hours) FROM course_hours ch "
                          "JOIN course_skills cs ON cs.course_id = ch.course_id GROUP BY 1, 2, 3")
    lines = cpu().run(_learner_skill_lines, matches, result, hours, settings.scale)
    with reloading(uow, LearnerSkill):
        copy_in(uow, "COPY learner_skills (org_id, user_id, skill_id, rating, deviation, volatility, score, level, "
                     "level_order, attempts, last_at, last_statement, intermediate_at, advanced_at, hours) "
                     "FROM STDIN WITH (FORMAT text, NULL '')", lines)
    return len(matches["unique_ls"])


def _learner_skill_lines(matches: dict, result: dict, hours_cursor, scale) -> list[str]:
    """learner_skills as COPY text lines (CPU only: runs in the pool)."""
    hours = {(r[0], r[1], r[2]): r[3] for r in _all(hours_cursor)}
    codes = matches["unique_ls"]
    n_skills = matches["n_skills"]
    learner_orgs = np.array([k[0] for k in matches["learners"]], dtype=object)
    learner_users = np.array([k[1] for k in matches["learners"]], dtype=object)
    orgs = learner_orgs[codes // n_skills].tolist() if len(codes) else []
    users = learner_users[codes // n_skills].tolist() if len(codes) else []
    skills = np.array(matches["skills"], dtype=object)[codes % n_skills].tolist() if len(codes) else []
    score = result["score"]
    level = np.where(score >= scale.advanced_from, "ADVANCED",
                     np.where(score >= scale.intermediate_from, "INTERMEDIATE", "BEGINNER"))
    order_of = np.where(level == "ADVANCED", "1", np.where(level == "INTERMEDIATE", "2", "3"))
    last = result["last_row"] if len(codes) else np.zeros(0, np.int64)
    last_at = _stamps(matches["time"][last]) if len(codes) else []
    statements = np.array(matches["statements"], dtype=object)
    last_statement = statements[matches["order"][last]].tolist() if len(codes) else []
    own_hours = [repr(hours.pop(key, 0.0)) for key in zip(orgs, users, skills, strict=True)]

    def texts(values: np.ndarray) -> list[str]:
        return list(map(repr, values.tolist()))  # the shortest exact form, as float8 reads it back

    columns = [orgs, users, skills, texts(result["rating"]), texts(result["deviation"]), texts(result["volatility"]),
               texts(score), level.tolist(), order_of.tolist(), list(map(str, result["attempts"].tolist())),
               last_at, last_statement, _stamps(result["intermediate_at"]), _stamps(result["advanced_at"]),
               own_hours]
    lines = ["\t".join(row) + "\n" for row in zip(*columns, strict=True)]
    lines.extend(f"{org_id}\t{user_id}\t{skill_id}\t\t\t\t\t\t\t0\t\t\t\t\t{value!r}\n"  # hours, no attempt
                 for (org_id, user_id, skill_id), value in hours.items())
    return lines


def rebuild_aggregates(uow: UnitOfWork) -> None:
    s = uow.session
    with reloading(uow, SkillStats, HoursHistogram, MasteryDay):
        s.execute(text(
            "INSERT INTO skill_stats (org_id, skill_id, learners, beginner, intermediate, advanced, score_sum, "
            "attempts, hours_learners, hours_sum) SELECT org_id, skill_id, count(level), "
            "count(*) FILTER (WHERE level = 'BEGINNER'), count(*) FILTER (WHERE level = 'INTERMEDIATE'), "
            "count(*) FILTER (WHERE level = 'ADVANCED'), coalesce(sum(score), 0), sum(attempts), "
            "count(*) FILTER (WHERE hours > 0), sum(hours) FROM learner_skills GROUP BY org_id, skill_id"))
        s.execute(text(
            "INSERT INTO hours_histogram (org_id, skill_id, level, bucket, learners) "
            "SELECT org_id, skill_id, level, LEAST(floor(hours * :per)::int, :most), count(*) FROM learner_skills "
            "WHERE level IS NOT NULL AND hours > 0 GROUP BY 1, 2, 3, 4"),
            {"per": HOURS_BUCKETS_PER_HOUR, "most": MAX_HOURS_BUCKET})
        s.execute(text(
            "INSERT INTO mastery_days (org_id, skill_id, level, day, learners) SELECT org_id, skill_id, level, day, "
            "count(*) FROM (SELECT org_id, skill_id, 'INTERMEDIATE' AS level, "
            "(intermediate_at AT TIME ZONE 'UTC')::date AS day FROM learner_skills WHERE intermediate_at IS NOT NULL "
            "UNION ALL SELECT org_id, skill_id, 'ADVANCED', (advanced_at AT TIME ZONE 'UTC')::date "
            "FROM learner_skills WHERE advanced_at IS NOT NULL) t GROUP BY 1, 2, 3, 4"))


def recompute(uow: UnitOfWork, settings: SkillsSettings) -> dict:
    """Every learner-skill and aggregate from the stored attempts and the current snapshot."""
    started = time.perf_counter()
    uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RECOMPUTE_LOCK})
    uow.session.execute(text("SET LOCAL work_mem = '256MB'"))
    uow.session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    matches = load_matches(uow)
    loaded = time.perf_counter()
    result = compute(matches, settings)
    computed = time.perf_counter()
    count = write_learner_skills(uow, matches, result, settings)
    rebuild_aggregates(uow)
    return {"attempts": matches["attempts"], "matches": len(matches["order"]), "learner_skills": count,
            "seconds": {"load": round(loaded - started, 2), "compute": round(computed - loaded, 2),
                        "write": round(time.perf_counter() - computed, 2),
                        "total": round(time.perf_counter() - started, 2)}}


def calibrate(uow: UnitOfWork, settings: SkillsSettings, force: bool = False) -> dict | None:
    """A new difficulty snapshot from the attempts since the last calibration, then a
    recompute. None when another replica is calibrating or it is not due yet."""
    if not uow.session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CALIBRATION_LOCK}).scalar():
        return None
    started = utcnow()
    last = uow.session.execute(text("SELECT max(cutoff), max(finished_at) FROM calibrations")).first()
    if not force and last[1] is not None and \
            (started - last[1]).total_seconds() < settings.calibration_interval_hours * 3600:
        return None
    since = last[0]
    uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RECOMPUTE_LOCK})
    matches = _fetched(
        uow, "SELECT a.item_id, a.fraction, cs.relevance, coalesce(ls.rating, %(r0)s), coalesce(ls.deviation, %(d0)s) "
        "FROM attempts a JOIN course_skills cs ON cs.course_id = a.course_id "
        "LEFT JOIN learner_skills ls ON ls.org_id = a.org_id AND ls.user_id = a.user_id AND ls.skill_id = cs.skill_id "
        "WHERE a.received_at <= %(cutoff)s" + (" AND a.received_at > %(since)s" if since else ""),
        {"cutoff": started, "since": since, "r0": DEFAULT_RATING, "d0": DEFAULT_DEVIATION})
    current = {r[0]: r for r in _all(_fetched(uow, "SELECT item_id, rating, deviation, volatility FROM assessments"))}
    items, n, (new_r, new_d, new_v) = cpu().run(_calibrated, matches, current, settings.tau)
    if n:
        uow.session.execute(text(
            "INSERT INTO assessments (item_id, rating, deviation, volatility, calibrated_at) "
            "VALUES (:i, :r, :d, :v, :t) ON CONFLICT (item_id) DO UPDATE SET rating = EXCLUDED.rating, "
            "deviation = EXCLUDED.deviation, volatility = EXCLUDED.volatility, calibrated_at = EXCLUDED.calibrated_at"),
            [{"i": item, "r": float(new_r[k]), "d": float(new_d[k]), "v": float(new_v[k]), "t": started}
             for k, item in enumerate(items)])
    done = recompute(uow, settings)
    uow.session.execute(text(
        "INSERT INTO calibrations (started_at, finished_at, cutoff, assessments, attempts, learner_skills) "
        "VALUES (:s, :f, :c, :a, :n, :l)"),
        {"s": started, "f": utcnow(), "c": started, "a": len(items), "n": n, "l": done["learner_skills"]})
    return {"assessments": len(items), "matches": n, **done}


def _calibrated(matches_cursor, current: dict, tau: float) -> tuple[list[str], int, tuple]:
    """The new snapshot of every assessment with matches: (item ids, matches, (ratings, deviations,
    volatilities)) (CPU only: runs in the pool)."""
    rows = _all(matches_cursor)
    items = sorted({r[0] for r in rows})
    if not rows:
        return items, 0, ((), (), ())
    index = {item: i for i, item in enumerate(items)}
    ratings = np.array([current[i][1] if i in current else DEFAULT_RATING for i in items], float)
    deviations = np.array([current[i][2] if i in current else DEFAULT_DEVIATION for i in items], float)
    volatilities = np.array([current[i][3] if i in current else DEFAULT_VOLATILITY for i in items], float)
    return items, len(rows), engine.calibrate(
        ratings, deviations, volatilities, np.array([index[r[0]] for r in rows]),
        np.array([r[3] for r in rows], float), np.array([r[4] for r in rows], float),
        np.array([r[1] for r in rows], float), np.array([r[2] for r in rows], float), tau)


def month_of(day: date) -> date:
    return day.replace(day=1)


def snapshot(uow: UnitOfWork, month: date | None = None) -> int:
    """Record every organization's current average score per skill as the month's
    (the current month's row is refreshed until the month ends)."""
    month = month_of(month or utcnow().date())
    uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SNAPSHOT_LOCK})  # replicas in turn
    uow.session.execute(text("DELETE FROM benchmark_snapshots WHERE month = :m"), {"m": month})
    return uow.session.execute(text(
        "INSERT INTO benchmark_snapshots (month, org_id, skill_id, average, learners) "
        "SELECT :m, org_id, skill_id, score_sum / learners, learners FROM skill_stats WHERE learners > 0"),
        {"m": month}).rowcount


def backfill_snapshots(uow: UnitOfWork, settings: SkillsSettings, months: int) -> int:
    """Snapshots of past months from the stored attempts: each month-end's ratings
    (every attempt up to then, current difficulty snapshot), averaged per organization."""
    today = utcnow().date()
    written = 0
    for back in range(months, 0, -1):
        year, month = today.year, today.month - back
        while month <= 0:
            year, month = year - 1, month + 12
        first = date(year, month, 1)
        next_first = date(year + (month == 12), month % 12 + 1, 1)
        matches = load_matches(uow, until=datetime(next_first.year, next_first.month, 1, tzinfo=UTC))
        if not matches["attempts"]:
            continue
        sums = cpu().run(_org_averages, matches, compute(matches, settings))
        uow.session.execute(text("DELETE FROM benchmark_snapshots WHERE month = :m"), {"m": first})
        uow.session.execute(text(
            "INSERT INTO benchmark_snapshots (month, org_id, skill_id, average, learners) "
            "VALUES (:m, :o, :s, :a, :n)"),
            [{"m": first, "o": o, "s": s, "a": total / count, "n": count} for (o, s), (total, count) in sums.items()])
        written += len(sums)
    return written


def _org_averages(matches: dict, result: dict) -> dict:
    """{(org_id, skill_id): (score sum, learners)} of a replay (CPU only: runs in the pool)."""
    sums: dict = {}
    n_skills = matches["n_skills"]
    for i, code in enumerate(matches["unique_ls"].tolist()):
        key = (matches["learners"][code // n_skills][0], matches["skills"][code % n_skills])
        total, count = sums.get(key, (0.0, 0))
        sums[key] = (total + float(result["score"][i]), count + 1)
    return sums
