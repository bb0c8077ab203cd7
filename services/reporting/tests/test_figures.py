"""Sessions, learning hours and enrollment figures from statements, on the
real PostgreSQL (commands called in a unit of work, no broker): the
hand-checked fixture, idempotency, arrival order, per-statement rejection."""
import copy
import random
import uuid

import pytest
from sqlalchemy import text

from contracts.envelope import jsonable
from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.reporting import queries
from services.reporting.commands import ingestion
from services.reporting.tests.support import at, course_statement, item, seed_course, seed_member

C, D = "rep-course-C", "rep-course-D"
MIN = 60_000_000  # microseconds


@pytest.fixture(autouse=True)
def courses(service_databases):
    seed_course(C, item_count=4)
    seed_course(D, item_count=5)


def ingest(org_id, statements):
    with unit_of_work("reporting") as uow:
        return ingestion.ingest_native(uow, org_id, statements, fetch_courses=None)


def figures(org_id, user_id):
    with unit_of_work("reporting") as uow:
        return jsonable(queries.learner(uow, org_id, user_id))


def fixture_statements(actor):
    """Session 1: 09:00–09:45 (45 min); a 61-minute gap; session 2: 10:46–11:05 (19 min).
    Item i1 completed twice; two graded quizzes (best 90 % and 70 %); the 09:20
    statement (course D) arrives last."""
    on_time = [
        item("started", at("09:00"), C, "i1", "l1", actor=actor),
        item("completed", at("09:10"), C, "i1", "l1", actor=actor),
        item("graded", at("09:30"), C, "q1", "l2", "quiz", actor, {"score": 6, "max_score": 10, "attempt": 1}),
        item("graded", at("09:40"), C, "q1", "l2", "quiz", actor, {"score": 9, "max_score": 10, "attempt": 2,
                                                                   "passed": True}),
        item("graded", at("09:42"), C, "q2", "l2", "quiz", actor, {"score": 7, "max_score": 10}),
        item("completed", at("09:45"), C, "i1", "l1", actor=actor),  # the same item again
        item("started", at("10:46"), D, "d1", "dl1", actor=actor),  # 61 minutes later: a new session
        item("completed", at("11:00"), D, "d1", "dl1", actor=actor),
        course_statement("completed", at("11:05"), C, actor),
    ]
    late = item("viewed", at("09:20"), D, "d0", actor=actor)
    return on_time, late


def test_hand_checked_fixture():
    member = seed_member()
    on_time, late = fixture_statements({"email": member["email"]})
    assert ingest(member["org_id"], on_time) == {"accepted": 9, "duplicates": 0, "rejected": []}
    before = {c["course_id"]: c for c in figures(member["org_id"], member["user_id"])["courses"]}
    assert before[C]["learning_hours_us"] == 50 * MIN and before[D]["learning_hours_us"] == 14 * MIN
    assert ingest(member["org_id"], [late])["accepted"] == 1

    result = figures(member["org_id"], member["user_id"])
    assert result["sessions"] == 2
    assert result["learning_hours_us"] == 64 * MIN and result["learning_hours"] == 1.07
    courses = {c["course_id"]: c for c in result["courses"]}
    # the late 09:20 statement takes 09:10–09:20 to course D; 09:20–09:30 stays with C's quiz
    assert courses[C]["learning_hours_us"] == 40 * MIN
    assert courses[D]["learning_hours_us"] == 24 * MIN
    assert courses[C]["items_completed"] == 1 and courses[C]["overall_progress"] == 25.0
    assert courses[C]["lessons_taken"] == 1 and courses[D]["lessons_taken"] == 1
    assert courses[C]["course_grade"] == 80.0  # mean of the best scores: 90 % and 70 %
    assert courses[C]["completed"] and courses[C]["completed_at"].startswith("2026-03-02T11:05")
    assert not courses[D]["completed"] and courses[D]["overall_progress"] == 20.0
    assert courses[C]["last_activity_at"].startswith("2026-03-02T11:05")
    assert courses[D]["last_activity_at"].startswith("2026-03-02T11:00")


def test_resending_changes_nothing_and_counts_duplicates():
    member = seed_member()
    on_time, late = fixture_statements({"user_id": member["user_id"]})
    ingest(member["org_id"], on_time + [late])
    first = figures(member["org_id"], member["user_id"])
    again = ingest(member["org_id"], on_time + [late])
    assert again == {"accepted": 0, "duplicates": 10, "rejected": []}
    # a resent id with other content is still a duplicate, and the same id twice in one batch too
    changed = copy.deepcopy(on_time[0])
    changed["timestamp"] = at("23:00")
    fresh = item("viewed", at("11:06"), C, "i9", actor={"user_id": member["user_id"]})
    assert ingest(member["org_id"], [changed, fresh, fresh]) == {"accepted": 1, "duplicates": 2, "rejected": []}
    after = figures(member["org_id"], member["user_id"])
    assert after["learning_hours_us"] == first["learning_hours_us"] + MIN
    assert after["sessions"] == first["sessions"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_any_arrival_order_equals_a_sorted_replay(seed):
    rng = random.Random(seed)
    sorted_member = seed_member()
    shuffled_member = seed_member()
    base = []
    for day in range(3):  # three days of a realistic learner over two courses, gaps from seconds to hours
        minute = 0
        for _ in range(25):
            minute += rng.choice([1, 3, 7, 15, 40, 59, 60, 61, 90, 200])
            when = at(f"{6 + minute // 60:02d}:{minute % 60:02d}").replace("02T", f"{2 + day:02d}T")
            course = rng.choice([C, D])
            verb = rng.choice(["started", "completed", "viewed", "graded"])
            if verb == "graded":
                base.append(item(verb, when, course, f"q{rng.randint(1, 3)}", "lq", "quiz", None,
                                 {"score": rng.randint(0, 10), "max_score": 10}))
            else:
                base.append(item(verb, when, course, f"i{rng.randint(1, 6)}", f"l{rng.randint(1, 3)}"))
    base.append(item("viewed", at("08:00"), C, "i1"))  # two statements at the very same time
    base.append(item("viewed", at("08:00"), D, "i2"))

    def for_member(member, statements):  # the same ids (ties at one time are ordered by id), another org
        out = copy.deepcopy(statements)
        for s in out:
            s["actor"] = {"user_id": member["user_id"]}
        return out

    ordered = for_member(sorted_member, sorted(base, key=lambda s: s["timestamp"]))
    ingest(sorted_member["org_id"], ordered)
    shuffled = for_member(shuffled_member, base)
    rng.shuffle(shuffled)
    while shuffled:  # batches of random sizes, in random order
        size = rng.randint(1, 12)
        ingest(shuffled_member["org_id"], shuffled[:size])
        shuffled = shuffled[size:]
    expected = figures(sorted_member["org_id"], sorted_member["user_id"])
    got = figures(shuffled_member["org_id"], shuffled_member["user_id"])
    for result in (expected, got):
        result.pop("user_id")
    assert got == expected
    assert expected["sessions"] >= 2 and expected["learning_hours_us"] > 0
    with unit_of_work("reporting") as uow:  # per-day figures add up to the learner's hours too
        days = uow.session.execute(text("SELECT sum(hours_us) FROM course_days WHERE org_id = :o"),
                                   {"o": shuffled_member["org_id"]}).scalar()
    assert days == got["learning_hours_us"]


def test_each_statement_is_checked_on_its_own():
    member = seed_member()
    former = seed_member(org_id=member["org_id"], state="DELETED_MEMBER")
    stranger = seed_member()  # a member of another organization
    actor = {"email": member["email"]}
    good = item("started", at("09:00"), C, "i1", actor=actor)
    batch = [
        good,
        {**good, "id": "not-a-uuid"},
        item("started", at("09:01"), C, "i1", actor={"email": stranger["email"]}),
        item("started", at("09:02"), "no-such-course", "i1", actor=actor),
        item("graded", at("09:03"), C, "i1", item_type="video", actor=actor, result={"score": 1, "max_score": 2}),
        item("graded", at("09:04"), C, "q1", item_type="quiz", actor=actor, result={"score": 3, "max_score": 2}),
        {**good, "id": str(uuid.uuid4()), "timestamp": "2026-03-02 09:00"},
        {**good, "id": str(uuid.uuid4()), "verb": "liked"},
        "not an object",
        item("started", at("09:05"), C, "i1", actor={"user_id": former["user_id"]}),  # a former member: fine
        {**good, "id": str(uuid.uuid4()), "timestamp": "2999-01-01T00:00:00Z"},
        {**good, "id": str(uuid.uuid4()), "extra": 1},
    ]
    result = ingest(member["org_id"], batch)
    assert result["accepted"] == 2 and result["duplicates"] == 0
    codes = {r["index"]: r["code"] for r in result["rejected"]}
    assert codes == {1: "INVALID_STATEMENT", 2: "UNKNOWN_LEARNER", 3: "UNKNOWN_COURSE", 4: "INVALID_STATEMENT",
                     5: "INVALID_STATEMENT", 6: "INVALID_STATEMENT", 7: "INVALID_STATEMENT", 8: "INVALID_STATEMENT",
                     10: "INVALID_STATEMENT", 11: "INVALID_STATEMENT"}
    assert all(r["message"] for r in result["rejected"])
    assert figures(stranger["org_id"], stranger["user_id"])["statements"] == 0


def test_at_most_a_thousand_statements():
    from contracts.errors import AppError

    member = seed_member()
    with pytest.raises(AppError) as refused:
        ingest(member["org_id"], [item("viewed", at("09:00"), C, "i1", actor={"email": member["email"]})] * 1001)
    assert refused.value.code == "INVALID_INPUT"


def test_concurrent_batches_of_one_learner_equal_a_sorted_replay():
    """Replicas (here: green threads, each its own transaction) ingesting batches
    of the same learners at once: the learner's row lock orders them."""
    import eventlet

    rng = random.Random(7)
    members = [seed_member() for _ in range(2)]
    org_id = members[0]["org_id"]
    twin = seed_member(org_id=org_id)
    statements = []
    for n in range(120):
        when = at(f"{6 + n // 12:02d}:{(n * 5) % 60:02d}")
        statements.append(item(rng.choice(["started", "completed", "viewed"]), when, rng.choice([C, D]),
                               f"i{rng.randint(1, 5)}", f"l{rng.randint(1, 3)}"))
    for s in statements:
        s["actor"] = {"user_id": twin["user_id"]}
    shuffled = copy.deepcopy(statements)
    rng.shuffle(shuffled)
    batches = [shuffled[i:i + 10] for i in range(0, len(shuffled), 10)]
    pool = eventlet.GreenPool(4)
    results = list(pool.imap(lambda batch: ingest(org_id, batch), batches))
    assert sum(r["accepted"] for r in results) == 120

    reference = seed_member()
    for s in statements:
        s["actor"] = {"user_id": reference["user_id"]}
    ingest(reference["org_id"], sorted(statements, key=lambda s: s["timestamp"]))
    got, expected = figures(org_id, twin["user_id"]), figures(reference["org_id"], reference["user_id"])
    got.pop("user_id"), expected.pop("user_id")
    assert got == expected


def test_a_duplicate_id_among_new_statements_does_not_bend_the_credits():
    """An id already stored (here under another learner) sent again amid a
    learner's new statements is a duplicate; the others' credits are as if it
    had never been sent."""
    a = seed_member()
    b = seed_member(org_id=a["org_id"])
    reference = seed_member()
    taken = item("viewed", at("09:00"), C, "i1", actor={"user_id": a["user_id"]})
    ingest(a["org_id"], [taken])
    first = item("started", at("10:00"), C, "i1", actor={"user_id": b["user_id"]})
    last = item("completed", at("10:50"), D, "i2", "l1", actor={"user_id": b["user_id"]})
    reused = {**taken, "actor": {"user_id": b["user_id"]}, "timestamp": at("10:20")}
    assert ingest(a["org_id"], [first, reused, last]) == {"accepted": 2, "duplicates": 1, "rejected": []}
    for s in (first, last):
        s["actor"] = {"user_id": reference["user_id"]}
    ingest(reference["org_id"], [first, last])
    got, expected = figures(a["org_id"], b["user_id"]), figures(reference["org_id"], reference["user_id"])
    got.pop("user_id"), expected.pop("user_id")
    assert got == expected and got["learning_hours_us"] == 50 * MIN


def test_enrollment_figures_for_courses_and_specializations():
    """Figures attach to enrollments; a course not enrolled counts in hours only;
    a specialization is complete when every one of its courses is."""
    member = seed_member()
    org_id, user_id, program_id = member["org_id"], member["user_id"], member["program_id"]
    spec = f"rep-spec-{uuid.uuid4().hex[:8]}"
    with unit_of_work("reporting") as uow:
        uow.session.execute(text(
            "INSERT INTO specializations (specialization_id, slug, name, partner, course_ids) "
            "VALUES (:s, :s, 'Spec', 'Test University', CAST(:courses AS text[]))"), {"s": spec, "courses": [C, D]})
        for kind, course, specialization in (("COURSE", C, None), ("SPECIALIZATION", None, spec)):
            uow.session.execute(text(
                "INSERT INTO enrollments (enrollment_id, org_id, program_id, user_id, kind, course_id, "
                "specialization_id, enrolled_at) VALUES (:id, :o, :p, :u, :k, :c, :s, now())"),
                {"id": str(uuid.uuid4()), "o": org_id, "p": program_id, "u": user_id, "k": kind, "c": course,
                 "s": specialization})
    actor = {"user_id": user_id}
    ingest(org_id, [item("completed", at("09:00"), C, "i1", "l1", actor=actor),
                    course_statement("completed", at("09:30"), C, actor),
                    item("viewed", at("09:40"), D, "d1", actor=actor)])
    with unit_of_work("reporting") as uow:
        (course,) = queries.course_enrollment_figures(uow, org_id, None)
        (specialization,) = queries.specialization_enrollment_figures(uow, org_id, None)
        assert queries.course_enrollment_figures(uow, org_id, [str(uuid.uuid4())]) == []
    assert course["course_id"] == C and course["learning_hours"] == 0.5 and course["overall_progress"] == 25.0
    assert course["completed"] and course["lessons_taken"] == 1
    assert specialization["last_activity_at"].hour == 9 and specialization["last_activity_at"].minute == 40
    assert not specialization["completed"]
    ingest(org_id, [course_statement("completed", at("10:00"), D, actor)])
    with unit_of_work("reporting") as uow:
        (specialization,) = queries.specialization_enrollment_figures(uow, org_id, None)
    assert specialization["completed"] and specialization["completed_at"].hour == 10
    # D's 10 minutes count in the learner's hours, not in a usage row (no course enrollment in D)
    assert figures(org_id, user_id)["learning_hours_us"] == 60 * MIN


def test_a_member_is_known_by_their_profile_email_too():
    member = seed_member(email=None)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    with unit_of_work("reporting") as uow:
        uow.session.execute(text("UPDATE memberships SET email = NULL WHERE user_id = :u"), {"u": member["user_id"]})
        uow.session.execute(text("INSERT INTO people (org_id, user_id, email, full_name) VALUES (:o, :u, :e, 'P')"),
                            {"o": member["org_id"], "u": member["user_id"], "e": email})
    result = ingest(member["org_id"], [item("viewed", at("09:00"), C, "i1", actor={"email": email.upper()})])
    assert result["accepted"] == 1


def test_each_batch_publishes_graded_attempts_and_learning_hours():
    member = seed_member()
    on_time, late = fixture_statements({"user_id": member["user_id"]})
    ingest(member["org_id"], on_time)
    ingest(member["org_id"], [late])
    ingest(member["org_id"], on_time)  # all duplicates: nothing published
    with unit_of_work("reporting") as uow:
        events = [row[0] for row in uow.session.execute(text(
            "SELECT envelope FROM kit_outbox WHERE envelope->>'org_id' = :o ORDER BY id"), {"o": member["org_id"]})]
    assert [e["type"] for e in events] == ["reporting.attempts.graded.v1", "reporting.learning_hours.updated.v1",
                                           "reporting.learning_hours.updated.v1"]
    attempts = events[0]["payload"]["attempts"]
    assert sorted((a["item_id"], a["score"], a["max_score"]) for a in attempts) == [
        ("q1", 6.0, 10.0), ("q1", 9.0, 10.0), ("q2", 7.0, 10.0)]
    assert {a["statement_id"] for a in attempts} == {s["id"] for s in on_time if s["verb"] == "graded"}
    first = {h["course_id"]: h for h in events[1]["payload"]["hours"]}
    second = {h["course_id"]: h for h in events[2]["payload"]["hours"]}
    assert first[C]["hours"] == 50 / 60 and first[D]["hours"] == 14 / 60
    # the late statement moved 10 minutes from C to D: both courses again, each with a later as_of
    assert second[C]["hours"] == 40 / 60 and second[D]["hours"] == 24 / 60
    assert second[C]["as_of"] > first[C]["as_of"] and second[D]["as_of"] > first[D]["as_of"]


def test_openedx_course_keys_and_item_names():
    """xAPI statements naming their course by an Open edX key are stored against the
    catalog course; the items' names are kept (the latest statement's name wins)."""
    from services.reporting.tests.test_xapi import openedx_problem_check

    seed_course("edx-C1", slug="ai-for-everyone-edx")
    member = seed_member()

    def statement(minute, name):
        s = openedx_problem_check(actor={"mbox": f"mailto:{member['email']}"}, timestamp=at(f"09:{minute:02d}"))
        s["context"]["contextActivities"]["parent"][0]["id"] = \
            "https://lms.example.com/course/course-v1:DeepLearningAI+ai-for-everyone-edx+2026_T1"
        s["object"]["definition"]["name"] = {"en-US": name}
        return s

    with unit_of_work("reporting") as uow:
        ingestion.ingest_xapi(uow, member["org_id"], [statement(30, "Renamed quiz")], None)
    with unit_of_work("reporting") as uow:
        ingestion.ingest_xapi(uow, member["org_id"], [statement(10, "Old name")], None)  # older: not the name
    with unit_of_work("reporting") as uow:
        stored = uow.session.execute(text("SELECT DISTINCT course_id FROM statements WHERE org_id = :o"),
                                     {"o": member["org_id"]}).scalars().all()
        names = uow.session.execute(text("SELECT course_id, name FROM item_names WHERE org_id = :o"),
                                    {"o": member["org_id"]}).all()
    assert stored == ["edx-C1"] and names == [("edx-C1", "Renamed quiz")]
    unknown = statement(40, "x")
    unknown["context"]["contextActivities"]["parent"][0]["id"] = "https://lms.example.com/course/course-v1:X+nope+1"
    with pytest.raises(AppError) as refused, unit_of_work("reporting") as uow:
        ingestion.ingest_xapi(uow, member["org_id"], [unknown], None)
    assert refused.value.details["statements"][0]["code"] == "UNKNOWN_COURSE"
