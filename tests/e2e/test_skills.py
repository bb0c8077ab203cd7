"""Skill analytics end to end: graded attempts published as reporting would,
identity's org setting and programs' curriculum and members arriving as
events, the ten views through the gateway, and their tenancy (org admins only:
program admins and learners 403, other organizations 404)."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.reporting import ATTEMPTS_GRADED, LEARNING_HOURS_UPDATED
from servicekit.standalone import unit_of_work
from tests.e2e.helpers import add_program_admin, program_with_contract, publish_event
from tests.e2e.test_programs_tenancy import invited_person
from tests.support.waiting import wait_for

VIEWS = ("distribution", "hours-to-mastery", "mastery-over-time", "leaderboard", "assessments", "hours",
         "relevant-courses", "glossary", "benchmark", "benchmark-over-time")


@pytest.fixture(scope="module")
def loaded(suite):
    from services.programs.commands import catalog
    from services.skills.commands import taxonomy

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    with unit_of_work("skills", suite.database_url("skills")) as uow:
        taxonomy.load_taxonomy_file(uow, taxonomy.DEMO_TAXONOMY)
    return True


def test_views_follow_events_and_answer_only_org_admins(suite, api, make_org, loaded):
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program, contract = program_with_contract(admin_a, org_a)
    course_id = "daG-a-O1EeijKBISCWxf6g"  # AI For Everyone: business strategy, machine learning, AI
    collection = admin_a.post(f"/v1/programs/{program['id']}/collections", json={"name": "Core"}).json()
    added = admin_a.post(f"/v1/collections/{collection['id']}/items",
                         json={"course_ids": [course_id], "specialization_ids": []})
    assert added.status_code == 200, added.text
    learner = invited_person(suite, api, admin_a, program, contract)
    user_id = learner.get("/v1/me").json()["id"]
    start = datetime.now(UTC) - timedelta(days=2)
    publish_event(suite, "reporting", ATTEMPTS_GRADED.type, {"attempts": [
        {"statement_id": str(uuid.uuid4()), "org_id": org_a, "user_id": user_id, "course_id": course_id,
         "item_id": f"{course_id}-l01-i00{k}", "attempt": 1, "score": 9.0, "max_score": 10.0, "passed": True,
         "attempted_at": (start + timedelta(hours=k)).isoformat()} for k in range(6)]}, org_a)
    publish_event(suite, "reporting", LEARNING_HOURS_UPDATED.type, {"hours": [
        {"org_id": org_a, "user_id": user_id, "course_id": course_id, "hours": 2.5,
         "as_of": start.isoformat()}]}, org_a)
    base = f"/v1/orgs/{org_a}/skills"

    board = wait_for(lambda: admin_a.get(f"{base}/leaderboard").json()["items"], timeout=60)
    assert {i["skill_id"] for i in board} == {"business-strategy", "machine-learning", "artificial-intelligence"}
    assert all(i["name"] == "Jo Joiner" and i["email"] and i["level"] == "ADVANCED" for i in board)
    distribution = admin_a.get(f"{base}/distribution", params={"program_id": program["id"]}).json()["items"]
    assert {(i["skill_id"], i["learners"], i["advanced"]) for i in distribution} == {
        ("business-strategy", 1, 1), ("machine-learning", 1, 1), ("artificial-intelligence", 1, 1)}
    hours = wait_for(lambda: admin_a.get(f"{base}/hours").json()["items"], timeout=30)
    assert {i["average_hours"] for i in hours} == {2.5}
    courses = wait_for(lambda: admin_a.get(f"{base}/relevant-courses").json()["items"], timeout=30)
    assert {c["course_id"] for i in courses for level in ("beginner", "intermediate", "advanced")
            for c in i[level]} == {course_id}

    # identity's setting reaches skills as an event: contact info is hidden
    changed = admin_a.patch(f"/v1/orgs/{org_a}", json={"anonymize_leaderboard": True})
    assert changed.status_code == 200 and changed.json()["anonymize_leaderboard"] is True, changed.text
    hidden = wait_for(lambda: [i for i in admin_a.get(f"{base}/leaderboard").json()["items"] if i["anonymized"]],
                      timeout=30)
    assert all(i["name"] is None and i["email"] is None for i in hidden)

    callers = {"program admin of org A": (add_program_admin(suite, api, org_a, [program["id"]]), 403),
               "learner of org A": (learner, 403), "admin of org B": (admin_b, 404)}
    unknown = str(uuid.uuid4())
    wrong = []
    for view in VIEWS:
        answer = admin_a.get(f"{base}/{view}")
        if answer.status_code != 200:
            wrong.append(("org admin", view, answer.status_code, answer.text))
        for who, (caller, status) in callers.items():
            answer = caller.get(f"{base}/{view}")
            if answer.status_code != status:
                wrong.append((who, view, answer.status_code, answer.text))
        baseline = admin_b.get(f"/v1/orgs/{unknown}/skills/{view}")
        foreign = admin_b.get(f"{base}/{view}")
        if (baseline.status_code, baseline.json()) != (foreign.status_code, foreign.json()):
            wrong.append(("admin of org B vs unknown org", view, foreign.status_code, foreign.text))
        if api.get(f"{base}/{view}").status_code != 401:
            wrong.append(("anonymous", view))
    assert wrong == []


def test_a_program_filter_names_one_of_the_organizations_programs(suite, api, make_org, loaded):
    """`?program_id=`: the org admin's own programs only; another organization's
    program (or none) is a 404, and a program admin is refused even for their own
    program (skill analytics are for org admins: domain rules, no analytics tab)."""
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program_a, _ = program_with_contract(admin_a, org_a)
    program_b, _ = program_with_contract(admin_b, org_b)
    program_admin = add_program_admin(suite, api, org_a, [program_a["id"]])
    filtered = ("distribution", "hours-to-mastery", "mastery-over-time", "leaderboard", "assessments", "hours",
                "relevant-courses")
    wrong = []
    for view in filtered:
        base = f"/v1/orgs/{org_a}/skills/{view}"
        expected = {("org admin A", program_a["id"]): 200, ("org admin A", program_b["id"]): 404,
                    ("org admin A", str(uuid.uuid4())): 404, ("program admin A", program_a["id"]): 403}
        for (who, program_id), status in expected.items():
            caller = admin_a if who == "org admin A" else program_admin
            answer = caller.get(base, params={"program_id": program_id})
            if answer.status_code != status or (status == 404 and answer.json()["error"]["code"] != "NOT_FOUND"):
                wrong.append((view, who, program_id, answer.status_code, answer.text))
        # org B's admin asking about their own org with org A's program: refused alike
        answer = admin_b.get(f"/v1/orgs/{org_b}/skills/{view}", params={"program_id": program_a["id"]})
        if answer.status_code != 404:
            wrong.append((view, "org admin B", program_a["id"], answer.status_code, answer.text))
    assert wrong == []
