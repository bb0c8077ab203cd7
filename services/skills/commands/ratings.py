"""Graded attempts and learning hours into learner-skill ratings, exactly once
and in timestamp order, however many replicas run.

- Every attempt is stored once: `attempts.statement_id` is the primary key
  (INSERT ... ON CONFLICT DO NOTHING), so a redelivered or duplicated
  statement changes nothing.
- Every change of a learner's ratings happens under the row lock of the
  learner (`learners`, SELECT ... FOR UPDATE, taken in sorted order so two
  batches never deadlock), so the updates of one learner-skill are serialized
  across replicas; each transaction re-reads the state once it holds the lock.
- An attempt later than the last applied one (by attempted_at, then
  statement_id) is applied incrementally (one Glicko-2 rating period); an
  earlier one (a late arrival) makes that learner-skill replay all its stored
  attempts in order. Either way the result is the sequential pass's.
- Difficulties come from the current snapshot (`assessments`), which only a
  calibration changes (and it recomputes every rating, commands/recompute.py);
  every handler takes a shared advisory lock that the recompute takes
  exclusively, so no update interleaves with it.

The aggregates the views read (skill_stats, hours_histogram, mastery_days)
change in the same transaction by the difference between each learner-skill's
contribution before and after (`contribution`)."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import text

from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.skills.models import LEVEL_ORDER
from services.skills.rating import Match, Rating, Scale, update
from services.skills.settings import SkillsSettings

RECOMPUTE_LOCK = 7_140_114  # advisory lock: handlers shared, the full recompute exclusive
HOURS_BUCKETS_PER_HOUR = 2  # the hours histogram's resolution: half an hour
MAX_HOURS_BUCKET = 2000  # 1,000 hours and more share the last bucket
DEFAULT_DIFFICULTY = Rating()  # an assessment not calibrated yet


@dataclass(frozen=True)
class State:
    rating: float | None = None
    deviation: float | None = None
    volatility: float | None = None
    score: float | None = None
    level: str | None = None
    attempts: int = 0
    last_at: datetime | None = None
    last_statement: str | None = None
    intermediate_at: datetime | None = None
    advanced_at: datetime | None = None
    hours: float = 0.0


STATE_COLUMNS = ("rating", "deviation", "volatility", "score", "level", "attempts", "last_at", "last_statement",
                 "intermediate_at", "advanced_at", "hours")


def hours_bucket(hours: float) -> int:
    return min(int(math.floor(hours * HOURS_BUCKETS_PER_HOUR)), MAX_HOURS_BUCKET)


def contribution(org_id: str, skill_id: str, state: State | None) -> dict:
    """What one learner-skill adds to each aggregate row (keys are (table, *primary key))."""
    if state is None:
        return {}
    out: dict = {}
    scored = state.level is not None
    out[("skill_stats", org_id, skill_id)] = (
        1 if scored else 0,
        1 if state.level == "BEGINNER" else 0,
        1 if state.level == "INTERMEDIATE" else 0,
        1 if state.level == "ADVANCED" else 0,
        state.score if scored else 0.0,
        state.attempts,
        1 if state.hours > 0 else 0,
        state.hours,
    )
    if scored and state.hours > 0:
        out[("hours_histogram", org_id, skill_id, state.level, hours_bucket(state.hours))] = 1
    if state.intermediate_at is not None:
        out[("mastery_days", org_id, skill_id, "INTERMEDIATE", state.intermediate_at.date())] = 1
    if state.advanced_at is not None:
        out[("mastery_days", org_id, skill_id, "ADVANCED", state.advanced_at.date())] = 1
    return out


def _add(total: dict, part: dict, sign: int) -> None:
    for key, value in part.items():
        if isinstance(value, tuple):
            current = total.get(key) or (0,) * len(value)
            total[key] = tuple(c + sign * v for c, v in zip(current, value, strict=True))
        else:
            total[key] = total.get(key, 0) + sign * value


STATS_COLUMNS = ("learners", "beginner", "intermediate", "advanced", "score_sum", "attempts", "hours_learners",
                 "hours_sum")


def apply_deltas(uow: UnitOfWork, deltas: dict) -> None:
    """Add the deltas to the aggregate rows, in key order (no deadlocks between batches)."""
    stats, hist, days = [], [], []
    for key in sorted(deltas, key=lambda k: tuple(str(p) for p in k)):
        value = deltas[key]
        if isinstance(value, tuple):
            if not any(value):
                continue
            stats.append(dict(zip(("org_id", "skill_id"), key[1:], strict=True))
                         | dict(zip(STATS_COLUMNS, value, strict=True)))
        elif value:
            target = hist if key[0] == "hours_histogram" else days
            target.append((key[1:], value))
    if stats:
        sets = ", ".join(f"{c} = skill_stats.{c} + EXCLUDED.{c}" for c in STATS_COLUMNS)
        uow.session.execute(text(
            f"INSERT INTO skill_stats (org_id, skill_id, {', '.join(STATS_COLUMNS)}) "
            f"VALUES (CAST(:org_id AS uuid), :skill_id, {', '.join(':' + c for c in STATS_COLUMNS)}) "
            f"ON CONFLICT (org_id, skill_id) DO UPDATE SET {sets}"), stats)
    _add_level_counts(uow, "hours_histogram", "bucket", hist)
    _add_level_counts(uow, "mastery_days", "day", days)


def _add_level_counts(uow: UnitOfWork, table: str, key: str, rows: list) -> None:
    """Add learners to a level-count table (hours_histogram by bucket, mastery_days by day)."""
    if rows:
        uow.session.execute(text(
            f"INSERT INTO {table} (org_id, skill_id, level, {key}, learners) "
            f"VALUES (CAST(:o AS uuid), :s, :l, :k, :n) ON CONFLICT (org_id, skill_id, level, {key}) "
            f"DO UPDATE SET learners = {table}.learners + EXCLUDED.learners"),
            [{"o": k[0], "s": k[1], "l": k[2], "k": k[3], "n": n} for k, n in rows])


# ---------------------------------------------------------------- locks and state


def lock_for_update(uow: UnitOfWork, learners: list[tuple[str, str]]) -> None:
    """The shared recompute lock, then every learner's row lock, in sorted order."""
    uow.session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": RECOMPUTE_LOCK})
    keys = sorted(set(learners))
    if not keys:
        return
    params = {"orgs": [k[0] for k in keys], "users": [k[1] for k in keys]}
    uow.session.execute(text(
        "INSERT INTO learners (org_id, user_id) SELECT o, u FROM unnest(CAST(:orgs AS uuid[]), "
        "CAST(:users AS text[])) AS t(o, u) ORDER BY o, u ON CONFLICT DO NOTHING"), params)
    uow.session.execute(text(
        "SELECT 1 FROM learners l JOIN unnest(CAST(:orgs AS uuid[]), CAST(:users AS text[])) AS t(o, u) "
        "ON l.org_id = t.o AND l.user_id = t.u ORDER BY l.org_id, l.user_id FOR UPDATE OF l"), params).all()


def load_states(uow: UnitOfWork, keys: set[tuple[str, str, str]]) -> dict:
    if not keys:
        return {}
    keys = sorted(keys)
    rows = uow.session.execute(text(
        f"SELECT ls.org_id::text, ls.user_id, ls.skill_id, {', '.join('ls.' + c for c in STATE_COLUMNS)} "
        "FROM learner_skills ls JOIN unnest(CAST(:o AS uuid[]), CAST(:u AS text[]), CAST(:s AS text[])) "
        "AS t(o, u, s) ON ls.org_id = t.o AND ls.user_id = t.u AND ls.skill_id = t.s"),
        {"o": [k[0] for k in keys], "u": [k[1] for k in keys], "s": [k[2] for k in keys]}).all()
    return {(r[0], r[1], r[2]): State(*r[3:]) for r in rows}


def save_states(uow: UnitOfWork, before: dict, after: dict) -> None:
    """Write changed learner-skills and move the aggregates by the difference."""
    deltas: dict = {}
    rows = []
    for key in sorted(after):
        new, old = after[key], before.get(key)
        if new == old:
            continue
        _add(deltas, contribution(key[0], key[2], old), -1)
        _add(deltas, contribution(key[0], key[2], new), +1)
        rows.append({"org_id": key[0], "user_id": key[1], "skill_id": key[2],
                     "level_order": LEVEL_ORDER.get(new.level), **{c: getattr(new, c) for c in STATE_COLUMNS}})
    if rows:
        columns = ("org_id", "user_id", "skill_id", "level_order", *STATE_COLUMNS)
        values = ", ".join("CAST(:org_id AS uuid)" if c == "org_id" else f":{c}" for c in columns)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[3:])
        uow.session.execute(text(
            f"INSERT INTO learner_skills ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT (org_id, user_id, skill_id) DO UPDATE SET {sets}"), rows)
    apply_deltas(uow, deltas)


def course_skills(uow: UnitOfWork, course_ids) -> dict[str, list[tuple[str, float]]]:
    out: dict = defaultdict(list)
    rows = uow.session.execute(text("SELECT course_id, skill_id, relevance FROM course_skills "
                                    "WHERE course_id = ANY(:c) ORDER BY course_id, skill_id"),
                               {"c": sorted(set(course_ids))}).all()
    for course_id, skill_id, relevance in rows:
        out[course_id].append((skill_id, relevance))
    return out


def difficulties(uow: UnitOfWork, item_ids) -> dict[str, Rating]:
    rows = uow.session.execute(text("SELECT item_id, rating, deviation, volatility FROM assessments "
                                    "WHERE item_id = ANY(:i)"), {"i": sorted(set(item_ids))}).all()
    return {r[0]: Rating(r[1], r[2], r[3]) for r in rows}


# ---------------------------------------------------------------- the update


def step(state: State, difficulty: Rating, fraction: float, weight: float, at: datetime, statement_id: str,
         scale: Scale, tau: float) -> State:
    """One attempt applied to a learner-skill (one Glicko-2 rating period)."""
    current = Rating(state.rating, state.deviation, state.volatility) if state.rating is not None else Rating()
    new = update(current, [Match(difficulty, fraction, weight)], tau)
    score = scale.score(new.rating)
    return replace(
        state, rating=new.rating, deviation=new.deviation, volatility=new.volatility, score=score,
        level=scale.level(score).value, attempts=state.attempts + 1, last_at=at, last_statement=statement_id,
        intermediate_at=state.intermediate_at or (at if score >= scale.intermediate_from else None),
        advanced_at=state.advanced_at or (at if score >= scale.advanced_from else None))


def unrated(state: State | None) -> State:
    return State(hours=state.hours if state else 0.0)


def replay_stored(uow: UnitOfWork, key: tuple[str, str, str], state: State | None, settings: SkillsSettings,
                  scale: Scale) -> State:
    """A learner-skill recomputed from all its stored attempts, in order."""
    org_id, user_id, skill_id = key
    weights = dict(uow.session.execute(text("SELECT course_id, relevance FROM course_skills WHERE skill_id = :s"),
                                       {"s": skill_id}).all())
    rows = uow.session.execute(text(
        "SELECT attempted_at, statement_id, item_id, fraction, course_id FROM attempts "
        "WHERE org_id = :o AND user_id = :u AND course_id = ANY(:c) ORDER BY attempted_at, statement_id"),
        {"o": org_id, "u": user_id, "c": sorted(weights)}).all()
    snapshot = difficulties(uow, [r.item_id for r in rows])
    fresh = unrated(state)
    for r in rows:
        fresh = step(fresh, snapshot.get(r.item_id, DEFAULT_DIFFICULTY), r.fraction, weights[r.course_id],
                     r.attempted_at, r.statement_id, scale, settings.tau)
    return fresh


def storable_attempt(item: dict) -> dict | None:
    """An attempt as stored, or None when it cannot count (logged by the caller)."""
    org_id = parse_uuid(item.get("org_id"))
    max_score, score = item.get("max_score"), item.get("score")
    if org_id is None or not max_score or max_score <= 0 or score is None or not math.isfinite(score) \
            or not math.isfinite(max_score):
        return None
    for field, most in (("statement_id", 200), ("user_id", 64), ("course_id", 64), ("item_id", 200)):
        if not isinstance(item.get(field), str) or not 0 < len(item[field]) <= most or "\x00" in item[field]:
            return None
    return {"statement_id": item["statement_id"], "org_id": org_id, "user_id": item["user_id"],
            "course_id": item["course_id"], "item_id": item["item_id"],
            "fraction": min(max(score / max_score, 0.0), 1.0), "attempted_at": item["attempted_at"]}


def record_attempts(uow: UnitOfWork, attempts: list[dict], settings: SkillsSettings) -> dict:
    """Store new attempts (once per statement id) and update the ratings they touch."""
    scale = settings.scale
    rows = {a["statement_id"]: a for a in (storable_attempt(item) for item in attempts) if a is not None}
    lock_for_update(uow, [(a["org_id"], a["user_id"]) for a in rows.values()])
    if not rows:
        return {"new": 0, "duplicates": 0, "refused": len(attempts)}
    ordered = [rows[k] for k in sorted(rows)]
    inserted = set(uow.session.execute(text(
        "INSERT INTO attempts (statement_id, org_id, user_id, course_id, item_id, fraction, attempted_at) "
        "SELECT * FROM unnest(CAST(:s AS text[]), CAST(:o AS uuid[]), CAST(:u AS text[]), CAST(:c AS text[]), "
        "CAST(:i AS text[]), CAST(:f AS float8[]), CAST(:t AS timestamptz[])) "
        "ON CONFLICT (statement_id) DO NOTHING RETURNING statement_id"),
        {"s": [a["statement_id"] for a in ordered], "o": [a["org_id"] for a in ordered],
         "u": [a["user_id"] for a in ordered], "c": [a["course_id"] for a in ordered],
         "i": [a["item_id"] for a in ordered], "f": [a["fraction"] for a in ordered],
         "t": [a["attempted_at"] for a in ordered]}).scalars())
    new = sorted((rows[s] for s in inserted), key=lambda a: (a["attempted_at"], a["statement_id"]))
    tags = course_skills(uow, [a["course_id"] for a in new])
    snapshot = difficulties(uow, [a["item_id"] for a in new])
    per_key: dict = defaultdict(list)
    for a in new:
        for skill_id, relevance in tags.get(a["course_id"], ()):
            per_key[(a["org_id"], a["user_id"], skill_id)].append((a, relevance))
    before = load_states(uow, set(per_key))
    after = {}
    for key in sorted(per_key):
        state = before.get(key)
        first = per_key[key][0][0]
        if state is not None and state.last_at is not None and \
                (first["attempted_at"], first["statement_id"]) < (state.last_at, state.last_statement):
            after[key] = replay_stored(uow, key, state, settings, scale)  # a late attempt
            continue
        current = state or State()
        for a, relevance in per_key[key]:
            current = step(current, snapshot.get(a["item_id"], DEFAULT_DIFFICULTY), a["fraction"], relevance,
                           a["attempted_at"], a["statement_id"], scale, settings.tau)
        after[key] = current
    save_states(uow, before, after)
    return {"new": len(new), "duplicates": len(rows) - len(new), "refused": len(attempts) - len(rows)}


def record_hours(uow: UnitOfWork, items: list[dict]) -> int:
    """Learning hours per learner and course (absolute, the latest `as_of` wins); a
    skill's hours are the sum over the courses tagged with it."""
    valid = []
    for item in items:
        org_id = parse_uuid(item.get("org_id"))
        hours = item.get("hours")
        if org_id is None or hours is None or not math.isfinite(hours) or hours < 0 \
                or not isinstance(item.get("user_id"), str) or not 0 < len(item["user_id"]) <= 64 \
                or not isinstance(item.get("course_id"), str) or not 0 < len(item["course_id"]) <= 64 \
                or "\x00" in item["user_id"] + item["course_id"]:
            continue
        valid.append({**item, "org_id": org_id})
    lock_for_update(uow, [(i["org_id"], i["user_id"]) for i in valid])
    latest: dict = {}
    for item in valid:  # one batch may repeat a course: the latest as_of of the batch
        key = (item["org_id"], item["user_id"], item["course_id"])
        if key not in latest or item["as_of"] > latest[key]["as_of"]:
            latest[key] = item
    changes: dict = defaultdict(float)
    for key in sorted(latest):
        item = latest[key]
        old = uow.session.execute(text(
            "SELECT hours, as_of FROM course_hours WHERE org_id = :o AND user_id = :u AND course_id = :c"),
            {"o": key[0], "u": key[1], "c": key[2]}).first()
        if old is not None and old.as_of >= item["as_of"]:
            continue
        uow.session.execute(text(
            "INSERT INTO course_hours (org_id, user_id, course_id, hours, as_of) VALUES (:o, :u, :c, :h, :a) "
            "ON CONFLICT (org_id, user_id, course_id) DO UPDATE SET hours = EXCLUDED.hours, as_of = EXCLUDED.as_of"),
            {"o": key[0], "u": key[1], "c": key[2], "h": item["hours"], "a": item["as_of"]})
        changes[key] = item["hours"] - (old.hours if old is not None else 0.0)
    tags = course_skills(uow, [k[2] for k in changes])
    per_skill: dict = defaultdict(float)
    for (org_id, user_id, course_id), delta in changes.items():
        for skill_id, _ in tags.get(course_id, ()):
            per_skill[(org_id, user_id, skill_id)] += delta
    before = load_states(uow, set(per_skill))
    after = {key: replace(before.get(key) or State(), hours=max((before.get(key) or State()).hours + delta, 0.0))
             for key, delta in per_skill.items() if delta}
    save_states(uow, before, after)
    return len(changes)
