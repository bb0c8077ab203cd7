"""reporting end to end (issue 13 core): learning activity through the
gateway (native and xAPI), figures, the admin home (summary, funnel), and who
may call what. Every process runs; events travel over RabbitMQ."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from servicekit.standalone import unit_of_work
from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import add_program_admin, program_with_contract
from tests.e2e.test_programs_tenancy import invited_person
from tests.support.waiting import wait_for

XAPI = {"X-Experience-API-Version": "1.0.3"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def world(suite, api):
    """An organization with two programs; program A offers two courses; Ada and
    Bo joined A (Ada enrolled in the first course, Bo in the second), Cy joined B; a pending
    invitation in A; an LMS token (activity:write) and a read-only token."""
    from services.programs.commands import catalog
    from tests.e2e.conftest import create_org

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    org_id, admin, _ = create_org(suite, api)
    program_a, contract_a = program_with_contract(admin, org_id)
    program_b, contract_b = program_with_contract(admin, org_id)
    courses = admin.get("/v1/catalog/courses", params={"limit": 3}).json()["items"]
    collection = admin.post(f"/v1/programs/{program_a['id']}/collections", json={"name": "Start here"}).json()
    added = admin.post(f"/v1/collections/{collection['id']}/items",
                       json={"course_ids": [courses[0]["id"], courses[1]["id"]]})
    assert added.status_code == 200, added.text
    ada = invited_person(suite, api, admin, program_a, contract_a)
    bo = invited_person(suite, api, admin, program_a, contract_a)
    cy = invited_person(suite, api, admin, program_b, contract_b)
    pending = admin.post("/v1/invitations", json={"program_id": program_a["id"], "contract_id": contract_a["id"],
                                                  "full_name": "Pat Pending", "email": f"{unique('p')}@example.com",
                                                  "send_email": False})
    assert pending.status_code == 201, pending.text
    enrolled = ada.post("/v1/enrollments", json={"program_id": program_a["id"], "course_id": courses[0]["id"],
                                                 "collection_id": collection["id"]})
    assert enrolled.status_code in (200, 201), enrolled.text
    enrolled = bo.post("/v1/enrollments", json={"program_id": program_a["id"], "course_id": courses[1]["id"]})
    assert enrolled.status_code in (200, 201), enrolled.text
    people = {name: {**who.get("/v1/me").json(), "api": who} for name, who in (("ada", ada), ("bo", bo), ("cy", cy))}
    lms = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("lms"), "scopes": ["activity:write"]})
    reader = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("r"), "scopes": ["programs:read"]})
    assert lms.status_code == 201 and reader.status_code == 201, (lms.text, reader.text)
    return {"org_id": org_id, "admin": admin, "program_a": program_a, "program_b": program_b, "courses": courses,
            "people": people, "lms": Api(api.base_url, lms.json()["token"]),
            "reader": Api(api.base_url, reader.json()["token"]), "contract_a": contract_a}


def statement(who: dict, verb: str, when: datetime, course: str, item: str = "item-1", lesson: str | None = "l1",
              item_type: str = "video", result: dict | None = None, by: str = "email") -> dict:
    body = {"id": str(uuid.uuid4()), "actor": {by: who["email"] if by == "email" else who["id"]}, "verb": verb,
            "object": {"type": "item", "id": item, "course_id": course, "item_type": item_type},
            "timestamp": iso(when)}
    if lesson:
        body["object"]["lesson_id"] = lesson
    if result is not None:
        body["result"] = result
    return body


def send_until_known(lms: Api, statements: list, accepted: int) -> dict:
    """Members become known to reporting when programs' events arrive: retry until they are."""
    def attempt():
        response = lms.post("/v1/activity", json={"statements": statements})
        assert response.status_code == 200, response.text
        body = response.json()
        return body if not any(r["code"] == "UNKNOWN_LEARNER" for r in body["rejected"]) else None
    body = wait_for(attempt, timeout=30, interval=0.5)
    assert body["accepted"] + body["duplicates"] >= accepted, body
    return body


def test_activity_figures_summary_and_funnel(world):
    ada, course = world["people"]["ada"], world["courses"][0]["id"]
    start = datetime.now(UTC) - timedelta(hours=5)
    session = [
        statement(ada, "started", start, course, "v1"),
        statement(ada, "completed", start + timedelta(minutes=10), course, "v1"),
        statement(ada, "graded", start + timedelta(minutes=30), course, "q1", "l2", "quiz",
                  {"score": 8, "max_score": 10, "passed": True, "attempt": 1}),
        # 61 minutes later: a second session
        statement(ada, "completed", start + timedelta(minutes=91), course, "v2", "l2", by="user_id"),
        statement(ada, "completed", start + timedelta(minutes=100), course, "v1"),  # again
    ]
    result = send_until_known(world["lms"], session, 5)
    assert result == {"accepted": 5, "duplicates": 0, "rejected": []}
    again = world["lms"].post("/v1/activity", json={"statements": session})
    assert again.json() == {"accepted": 0, "duplicates": 5, "rejected": []}

    admin, org_id = world["admin"], world["org_id"]
    summary = wait_for(lambda: (s := admin.get(f"/v1/orgs/{org_id}/summary").json())["learning_hours"] and s)
    # 30 minutes + 9 minutes: the 61-minute gap is not counted
    assert summary["learning_hours"] == round(39 / 60, 2) and summary["learning_hours_estimated"] is True
    assert summary["lessons_taken"] == 2 and summary["enrollments"] == 2
    funnel = wait_for(lambda: (f := admin.get(f"/v1/orgs/{org_id}/funnel").json())["enrolled"] == 2 and f)
    assert (funnel["invited"], funnel["joined"], funnel["enrolled"]) == (4, 3, 2)
    per_program = {p["program_id"]: p for p in funnel["programs"]}
    a, b = per_program[world["program_a"]["id"]], per_program[world["program_b"]["id"]]
    assert (a["invited"], a["joined"], a["enrolled"], a["pending_invitations"], a["joined_not_enrolled"]) == \
        (3, 2, 2, 1, 0)
    assert (b["invited"], b["joined"], b["enrolled"]) == (1, 1, 0)


def test_unknown_learners_and_bad_statements_are_rejected_by_index(world, make_org):
    ada, course = world["people"]["ada"], world["courses"][1]["id"]
    now = datetime.now(UTC) - timedelta(minutes=1)
    stranger = {"email": f"{unique('nobody')}@example.com", "id": str(uuid.uuid4())}
    batch = [statement(ada, "viewed", now, course, "r1", item_type="reading"),
             statement(stranger, "viewed", now, course),
             statement(stranger, "viewed", now, course, by="user_id"),
             {"id": "x"},
             statement(ada, "viewed", now, "no-such-course-id")]
    body = send_until_known(world["lms"], batch[:1], 1)
    body = world["lms"].post("/v1/activity", json={"statements": batch}).json()
    assert body["duplicates"] == 1 and body["accepted"] == 0
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "UNKNOWN_LEARNER"), (2, "UNKNOWN_LEARNER"), (3, "INVALID_STATEMENT"), (4, "UNKNOWN_COURSE")]
    # a member of another organization is unknown to this organization's token
    other_org, other_admin, _ = make_org()
    other_lms = other_admin.post(f"/v1/orgs/{other_org}/api-tokens",
                                 json={"name": "lms", "scopes": ["activity:write"]}).json()["token"]
    other = Api(world["lms"].base_url, other_lms).post("/v1/activity", json={"statements": [
        statement(ada, "viewed", now, course, by="user_id")]})
    assert other.status_code == 200 and other.json()["rejected"][0]["code"] == "UNKNOWN_LEARNER"
    too_many = world["lms"].post("/v1/activity", json={"statements": [batch[0]] * 1001})
    assert too_many.status_code == 400


def test_who_may_call_what(world, api, make_org):
    org_id, admin = world["org_id"], world["admin"]
    ada = world["people"]["ada"]
    one = {"statements": [statement(ada, "viewed", datetime.now(UTC), world["courses"][0]["id"])]}
    # activity: API tokens with activity:write only
    assert api.post("/v1/activity", json=one).status_code == 401
    assert admin.post("/v1/activity", json=one).status_code == 403
    refused = world["reader"].post("/v1/activity", json=one)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert world["reader"].post("/v1/xapi/statements", json=[], headers=dict(XAPI)).status_code == 403
    # the admin home: admins in scope only
    for path in ("summary", "funnel"):
        assert admin.get(f"/v1/orgs/{org_id}/{path}").status_code == 200
        assert world["lms"].get(f"/v1/orgs/{org_id}/{path}").status_code == 403
        assert ada["api"].get(f"/v1/orgs/{org_id}/{path}").status_code == 404  # a learner
        other_org, other_admin, _ = make_org()
        assert other_admin.get(f"/v1/orgs/{org_id}/{path}").status_code == 404
        assert admin.get(f"/v1/orgs/{other_org}/{path}").status_code == 404
        assert admin.get(f"/v1/orgs/not-a-uuid/{path}").status_code == 404
        assert api.get(f"/v1/orgs/{org_id}/{path}").status_code == 401


def test_program_admin_sees_their_programs_only(world, suite, api):
    """A program admin of B: no figure of A's learners, invitations or enrollments."""
    org_id = world["org_id"]
    b_admin = add_program_admin(suite, api, org_id, [world["program_b"]["id"]])
    funnel = b_admin.get(f"/v1/orgs/{org_id}/funnel").json()
    assert [p["program_id"] for p in funnel["programs"]] == [world["program_b"]["id"]]
    assert (funnel["invited"], funnel["joined"], funnel["enrolled"]) == (1, 1, 0)
    summary = b_admin.get(f"/v1/orgs/{org_id}/summary").json()
    assert summary["enrollments"] == 0 and summary["learning_hours"] == 0 and summary["lessons_taken"] == 0
    a_admin = add_program_admin(suite, api, org_id, [world["program_a"]["id"]])
    summary_a = wait_for(lambda: (s := a_admin.get(f"/v1/orgs/{org_id}/summary").json())["learning_hours"] and s)
    assert summary_a["enrollments"] == 2


def test_messaging_activity_presets_ask_reporting(world):
    """Enrolled but inactive for N days, and completed a course: the people reporting names."""
    ada, bo = world["people"]["ada"], world["people"]["bo"]
    org_id, admin, course = world["org_id"], world["admin"], world["courses"][0]["id"]

    def count(audience):
        response = admin.post(f"/v1/orgs/{org_id}/audience", json=audience)
        assert response.status_code == 200, response.text
        return response.json()["count"]

    completed = {"preset": "COMPLETED_COURSE", "filters": {"course_ids": [course]}}
    assert count(completed) == 0
    done = {"id": str(uuid.uuid4()), "actor": {"email": ada["email"]}, "verb": "completed",
            "object": {"type": "course", "id": course}, "timestamp": iso(datetime.now(UTC) - timedelta(hours=2))}
    assert send_until_known(world["lms"], [done], 1)["accepted"] == 1
    assert wait_for(lambda: count(completed) == 1, timeout=10)
    # Ada learned today; Bo (enrolled) never did; Cy is not enrolled
    assert count({"preset": "INACTIVE_FOR_DAYS", "days": 1}) == 1
    old = {"id": str(uuid.uuid4()), "actor": {"email": bo["email"]}, "verb": "viewed",
           "object": {"type": "course", "id": world["courses"][1]["id"]},
           "timestamp": iso(datetime.now(UTC) - timedelta(days=3))}
    assert send_until_known(world["lms"], [old], 1)["accepted"] == 1
    assert count({"preset": "INACTIVE_FOR_DAYS", "days": 2}) == 1  # Bo: active 3 days ago only
    assert count({"preset": "INACTIVE_FOR_DAYS", "days": 5}) == 0
    refused = admin.post(f"/v1/orgs/{org_id}/audience", json={"preset": "INACTIVE_FOR_DAYS"})
    assert refused.status_code == 400


def test_xapi_subset_through_the_gateway(world, suite):
    """Open edX-shaped statements: ids answered in order, resending is fine,
    the same id with other content is 409, one bad statement stores none."""
    from sqlalchemy import create_engine, text

    from services.reporting.tests.test_xapi import openedx_problem_check, openedx_video_played

    ada, lms, course = world["people"]["ada"], world["lms"], world["courses"][0]
    iri = f"https://lms.example.com/course/{course['slug']}"

    def shaped(statement):
        statement["actor"] = {"objectType": "Agent", "mbox": f"mailto:{ada['email']}"}
        statement["context"]["contextActivities"]["parent"][0]["id"] = iri
        statement["timestamp"] = iso(datetime.now(UTC) - timedelta(minutes=30))
        return statement

    batch = [shaped(openedx_video_played()), shaped(openedx_problem_check())]
    batch[1]["timestamp"] = iso(datetime.now(UTC) - timedelta(minutes=20))
    engine = create_engine(suite.database_url("reporting"))

    def stored():
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM statements WHERE org_id = :o AND source = 'xapi'"),
                                {"o": world["org_id"]}).scalar()

    assert lms.post("/v1/xapi/statements", json=batch).status_code == 400  # no version header
    answer = lms.post("/v1/xapi/statements", json=batch, headers=dict(XAPI))
    assert answer.status_code == 200, answer.text
    assert answer.json() == [s["id"] for s in batch] and answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert stored() == 2
    assert lms.post("/v1/xapi/statements", json=batch[0], headers=dict(XAPI)).json() == [batch[0]["id"]]  # resent: fine
    changed = {**batch[1], "result": {"success": False, "score": {"raw": 1, "max": 10}}}
    conflict = lms.post("/v1/xapi/statements", json=[changed], headers=dict(XAPI))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "CONFLICT"
    good = shaped(openedx_problem_check())
    bad = shaped(openedx_problem_check())
    bad["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    refused = lms.post("/v1/xapi/statements", json=[good, bad], headers=dict(XAPI))
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["statements"][0]["index"] == 1
    unknown_course = shaped(openedx_problem_check())
    unknown_course["context"]["contextActivities"]["parent"][0]["id"] = "https://lms.example.com/course/nope-nope"
    assert lms.post("/v1/xapi/statements", json=[good, unknown_course], headers=dict(XAPI)).status_code == 400
    assert stored() == 2  # nothing of the refused batches
    graded = world["admin"].get(f"/v1/orgs/{world['org_id']}/summary").json()
    assert graded["learning_hours"] > 0
    engine.dispose()


def test_openedx_course_keys_through_the_gateway(world, suite):
    """Statements as Open edX's event-routing-backends emit them: the course named by its
    course-v1 key (plain, percent-encoded, or only inside a block key), mapped to the catalog
    course whose slug is the key's course code; the problem's name becomes the gradebook's
    Assessment; a key naming no catalog course is refused (400 UNKNOWN_COURSE, nothing stored)."""
    from sqlalchemy import create_engine, text

    from services.reporting.tests.test_xapi import openedx_problem_check

    ada, lms, course = world["people"]["ada"], world["lms"], world["courses"][2]
    key = f"course-v1:DemoX+{course['slug']}+2026_T1"
    block = f"https://lms.example.com/xblock/block-v1:DemoX+{course['slug']}+2026_T1+type@problem+block@p9"

    def shaped(minutes, course_iri):
        s = openedx_problem_check(actor={"objectType": "Agent", "mbox": f"mailto:{ada['email']}"},
                                  timestamp=iso(datetime.now(UTC) - timedelta(minutes=minutes)))
        s["object"]["id"] = block
        s["object"]["definition"]["name"] = {"en-US": "Final check"}
        if course_iri is None:
            del s["context"]
        else:
            s["context"]["contextActivities"]["parent"][0]["id"] = course_iri
        return s

    batch = [shaped(15, f"https://lms.example.com/course/{key}"),
             shaped(14, "https://lms.example.com/course/" + key.replace(":", "%3A").replace("+", "%2B")),
             shaped(13, None)]
    answer = lms.post("/v1/xapi/statements", json=batch, headers=dict(XAPI))
    assert answer.status_code == 200, answer.text
    engine = create_engine(suite.database_url("reporting"))
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT DISTINCT course_id FROM statements WHERE statement_id = ANY(:ids)"),
                              {"ids": [uuid.UUID(s["id"]) for s in batch]}).scalars().all()
        name = conn.execute(text("SELECT name FROM item_names WHERE org_id = :o AND item_id = :i"),
                            {"o": world["org_id"], "i": block}).scalar()
    engine.dispose()
    assert stored == [course["id"]] and name == "Final check"
    unknown = shaped(12, "https://lms.example.com/course/course-v1:DemoX+no-such-course+2026_T1")
    refused = lms.post("/v1/xapi/statements", json=[unknown], headers=dict(XAPI))
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["statements"][0]["code"] == "UNKNOWN_COURSE"


def expected_figures(statements: list[dict]) -> tuple[int, dict]:
    """An independent sorted replay: (sessions, {course: credited microseconds})."""
    def when(s):
        return datetime.fromisoformat(s["timestamp"])

    ordered = sorted(statements, key=lambda s: (when(s), str(uuid.UUID(s["id"]))))
    sessions, per_course, previous = 0, {}, None
    for s in ordered:
        course = s["object"]["course_id"] if s["object"]["type"] == "item" else s["object"]["id"]
        gap = None if previous is None else when(s) - previous
        if gap is None or gap > timedelta(minutes=60):
            sessions += 1
            credit = 0
        else:
            credit = gap // timedelta(microseconds=1)
        per_course[course] = per_course.get(course, 0) + credit
        previous = when(s)
    return sessions, per_course


def test_two_replicas_and_a_crash_lose_nothing_and_count_nothing_twice(world, suite):
    """A second reporting replica; the first is killed (-9) and restarted while
    batches of one learner arrive out of order from 4 clients that retry what
    got no answer: every statement is stored once and the figures are those of
    a sorted replay."""
    import random
    import shlex
    import subprocess
    import sys
    import threading
    import time

    from nameko.standalone.rpc import ClusterRpcProxy

    from tests.support.suite import ROOT, procfile

    cy, courses = world["people"]["cy"], [c["id"] for c in world["courses"]]
    rng = random.Random(5)
    start = datetime.now(UTC) - timedelta(days=20)
    statements = [statement(cy, rng.choice(["started", "completed", "viewed"]),
                            start + timedelta(minutes=rng.randint(0, 60 * 24 * 5)), rng.choice(courses),
                            f"item-{rng.randint(1, 9)}") for _ in range(1200)]
    batches = [statements[i:i + 40] for i in range(0, len(statements), 40)]
    rng.shuffle(batches)
    send_until_known(world["lms"], batches[0][:1], 1)  # reporting knows Cy
    argv = shlex.split(procfile()["reporting"])
    argv[0] = sys.executable
    second = subprocess.Popen(argv, env=suite.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: suite.serving("reporting"), timeout=30)
        failures, lock = [], threading.Lock()

        def client(mine):
            for batch in mine:
                for _ in range(20):
                    try:
                        if world["lms"].post("/v1/activity", json={"statements": batch}).status_code == 200:
                            break
                    except Exception:  # noqa: BLE001 - a dropped connection: send again
                        pass
                else:
                    with lock:
                        failures.append(batch)

        threads = [threading.Thread(target=client, args=(batches[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # batches in flight
        suite.restart("reporting")  # kill -9 mid-stream, then start again
        for thread in threads:
            thread.join(timeout=300)
        assert not failures
        # the first statement was sent before; send everything once more: all duplicates
        again = world["lms"].post("/v1/activity", json={"statements": statements[:40]}).json()
        assert again["accepted"] == 0 and again["duplicates"] == 40
    finally:
        second.kill()
        second.wait()
    with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}, timeout=30) as rpc:
        figures = rpc.reporting.learner(world["org_id"], cy["id"])
    sessions, per_course = expected_figures(statements)
    assert figures["statements"] == len(statements)
    assert figures["sessions"] == sessions
    assert {c["course_id"]: c["learning_hours_us"] for c in figures["courses"]} == per_course
