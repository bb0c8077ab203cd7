"""programs' routes across organizations (issue 10 item 14, issue 11):
another organization's program, collection or contract is 404 whatever the
route, exactly like an id that names nothing, so no route tells a caller that
something exists in another organization."""
from datetime import date, timedelta

from tests.e2e.conftest import Api, unique

TODAY = date.today()
PASSWORD = "a good long password"


def make_program(admin: Api, org_id: str) -> tuple[dict, dict]:
    contract = admin.post(f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": 10, "starts_on": str(TODAY - timedelta(days=1)),
        "ends_on": str(TODAY + timedelta(days=365))})
    assert contract.status_code == 201, contract.text
    program = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                               "contract_ids": [contract.json()["id"]]})
    assert program.status_code == 201, program.text
    return program.json(), contract.json()


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
    program_a, _ = make_program(admin_a, org_a)
    program_b, contract_b = make_program(admin_b, org_b)
    person_of_b = invited_person(suite, api, admin_b, program_b, contract_b)

    foreign = person_of_b.post(f"/v1/programs/{program_a['slug']}/join")
    missing = person_of_b.post("/v1/programs/program-zzzzzz/join")
    assert (foreign.status_code, missing.status_code) == (404, 404), foreign.text
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"
    assert foreign.json()["error"]["message"] == missing.json()["error"]["message"]
    # org A's admin sees the program: not invited is the honest answer there
    own = admin_a.post(f"/v1/programs/{program_a['slug']}/join")
    assert own.status_code == 403 and own.json()["error"]["code"] == "NOT_INVITED", own.text
