"""programs' routes across organizations (issue 10 item 14, issue 11):
another organization's program, collection or contract is 404 whatever the
route, exactly like an id that names nothing, so no route tells a caller that
something exists in another organization."""
from datetime import date

import pytest

from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import add_program_admin, program_with_contract

TODAY = date.today()
PASSWORD = "a good long password"



def invited_person(suite, api: Api, admin: Api, program: dict, contract: dict) -> Api:
    """A person who joined `program` through an invitation link (so their email is verified)."""
    from sqlalchemy import create_engine, text

    email = f"{unique('joiner')}@example.com"
    invitation = admin.post("/v1/invitations", json={"program_id": program["id"], "contract_id": contract["id"],
                                                     "full_name": "Jo Joiner", "email": email,
                                                     "send_email": True})
    assert invitation.status_code == 201, invitation.text
    engine = create_engine(suite.database_url("invitations"))
    with engine.connect() as conn:
        url = conn.execute(text(
            "SELECT envelope->'payload'->>'accept_url' FROM kit_outbox "
            "WHERE envelope->'payload'->>'invitation_id' = :id AND envelope->'payload'->>'accept_url' IS NOT NULL "
            "ORDER BY id DESC LIMIT 1"), {"id": invitation.json()["id"]}).scalar()
    engine.dispose()
    accepted = api.post("/v1/invitations/accept", json={"token": url.split("token=")[1], "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return Api(api.base_url, accepted.json()["access_token"])


def test_join_url_of_another_organizations_program_is_not_found(suite, api, make_org):
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program_a, _ = program_with_contract(admin_a, org_a, license_count=10)
    program_b, contract_b = program_with_contract(admin_b, org_b, license_count=10)
    person_of_b = invited_person(suite, api, admin_b, program_b, contract_b)

    foreign = person_of_b.post(f"/v1/programs/{program_a['slug']}/join")
    missing = person_of_b.post("/v1/programs/program-zzzzzz/join")
    assert (foreign.status_code, missing.status_code) == (404, 404), foreign.text
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"
    assert foreign.json()["error"]["message"] == missing.json()["error"]["message"]
    # org A's admin sees the program: not invited is the honest answer there
    own = admin_a.post(f"/v1/programs/{program_a['slug']}/join")
    assert own.status_code == 403 and own.json()["error"]["code"] == "NOT_INVITED", own.text


@pytest.fixture(scope="module")
def catalog_loaded(suite):
    from servicekit.standalone import unit_of_work
    from services.programs.commands import catalog

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)



def test_every_programs_route_hides_what_is_not_the_callers(suite, api, make_org, catalog_loaded):
    """Org A's program, collection, item, contract and member, asked for by:
    org B's admin and program admin, org A's admin of another program, and a
    learner of the program. Every answer is what an unknown id gets (same
    status, code and message), except org-level actions a program admin of
    org A may not take (403)."""
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program, contract = program_with_contract(admin_a, org_a, license_count=10)
    sibling, _ = program_with_contract(admin_a, org_a, license_count=10)
    program_b, contract_b = program_with_contract(admin_b, org_b, license_count=10)
    collection = admin_a.post(f"/v1/programs/{program['id']}/collections", json={"name": "Core"}).json()
    course_id = admin_a.get("/v1/catalog/courses", params={"limit": 1}).json()["items"][0]["id"]
    collection = admin_a.post(f"/v1/collections/{collection['id']}/items",
                              json={"course_ids": [course_id], "specialization_ids": []}).json()
    item_id = collection["items"][0]["id"]
    learner = invited_person(suite, api, admin_a, program, contract)
    member_id = admin_a.get(f"/v1/programs/{program['id']}/members").json()["items"][0]["user_id"]

    unknown = "00000000-0000-4000-8000-000000000000"
    routes = [  # (method, path with the real ids, the same path with unknown ids, body, org-level)
        ("GET", f"/v1/programs/{program['id']}", f"/v1/programs/{unknown}", None, False),
        ("PATCH", f"/v1/programs/{program['id']}", f"/v1/programs/{unknown}", {"tagline": "x"}, False),
        ("DELETE", f"/v1/programs/{program['id']}?confirm=true", f"/v1/programs/{unknown}?confirm=true", None, False),
        ("GET", f"/v1/programs/{program['id']}/members", f"/v1/programs/{unknown}/members", None, False),
        ("DELETE", f"/v1/programs/{program['id']}/members/{member_id}",
         f"/v1/programs/{unknown}/members/{member_id}", None, False),
        ("GET", f"/v1/programs/{program['id']}/collections", f"/v1/programs/{unknown}/collections", None, False),
        ("POST", f"/v1/programs/{program['id']}/collections", f"/v1/programs/{unknown}/collections",
         {"name": "Mine"}, False),
        ("PATCH", f"/v1/collections/{collection['id']}", f"/v1/collections/{unknown}", {"name": "x"}, False),
        ("DELETE", f"/v1/collections/{collection['id']}", f"/v1/collections/{unknown}", None, False),
        ("POST", f"/v1/collections/{collection['id']}/items", f"/v1/collections/{unknown}/items",
         {"course_ids": [course_id], "specialization_ids": []}, False),
        ("DELETE", f"/v1/collections/{collection['id']}/items/{item_id}",
         f"/v1/collections/{unknown}/items/{item_id}", None, False),
        ("GET", f"/v1/contracts/{contract['id']}", f"/v1/contracts/{unknown}", None, True),
        ("PATCH", f"/v1/contracts/{contract['id']}", f"/v1/contracts/{unknown}", {"license_count": 50}, True),
        ("GET", f"/v1/orgs/{org_a}/contracts", f"/v1/orgs/{unknown}/contracts", None, True),
        ("POST", f"/v1/orgs/{org_a}/contracts", f"/v1/orgs/{unknown}/contracts",
         {"name": "Stolen", "license_count": 1, "starts_on": str(TODAY), "ends_on": str(TODAY)}, True),
        ("POST", f"/v1/orgs/{org_a}/programs", f"/v1/orgs/{unknown}/programs",
         {"name": "Stolen", "contract_ids": [contract["id"]]}, True),
    ]
    callers = {"org B admin": admin_b, "org B program admin": add_program_admin(suite, api, org_b, [program_b["id"]]),
               "org A admin of another program": add_program_admin(suite, api, org_a, [sibling["id"]]),
               "learner of the program": learner}
    wrong = []
    for who, caller in callers.items():
        for method, path, unknown_path, body, org_level in routes:
            answer = caller.request(method, path, json=body)
            if who == "org A admin of another program" and org_level:
                expected = (403, "FORBIDDEN")
            else:
                baseline = caller.request(method, unknown_path, json=body)
                expected = (baseline.status_code, baseline.json()["error"]["code"], baseline.json()["error"]["message"])
                if expected[0] not in (403, 404):
                    wrong.append((who, method, unknown_path, "unknown ids answer", expected))
            got = (answer.status_code, *((answer.json() or {}).get("error", {}).get(k) for k in ("code", "message")))
            if got[:len(expected)] != expected:
                wrong.append((who, method, path, got, expected))
    assert wrong == [], "\n".join(map(str, wrong))
    # nothing changed meanwhile
    assert admin_a.get(f"/v1/programs/{program['id']}").json()["tagline"] != "x"
    assert len(admin_a.get(f"/v1/programs/{program['id']}/collections").json()) == 1
    assert admin_a.get(f"/v1/contracts/{contract['id']}").json()["license_count"] == 10


def test_references_to_another_organizations_objects_answer_like_unknown_ids(suite, api, make_org, catalog_loaded):
    """Ids of org A inside org B's own requests (a contract, a collection) are
    refused exactly like ids that name nothing."""
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program_a, contract_a = program_with_contract(admin_a, org_a, license_count=10)
    program_b, contract_b = program_with_contract(admin_b, org_b, license_count=10)
    collection_a = admin_a.post(f"/v1/programs/{program_a['id']}/collections", json={"name": "A's"}).json()
    unknown = "00000000-0000-4000-8000-000000000000"

    def refusal(response, known_id):
        error = response.json()["error"]
        return response.status_code, error["code"], str(error["details"]).replace(known_id, "ID")

    foreign = admin_b.patch(f"/v1/programs/{program_b['id']}", json={"contract_ids": [contract_a["id"]]})
    missing = admin_b.patch(f"/v1/programs/{program_b['id']}", json={"contract_ids": [unknown]})
    assert foreign.status_code == 400 and refusal(foreign, contract_a["id"]) == refusal(missing, unknown)
    foreign = admin_b.post(f"/v1/orgs/{org_b}/programs", json={"name": unique("P"), "contract_ids": [contract_a["id"]]})
    missing = admin_b.post(f"/v1/orgs/{org_b}/programs", json={"name": unique("P"), "contract_ids": [unknown]})
    assert foreign.status_code == 400 and refusal(foreign, contract_a["id"]) == refusal(missing, unknown)

    learner_b = invited_person(suite, api, admin_b, program_b, contract_b)
    body = {"program_id": program_b["id"], "course_id": admin_b.get("/v1/catalog/courses").json()["items"][0]["id"]}
    foreign = learner_b.post("/v1/enrollments", json={**body, "collection_id": collection_a["id"]})
    missing = learner_b.post("/v1/enrollments", json={**body, "collection_id": unknown})
    assert foreign.status_code == 400 and refusal(foreign, collection_a["id"]) == refusal(missing, unknown)
    # a learner of org B naming org A's program: what a program that does not exist gets
    foreign = learner_b.post("/v1/enrollments", json={**body, "program_id": program_a["id"]})
    missing = learner_b.post("/v1/enrollments", json={**body, "program_id": unknown})
    assert foreign.status_code == 404 and refusal(foreign, program_a["id"]) == refusal(missing, unknown)
