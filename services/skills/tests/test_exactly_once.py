"""Ordered, exactly-once updates with replicas: three skills containers consume
a shuffled, partly duplicated stream of graded attempts (duplicate statements
inside and across events, redelivered events); every learner-skill ends with
exactly the rating of one sequential pass over the distinct attempts in
timestamp order with the same difficulty snapshot, and the aggregates equal a
full rebuild."""
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from contracts.reporting import ATTEMPTS_GRADED
from servicekit import config
from servicekit.standalone import unit_of_work
from services.skills.commands import recompute
from services.skills.rating import Match, Rating, update
from services.skills.settings import SkillsSettings
from tests.support.waiting import wait_for

TAGS = {"t-c1": [("t-alpha", 1.0)], "t-c2": [("t-beta", 1.0)], "t-c3": [("t-alpha", 0.6), ("t-beta", 0.4)]}


def rows(sql, **params):
    engine = create_engine(config.database_url("skills"))
    with engine.connect() as conn:
        result = conn.execute(text(sql), params).all()
    engine.dispose()
    return result


def make_attempts(org_id, learners=6, per_learner=40, seed=7):
    rng = random.Random(seed)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    attempts = []
    for u in range(learners):
        user_id = f"user-{u}"
        for k in range(per_learner):
            course = rng.choice(sorted(TAGS))
            # some attempts share a timestamp: the statement id breaks the tie
            at = start + timedelta(minutes=rng.randrange(0, 2000) if k % 7 else 5)
            attempts.append({"statement_id": str(uuid.uuid4()), "org_id": org_id, "user_id": user_id,
                             "course_id": course, "item_id": f"{course}-i{rng.randrange(4)}", "attempt": 1,
                             "score": float(rng.randrange(0, 11)), "max_score": 10.0, "passed": None,
                             "attempted_at": at.isoformat()})
    return attempts


def sequential_pass(attempts, snapshot):
    """The reference: each learner-skill's distinct attempts in (attempted_at, statement_id) order."""
    ratings = defaultdict(Rating)
    distinct = {a["statement_id"]: a for a in attempts}.values()
    for a in sorted(distinct, key=lambda a: (datetime.fromisoformat(a["attempted_at"]), a["statement_id"])):
        for skill_id, weight in TAGS[a["course_id"]]:
            key = (a["user_id"], skill_id)
            ratings[key] = update(ratings[key], [Match(snapshot.get(a["item_id"], Rating()),
                                                       a["score"] / a["max_score"], weight)])
    return ratings


@pytest.fixture
def snapshot():
    """A difficulty snapshot (as a calibration would leave it) for half the items."""
    items = {f"{c}-i{k}": Rating(1350 + 100 * k, 60 + 20 * k, 0.06) for c in TAGS for k in range(2)}
    with unit_of_work("skills") as uow:
        for item_id, r in items.items():
            uow.session.execute(text(
                "INSERT INTO assessments (item_id, rating, deviation, volatility, calibrated_at) "
                "VALUES (:i, :r, :d, :v, now()) ON CONFLICT (item_id) DO UPDATE SET rating = EXCLUDED.rating, "
                "deviation = EXCLUDED.deviation, volatility = EXCLUDED.volatility"),
                {"i": item_id, "r": r.rating, "d": r.deviation, "v": r.volatility})
    return items


def test_three_replicas_shuffled_and_duplicated_stream_equals_one_sequential_pass(start_skills, snapshot):
    publish = start_skills(replicas=3)
    org_id = str(uuid.uuid4())
    attempts = make_attempts(org_id)
    rng = random.Random(11)
    stream = attempts + rng.sample(attempts, 60)  # 60 statements delivered twice, in other events
    rng.shuffle(stream)
    envelopes, at = [], 0
    while at < len(stream):
        size = rng.randrange(1, 12)
        batch = stream[at:at + size]
        batch += rng.sample(batch, min(2, len(batch))) if rng.random() < 0.2 else []  # duplicates inside one event
        envelopes.append(publish.envelope(ATTEMPTS_GRADED, {"attempts": batch}, org_id=org_id))
        at += size
    redelivered = rng.sample(envelopes, 8)  # the same events again (at-least-once delivery)
    publish.send(*envelopes, *redelivered)

    handler = "skills.on_attempts_graded"
    ids = [e["id"] for e in envelopes]
    wait_for(lambda: rows("SELECT count(*) FROM kit_processed_events WHERE handler = :h AND event_id = ANY(:i)",
                          h=handler, i=ids)[0][0] == len(ids), timeout=120)
    assert rows("SELECT count(*) FROM attempts WHERE org_id = :o", o=org_id)[0][0] == len(attempts)

    expected = sequential_pass(attempts, snapshot)
    got = {(r.user_id, r.skill_id): r for r in rows(
        "SELECT user_id, skill_id, rating, deviation, volatility, attempts FROM learner_skills WHERE org_id = :o",
        o=org_id)}
    assert set(got) == set(expected)
    for key, reference in expected.items():
        # the same arithmetic in the same order: equal to the last bit
        assert (got[key].rating, got[key].deviation, got[key].volatility) == \
            (reference.rating, reference.deviation, reference.volatility), key
    counts = defaultdict(int)
    for a in attempts:
        for skill_id, _ in TAGS[a["course_id"]]:
            counts[(a["user_id"], skill_id)] += 1
    assert {k: r.attempts for k, r in got.items()} == counts

    # the aggregates kept by deltas equal a full rebuild (the vectorised recompute)
    stats = "SELECT skill_id, learners, beginner, intermediate, advanced, score_sum, attempts FROM skill_stats " \
            "WHERE org_id = :o ORDER BY skill_id"
    days = "SELECT skill_id, level, day, learners FROM mastery_days WHERE org_id = :o AND learners <> 0 ORDER BY 1,2,3"
    keys = "SELECT user_id, skill_id, last_at, last_statement, intermediate_at, advanced_at, level, attempts " \
           "FROM learner_skills WHERE org_id = :o ORDER BY 1, 2"
    incremental_stats, incremental_days = rows(stats, o=org_id), rows(days, o=org_id)
    incremental_keys = rows(keys, o=org_id)
    with unit_of_work("skills") as uow:
        recompute.recompute(uow, SkillsSettings.from_env({}))
    rebuilt = rows(stats, o=org_id)
    assert [r[:5] + r[6:] for r in rebuilt] == [r[:5] + r[6:] for r in incremental_stats]
    assert [r[5] for r in rebuilt] == pytest.approx([r[5] for r in incremental_stats], abs=1e-6)
    assert rows(days, o=org_id) == incremental_days
    assert rows(keys, o=org_id) == incremental_keys
    after = {(r.user_id, r.skill_id): r for r in rows(
        "SELECT user_id, skill_id, rating, deviation, volatility FROM learner_skills WHERE org_id = :o", o=org_id)}
    for key, reference in expected.items():
        assert after[key].rating == pytest.approx(reference.rating, abs=1e-6)
        assert after[key].deviation == pytest.approx(reference.deviation, abs=1e-6)


def test_a_late_attempt_replays_the_learner_skill(start_skills):
    """Directly through the command: a learner's attempts arrive newest first."""
    from services.skills.commands import ratings

    org_id = str(uuid.uuid4())
    attempts = [a for a in make_attempts(org_id, learners=1, per_learner=12, seed=3)]
    settings = SkillsSettings.from_env({})
    for a in sorted(attempts, key=lambda a: a["attempted_at"], reverse=True):
        with unit_of_work("skills") as uow:
            item = {**a, "attempted_at": datetime.fromisoformat(a["attempted_at"])}
            assert ratings.record_attempts(uow, [item], settings)["new"] == 1
    with unit_of_work("skills") as uow:  # and once more: nothing changes
        again = [{**a, "attempted_at": datetime.fromisoformat(a["attempted_at"])} for a in attempts]
        assert ratings.record_attempts(uow, again, settings) == {"new": 0, "duplicates": 12, "refused": 0}
    snapshot = {r[0]: Rating(r[1], r[2], r[3]) for r in rows(
        "SELECT item_id, rating, deviation, volatility FROM assessments")}
    expected = sequential_pass(attempts, snapshot)
    got = {(r.user_id, r.skill_id): r.rating for r in rows(
        "SELECT user_id, skill_id, rating FROM learner_skills WHERE org_id = :o", o=org_id)}
    assert got == {k: v.rating for k, v in expected.items()}
