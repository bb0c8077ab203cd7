"""The admin home's counters (services/reporting/home.py) on the real
PostgreSQL: the handlers are called with real envelopes, in shuffled orders
and with redeliveries (the kit's de-duplication bypassed), and the summary
and funnel must equal the hand-counted figures and a set-based rebuild from
the projection; ingestion's learning time and lessons likewise, late
statements included."""
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from contracts.envelope import Envelope, make_envelope
from contracts.invitations import INVITATION_ACCEPTED, INVITATION_CREATED, INVITATION_REVOKED, INVITATIONS_CREATED
from contracts.programs import ENROLLMENT_CREATED, MEMBER_JOINED, MEMBER_REMOVED, PROGRAM_CREATED
from servicekit.standalone import unit_of_work
from services.reporting import handlers, home, queries
from services.reporting.commands import ingestion
from services.reporting.tests.support import at, item, seed_course, seed_member

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
COURSE = "home-course-H"


@pytest.fixture(autouse=True)
def course(service_databases):
    seed_course(COURSE, item_count=6)


def envelope(event, payload, minute: int) -> Envelope:
    raw = make_envelope(event, payload, source=event.source, org_id=payload["org_id"])
    raw["occurred_at"] = (T0 + timedelta(minutes=minute)).isoformat()
    return Envelope.load(raw)


def story(org: str) -> tuple[list, dict]:
    """Two programs; five invitees (one on their own, four by CSV import); what
    then happens to them, with the minute it happens. Returns (events, the
    expected funnel per program name)."""
    p1, p2, contract = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    people = {name: str(uuid.uuid4()) for name in "ABCDE"}
    invitation = {name: str(uuid.uuid4()) for name in "ABCDE"}

    def program(pid, name, minute):
        return (handlers.on_program_saved, envelope(PROGRAM_CREATED, {
            "program_id": pid, "org_id": org, "name": name, "slug": name.lower(), "tagline": None,
            "join_url": "https://x.example/j", "contract_ids": [contract], "enrollment_limit": None}, minute))

    def created_item(name):
        return {"invitation_id": invitation[name], "user_id": people[name], "email": f"{name}@h.example",
                "full_name": name, "external_id": None, "accept_url": None,
                "expires_at": (T0 + timedelta(days=14)).isoformat()}

    shared = {"org_id": org, "contract_id": contract, "send_email": True, "custom_message": None,
              "invited_by": None}
    batch = envelope(INVITATIONS_CREATED, {**shared, "program_id": p1, "program_name": "One",
                                           "import_id": str(uuid.uuid4()),
                                           "invitations": [created_item(n) for n in "ABCD"]}, 1)
    single = envelope(INVITATION_CREATED, {**shared, "program_id": p2, "program_name": "Two", **created_item("E")}, 2)

    def closed(event, name, program_id, minute, **extra):
        return envelope(event, {"invitation_id": invitation[name], "org_id": org, "program_id": program_id,
                                "user_id": people[name], "email": f"{name}@h.example", **extra}, minute)

    def member(event, name, program_id, minute, **extra):
        return envelope(event, {"membership_id": str(uuid.uuid4()), "org_id": org, "program_id": program_id,
                                "program_name": "x", "user_id": people[name], "email": f"{name}@h.example",
                                "full_name": name, "contract_id": contract, **extra}, minute)

    def enrollment(name, program_id, minute, kind="COURSE"):
        return envelope(ENROLLMENT_CREATED, {
            "enrollment_id": str(uuid.uuid4()), "org_id": org, "program_id": program_id, "user_id": people[name],
            "course_id": COURSE if kind == "COURSE" else None, "specialization_id": None if kind == "COURSE"
            else "home-spec", "email": None, "full_name": None, "kind": kind, "item_name": "H", "item_slug": "h",
            "collection_id": None, "enrolled_at": (T0 + timedelta(minutes=minute)).isoformat()}, minute)

    events = [
        program(p1, "One", 0), program(p2, "Two", 0),
        (lambda uow, e: handlers.on_invitations_created(uow, e, e.payload["invitations"]), batch),
        (lambda uow, e: handlers.on_invitations_created(uow, e, [e.payload]), single),
        (lambda uow, e: handlers.on_invitation_closed(uow, e, "ACCEPTED"),
         closed(INVITATION_ACCEPTED, "A", p1, 10, accepted_at=(T0 + timedelta(minutes=10)).isoformat())),
        (lambda uow, e: handlers.on_invitation_closed(uow, e, "ACCEPTED"),
         closed(INVITATION_ACCEPTED, "B", p1, 11, accepted_at=(T0 + timedelta(minutes=11)).isoformat())),
        (lambda uow, e: handlers.on_invitation_closed(uow, e, "REVOKED"),
         closed(INVITATION_REVOKED, "C", p1, 12, reason="ADMIN")),
        (handlers.on_member_joined, member(MEMBER_JOINED, "A", p1, 10, invitation_id=None,
                                           joined_at=(T0 + timedelta(minutes=10)).isoformat())),
        (handlers.on_member_joined, member(MEMBER_JOINED, "B", p1, 11, invitation_id=None,
                                           joined_at=(T0 + timedelta(minutes=11)).isoformat())),
        (handlers.on_member_joined, member(MEMBER_JOINED, "E", p2, 13, invitation_id=None,
                                           joined_at=(T0 + timedelta(minutes=13)).isoformat())),
        (handlers.on_enrollment_created, enrollment("A", p1, 20)),
        (handlers.on_enrollment_created, enrollment("A", p1, 21, "SPECIALIZATION")),
        (handlers.on_enrollment_created, enrollment("E", p2, 22)),
        (handlers.on_member_removed, member(MEMBER_REMOVED, "B", p1, 30, reason="ADMIN_REMOVED",
                                            removed_at=(T0 + timedelta(minutes=30)).isoformat())),
    ]
    expected = {
        # A joined and enrolled; B joined, then removed (still joined, no longer a member); C revoked; D pending
        "One": {"invited": 4, "pending_invitations": 1, "joined": 2, "enrolled": 1, "joined_not_enrolled": 0},
        "Two": {"invited": 1, "pending_invitations": 1, "joined": 1, "enrolled": 1, "joined_not_enrolled": 0},
    }
    return events, expected


def apply(events) -> None:
    for handler, event in events:
        with unit_of_work("reporting") as uow:
            handler(uow, event)


def home_figures(org: str) -> tuple[dict, dict]:
    with unit_of_work("reporting") as uow:
        funnel = queries.funnel(uow, org, None)
        summary = queries.summary(uow, org, None)
    keys = ("invited", "pending_invitations", "joined", "enrolled", "joined_not_enrolled")
    return ({p["name"]: {k: p[k] for k in keys} for p in funnel["programs"]},
            {k: summary[k] for k in ("enrollments", "course_enrollments", "specialization_enrollments")})


def rebuilt(org: str) -> tuple[dict, dict]:
    """The figures once the counters are recomputed from the projection (rolled back afterwards)."""
    with unit_of_work("reporting") as uow:
        home.rebuild(uow.session, org)
        uow.session.flush()
        funnel = queries.funnel(uow, org, None)
        summary = queries.summary(uow, org, None)
        uow.session.rollback()
    keys = ("invited", "pending_invitations", "joined", "enrolled", "joined_not_enrolled")
    return ({p["name"]: {k: p[k] for k in keys} for p in funnel["programs"]},
            {k: summary[k] for k in ("enrollments", "course_enrollments", "specialization_enrollments")})


def test_in_order():
    org = str(uuid.uuid4())
    events, expected = story(org)
    apply(events)
    funnel, summary = home_figures(org)
    assert funnel == expected
    assert summary == {"enrollments": 3, "course_enrollments": 2, "specialization_enrollments": 1}
    assert rebuilt(org) == (funnel, summary)


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_and_redelivered(seed):
    """Any arrival order, every event possibly delivered two or three times: the same figures."""
    rng = random.Random(seed)
    org = str(uuid.uuid4())
    events, expected = story(org)
    delivered = [e for e in events for _ in range(rng.choice([1, 1, 2, 3]))]
    rng.shuffle(delivered)
    # the programs are known before the funnel is read (it lists programs), not necessarily before the rest
    apply(delivered)
    funnel, summary = home_figures(org)
    assert funnel == expected
    assert summary == {"enrollments": 3, "course_enrollments": 2, "specialization_enrollments": 1}
    assert rebuilt(org) == (funnel, summary)


def test_program_admin_sees_their_programs_counts():
    org = str(uuid.uuid4())
    events, expected = story(org)
    apply(events)
    with unit_of_work("reporting") as uow:
        two = uow.session.execute(text("SELECT program_id::text FROM programs WHERE org_id = :o AND name = 'Two'"),
                                  {"o": org}).scalar()
        funnel = queries.funnel(uow, org, [two])
        summary = queries.summary(uow, org, [two])
    assert [p["name"] for p in funnel["programs"]] == ["Two"] and funnel["invited"] == 1
    assert summary["enrollments"] == 1


def hours_and_lessons(org: str, programs: list[str] | None, start: str | None) -> tuple:
    """The summary's learning hours and lessons taken, with this subscription start (if given)."""
    if start:
        with unit_of_work("reporting") as uow:
            uow.session.execute(text("INSERT INTO orgs (org_id, name, subscription_start) VALUES (:o, 'H', :s) "
                                     "ON CONFLICT (org_id) DO UPDATE SET subscription_start = :s"),
                                {"o": org, "s": start})
    with unit_of_work("reporting") as uow:
        s = queries.summary(uow, org, programs)
    return s["learning_hours"], s["lessons_taken"]


def test_activity_counters_follow_late_statements():
    """Learning time and lessons per day: a late statement that moves a lesson's first completion to the
    day before moves it in the counters too (a subscription start between the two days sees it leave)."""
    member = seed_member()
    org, actor = member["org_id"], {"user_id": member["user_id"]}
    day2 = datetime(2026, 3, 3, tzinfo=UTC)
    on_day2 = [item("started", at("09:00", day2), COURSE, "h1", "L1", actor=actor),
               item("completed", at("09:20", day2), COURSE, "h1", "L1", actor=actor),
               item("completed", at("09:50", day2), COURSE, "h2", "L2", actor=actor)]
    late = [item("started", at("22:00"), COURSE, "h3", "L1", actor=actor),
            item("completed", at("22:30"), COURSE, "h3", "L1", actor=actor)]  # L1 first taken the day before
    with unit_of_work("reporting") as uow:
        assert ingestion.ingest_native(uow, org, on_day2, None)["accepted"] == 3
    with unit_of_work("reporting") as uow:
        assert ingestion.ingest_native(uow, org, late + late[:1], None)["accepted"] == 2

    def figures(start):
        return hours_and_lessons(org, None, start)

    assert figures("2026-03-01") == (round(80 / 60, 2), 2)  # 30 min on the 2nd, 50 on the 3rd; L1 and L2
    assert figures("2026-03-03") == (round(50 / 60, 2), 1)  # only L2 was first taken on the 3rd
    with unit_of_work("reporting") as uow:
        counters = uow.session.execute(text(
            "SELECT day, sum(hours_us), sum(lessons) FROM home_activity_days WHERE org_id = :o GROUP BY day "
            "ORDER BY day"), {"o": org}).all()
        home.rebuild(uow.session, org)
        again = uow.session.execute(text(
            "SELECT day, sum(hours_us), sum(lessons) FROM home_activity_days WHERE org_id = :o GROUP BY day "
            "ORDER BY day"), {"o": org}).all()
        uow.session.rollback()
    assert counters == again


COURSE2, COURSE3, SPEC = "home-course-H2", "home-course-H3", "home-spec-S"


def program_figures_exact(org: str, programs: list[str], start: str = "1970-01-01") -> tuple:
    """The reference: hours and lessons summed from the learners' figures, each (learner, course) once."""
    enrolled = queries.ENROLLED_COURSES.format(scope=" AND e.program_id = ANY(CAST(:programs AS uuid[]))")
    params = {"org": org, "programs": programs, "start": start}
    with unit_of_work("reporting") as uow:
        hours = uow.session.execute(text(
            f"WITH ec AS ({enrolled}) SELECT coalesce(sum(cd.hours_us), 0) FROM course_days cd JOIN ec "
            "ON ec.user_id = cd.user_id AND ec.course_id = cd.course_id WHERE cd.org_id = :org "
            "AND cd.day >= CAST(:start AS date)"), params).scalar()
        lessons = uow.session.execute(text(
            f"WITH ec AS ({enrolled}) SELECT count(*) FROM learner_lessons ll JOIN ec "
            "ON ec.user_id = ll.user_id AND ec.course_id = ll.course_id WHERE ll.org_id = :org "
            "AND ll.first_completed_at >= CAST(:start AS date)"), params).scalar()
    return round(float(hours) / 3_600_000_000, 2), lessons


@pytest.mark.parametrize("seed", range(5))
def test_program_counters_in_any_order(seed):
    """Per-program hours and lessons (courses enrolled through the program, specializations' courses too):
    enrollments before or after the statements, the specialization's course list known before or after its
    enrollment and changed later, a course two programs share: the program admin's summary equals the
    learners' figures summed (each learner and course once)."""
    from services.reporting.commands import catalog

    rng = random.Random(seed)
    seed_course(COURSE2, item_count=4)
    seed_course(COURSE3, item_count=4)
    org, p1, p2 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    ann, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with unit_of_work("reporting") as uow:
        for program, user in ((p1, ann), (p2, ann), (p2, bob)):
            uow.session.execute(text("INSERT INTO memberships (program_id, user_id, org_id, state, joined_at) "
                                     "VALUES (:p, :u, :o, 'MEMBER', now())"), {"p": program, "u": user, "o": org})

    def enroll(user, program, course=None, spec=None, minute=0):
        payload = {"enrollment_id": str(uuid.uuid4()), "org_id": org, "program_id": program, "user_id": user,
                   "course_id": course, "specialization_id": spec, "email": None, "full_name": None,
                   "kind": "COURSE" if course else "SPECIALIZATION", "item_name": "x", "item_slug": "x",
                   "collection_id": None, "enrolled_at": (T0 + timedelta(minutes=minute)).isoformat()}
        return lambda: apply([(handlers.on_enrollment_created, envelope(ENROLLMENT_CREATED, payload, minute))])

    def spec_courses(courses):
        def save():
            with unit_of_work("reporting") as uow:
                catalog.save_specializations(uow, [{"id": SPEC, "slug": "s", "name": "S", "partner": "U",
                                                    "course_ids": courses}])
        return save

    def learn(user, course, day, lesson):
        actor = {"user_id": user}
        when = datetime(2026, 3, day, tzinfo=UTC)
        batch = [item("started", at("09:00", when), course, f"{course}-a", lesson, actor=actor),
                 item("completed", at("09:25", when), course, f"{course}-a", lesson, actor=actor),
                 item("completed", at("09:40", when), course, f"{course}-b", lesson + "x", actor=actor)]

        def send():
            with unit_of_work("reporting") as uow:
                assert ingestion.ingest_native(uow, org, batch, None)["rejected"] == []
        return send

    steps = [enroll(ann, p1, course=COURSE, minute=1), enroll(ann, p2, spec=SPEC, minute=2),
             enroll(bob, p2, course=COURSE2, minute=3), spec_courses([COURSE, COURSE2]),
             learn(ann, COURSE, 2, "L1"), learn(ann, COURSE2, 3, "L2"), learn(ann, COURSE3, 4, "L3"),
             learn(bob, COURSE2, 2, "L1"), learn(bob, COURSE, 5, "L9")]
    rng.shuffle(steps)
    for step in steps:
        step()
    spec_courses([COURSE, COURSE2, COURSE3])()  # the catalog's specialization gains a course

    def program_summary(programs, start=None):
        return hours_and_lessons(org, programs, start)

    for scope in ([p1], [p2], [p1, p2]):
        assert program_summary(scope) == program_figures_exact(org, scope), scope
    assert program_summary([p1]) == (round(40 / 60, 2), 2)  # Ann's COURSE only
    assert program_summary([p2]) > program_summary([p1])
    assert program_summary([p2], "2026-03-03") == program_figures_exact(org, [p2], "2026-03-03")
    with unit_of_work("reporting") as uow:  # the counters equal a rebuild from the projection
        def tables():
            return [uow.session.execute(text(sql), {"o": org}).all() for sql in (
                "SELECT program_id, user_id, course_id FROM home_program_courses WHERE org_id = :o ORDER BY 1, 2, 3",
                "SELECT program_id, day, sum(hours_us), sum(lessons) FROM home_program_days WHERE org_id = :o "
                "GROUP BY 1, 2 HAVING sum(hours_us) <> 0 OR sum(lessons) <> 0 ORDER BY 1, 2",
                "SELECT program_a, program_b, pairs FROM home_program_overlaps WHERE org_id = :o AND pairs <> 0 "
                "ORDER BY 1, 2")]
        kept = tables()
        home.rebuild(uow.session, org)
        assert tables() == kept
        uow.session.rollback()
    assert kept[2] and kept[2][0][2] == 1  # Ann's COURSE: in P1 by enrollment, in P2 by the specialization
