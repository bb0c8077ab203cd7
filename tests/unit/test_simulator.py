"""The learning-platform simulator's activity generator (scripts/simulate/generator.py): statements in the
native format of docs (design api.md "Activity"), sessions, graded attempts, determinism."""
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from scripts.simulate import generator
from scripts.simulate.generator import Course, Learner, course_items, learner_statements, load_statements, plan_course

END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AI = Course("daG-a-O1EeijKBISCWxf6g", item_count=30, lesson_count=6, graded_item_count=8, estimated_hours=8)
ML = Course("Gtv4Xb1-EeS-ViIACwYKVQ", item_count=45, lesson_count=11, graded_item_count=12, estimated_hours=54)
LEARNERS = [Learner(str(uuid.UUID(int=n))) for n in range(1, 121)]


def parse(stamp: str) -> datetime:
    assert stamp.endswith("Z") and len(stamp) == len("2026-03-01T09:15:00.000Z"), stamp
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def all_plans(course=AI, end=END, seed="s1"):
    return [plan_course(seed, "org-1", learner, course, end) for learner in LEARNERS]


def check_statement(s: dict, course: Course) -> None:
    """The native format: what design/api.md's "Activity" section allows."""
    assert set(s) <= {"id", "actor", "verb", "object", "result", "timestamp"}
    uuid.UUID(s["id"])
    assert set(s["actor"]) == {"user_id"}
    assert s["verb"] in ("started", "completed", "graded", "viewed")
    obj = s["object"]
    if obj["type"] == "course":
        assert s["verb"] == "completed" and obj == {"type": "course", "id": course.id}
    else:
        assert obj["type"] == "item" and obj["course_id"] == course.id
        assert obj["item_type"] in ("video", "reading", "quiz", "assignment")
        assert obj["id"].startswith(obj["lesson_id"] + "-i") and obj["lesson_id"].startswith(course.id + "-l")
        assert len(obj["id"]) <= 64
        if "name" in obj:  # the realistic plans name their items (gradebooks); the load mode does not
            assert obj["name"].startswith("Lesson ") and obj["item_type"].capitalize() in obj["name"]
    if s["verb"] == "graded":
        assert obj["item_type"] in ("quiz", "assignment")
        result = s["result"]
        assert set(result) == {"score", "max_score", "passed", "attempt"}
        assert 0 <= result["score"] <= result["max_score"] and result["attempt"] >= 1
        assert isinstance(result["passed"], bool)
    else:
        assert "result" not in s
    parse(s["timestamp"])


def test_course_items_respect_the_catalog_counts():
    items = course_items(AI)
    assert len(items) == 30 and len({i.id for i in items}) == 30
    assert len({i.lesson_id for i in items}) == 6
    assert sum(i.graded for i in items) == 8
    assert Counter(i.item_type for i in items)["assignment"] >= 1
    assert items == course_items(AI)
    assert course_items(Course("empty", 0, 0)) == []
    odd = course_items(Course("odd", item_count=3, lesson_count=10, graded_item_count=5))
    assert len(odd) == 3 and all(i.graded for i in odd) and len({i.lesson_id for i in odd}) == 3


def test_statements_are_valid_native_statements():
    plans = all_plans()
    statements = [s for p in plans for s in p.statements]
    assert len(statements) > 1000
    for s in statements:
        check_statement(s, AI)
    assert len({s["id"] for s in statements}) == len(statements)
    verbs = Counter(s["verb"] for s in statements)
    assert verbs["started"] and verbs["completed"] and verbs["graded"] and verbs["viewed"]


def test_the_same_seed_gives_the_same_statements_and_another_seed_others():
    assert [p.statements for p in all_plans()] == [p.statements for p in all_plans()]
    other = all_plans(seed="s2")
    assert not {s["id"] for p in all_plans() for s in p.statements} & {s["id"] for p in other for s in p.statements}


def test_ids_do_not_depend_on_the_day_of_the_run():
    """Rerunning the demo on a later day resends the same ids (duplicates), only shifted in time."""
    today = all_plans(end=END)
    later = all_plans(end=END + timedelta(days=3, hours=5))
    for a, b in zip(today, later, strict=True):
        assert [s["id"] for s in a.statements] == [s["id"] for s in b.statements]
        assert [parse(s["timestamp"]) + timedelta(days=3, hours=5) for s in a.statements] == \
               [parse(s["timestamp"]) for s in b.statements]


def test_statements_fall_within_the_period_and_in_order():
    start = END - timedelta(days=90)
    for plan in all_plans():
        times = [parse(s["timestamp"]) for s in plan.statements]
        assert times == sorted(times)
        assert all(start <= t <= END for t in times)


def test_sessions_have_short_gaps_inside_and_long_gaps_between():
    """Statements come in sessions: gaps are either at most 40 minutes (in a session) or at least 2 hours."""
    sessions_per_learner = []
    for plan in all_plans():
        times = [parse(s["timestamp"]) for s in plan.statements]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g <= generator.MAX_GAP_IN_SESSION or g >= generator.MIN_GAP_BETWEEN_SESSIONS for g in gaps)
        sessions_per_learner.append(1 + sum(g >= generator.MIN_GAP_BETWEEN_SESSIONS for g in gaps) if times else 0)
    assert max(sessions_per_learner) >= 5  # some learners come back many times
    assert Counter(n == 1 for n in sessions_per_learner)[True] >= 1  # some try once


def test_item_started_then_completed_graded_items_pass_before_completion():
    for plan in all_plans(ML):
        state = defaultdict(list)
        for s in plan.statements:
            if s["object"]["type"] == "item":
                state[s["object"]["id"]].append(s)
        for item_id, events in state.items():
            verbs = [e["verb"] for e in events if e["verb"] != "viewed"]
            assert verbs[0] == "started", (item_id, verbs)
            if "completed" in verbs:
                assert verbs.count("completed") == 1 and verbs[-1] == "completed"
            graded = [e["result"] for e in events if e["verb"] == "graded"]
            if graded:
                assert [g["attempt"] for g in graded] == list(range(1, len(graded) + 1))
                assert all(not g["passed"] for g in graded[:-1])  # retried only after failing
                assert ("completed" in verbs) == graded[-1]["passed"]


def test_failed_attempts_are_retried_and_scores_vary():
    graded = [s["result"] for p in all_plans(ML) for s in p.statements if s["verb"] == "graded"]
    assert any(not g["passed"] and g["attempt"] == 1 for g in graded)
    assert any(g["passed"] and g["attempt"] >= 2 for g in graded)  # failed, retried, passed
    assert len({g["score"] for g in graded if g["max_score"] == 100}) > 10
    for g in graded:
        assert g["passed"] == (g["score"] >= g["max_score"] * generator.PASS_SHARE[
            "quiz" if g["max_score"] == generator.MAX_SCORE["quiz"] else "assignment"])


def test_course_completion_follows_every_item():
    plans = all_plans()
    finished = [p for p in plans if p.completed_course]
    assert 0.2 * len(plans) <= len(finished) <= 0.6 * len(plans)  # some complete, most do not
    for plan in plans:
        completions = [s for s in plan.statements if s["object"]["type"] == "course"]
        done_items = {s["object"]["id"] for s in plan.statements if s["verb"] == "completed"
                      and s["object"]["type"] == "item"}
        if completions:
            assert plan.completed_course and completions == [plan.statements[-1]]
            assert done_items == {i.id for i in course_items(AI)}
        else:
            assert len(done_items) < 30
    engagement = Counter(p.engagement for p in plans)
    assert set(engagement) == {"completes", "partial", "light"}


def test_a_learners_courses_follow_one_another_and_merge_in_time_order():
    learner = LEARNERS[0]
    both = learner_statements("s1", "org-1", learner, [AI, ML], END)
    assert [s["timestamp"] for s in both] == sorted(s["timestamp"] for s in both)
    assert {s["object"].get("course_id", s["object"]["id"]) for s in both} <= {AI.id, ML.id}
    assert both == learner_statements("s1", "org-1", learner, [AI, ML], END)


def test_load_statements_are_valid_and_fresh_unless_seeded():
    rows = load_statements(5000, LEARNERS[:10], [AI, ML])
    assert len(rows) == 5000 and len({s["id"] for s in rows}) == 5000
    for s in rows:
        check_statement(s, AI if s["object"]["course_id"] == AI.id else ML)
    assert not {s["id"] for s in rows} & {s["id"] for s in load_statements(5000, LEARNERS[:10], [AI, ML])}
    assert load_statements(100, LEARNERS, [AI], seed="x") == load_statements(100, LEARNERS, [AI], seed="x")
    with pytest.raises(ValueError):
        load_statements(1, [], [AI])
