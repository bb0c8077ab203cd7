"""The learning-platform simulator (scripts/simulate) against the whole suite, through the gateway only:
demo learners join and enroll, the statements are built from the real catalog and enrollments, and a
second run changes nothing (no new joins or enrollments, the same statement ids)."""
import uuid

from scripts.simulate.__main__ import simulate_orgs
from scripts.simulate.generator import Course, course_items
from scripts.simulate.people import add_org_with_learners

PASSWORD = "correct horse battery"


def test_simulator_joins_enrolls_and_is_deterministic(suite, api):
    domain = f"sim-{uuid.uuid4().hex[:6]}.example"
    org = add_org_with_learners(f"Sim {domain}", f"admin@{domain}", PASSWORD, 12, suite.database_url)
    admin = api.as_user(f"admin@{domain}", PASSWORD)

    [first] = simulate_orgs(suite.base_url, [f"admin@{domain}"], PASSWORD, send=False, join_share=0.75,
                            enroll_share=0.9, settle=30)
    run = first["run"]
    assert run.learners == 12
    members = admin.get(f"/v1/programs/{org['program_id']}/members", params={"state": "MEMBER"}).json()["items"]
    invited = admin.get(f"/v1/programs/{org['program_id']}/members", params={"state": "INVITED"}).json()["items"]
    assert len(members) == run.joined_now and 6 <= len(members) < 12 and len(invited) == 12 - len(members)
    assert run.enrolled_learners >= len(members) // 2 and run.enrollments == run.enrolled_now >= run.enrolled_learners
    statements = first["statements"]
    assert len(statements) > 50
    member_ids = {m["user_id"] for m in members}
    assert {s["actor"]["user_id"] for s in statements} <= member_ids
    courses = {c["id"]: c for c in api.as_user(f"admin@{domain}", PASSWORD).get(
        "/v1/catalog/courses", params={"limit": 200}).json()["items"]}
    for s in statements:
        obj = s["object"]
        course = courses[obj.get("course_id") or obj["id"]]
        if obj["type"] == "item":
            assert obj["id"] in {i.id for i in course_items(Course.from_catalog(course))}

    [again] = simulate_orgs(suite.base_url, [f"admin@{domain}"], PASSWORD, send=False, join_share=0.75,
                            enroll_share=0.9, period_end=None)
    assert again["run"].joined_now == 0 and again["run"].enrolled_now == 0
    assert [s["id"] for s in again["statements"]] == [s["id"] for s in statements]


def test_simulated_statements_are_accepted_by_ingestion_and_a_rerun_is_all_duplicates(suite, api):
    """The real ingestion (POST /v1/activity) accepts every statement the simulator builds; the second run
    sends the same ids and every one comes back as a duplicate."""
    domain = f"sim-{uuid.uuid4().hex[:6]}.example"
    add_org_with_learners(f"Sim {domain}", f"admin@{domain}", PASSWORD, 8, suite.database_url)
    [first] = simulate_orgs(suite.base_url, [f"admin@{domain}"], PASSWORD, settle=30, retry_for=60)
    total = len(first["statements"])
    assert total > 50
    assert first["rejected"] == [] and first["accepted"] == total and first["duplicates"] == 0
    [second] = simulate_orgs(suite.base_url, [f"admin@{domain}"], PASSWORD, retry_for=60)
    assert len(second["statements"]) == total
    assert second["rejected"] == [] and second["accepted"] == 0 and second["duplicates"] == total
