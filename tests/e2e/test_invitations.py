"""invitations end to end: real HTTP through the gateway, every service running,
real CSV files, RabbitMQ and PostgreSQL."""
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from sqlalchemy import text

from scripts.mailsink import read_messages
from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import add_program_admin, database_fixture, publish_event, scalar
from tests.support.waiting import wait_for

# Read by the service processes the suite starts (the suite copies the environment):
# a fast expiry job and a short import lease, so the tests need not wait minutes.
os.environ.setdefault("INVITATION_EXPIRY_INTERVAL_SECONDS", "1")
os.environ.setdefault("INVITATION_IMPORT_LEASE_SECONDS", "5")
os.environ.setdefault("INVITATION_IMPORT_BATCH", "200")

TODAY = date.today()
PASSWORD = "a good long password"


# ---------------------------------------------------------------- helpers


inv_db = database_fixture("invitations")





def execute(engine, sql, **params):
    with engine.begin() as conn:
        conn.execute(text(sql), params)



def setup_program(admin: Api, org_id: str, licenses: int = 100, **contract_overrides) -> tuple[dict, dict]:
    contract = admin.post(f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": licenses, "starts_on": str(TODAY - timedelta(days=1)),
        "ends_on": str(TODAY + timedelta(days=365)), **contract_overrides})
    assert contract.status_code == 201, contract.text
    program = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                               "contract_ids": [contract.json()["id"]]})
    assert program.status_code == 201, program.text
    return program.json(), contract.json()


def invite(admin: Api, program: dict, contract: dict, email: str, send_email=True, name="Ivy Invitee", **extra):
    return admin.post("/v1/invitations", json={"program_id": program["id"], "contract_id": contract["id"],
                                               "full_name": name, "email": email, "send_email": send_email,
                                               **extra})


def link_token(engine, invitation_id: str) -> str:
    """The raw token exists only in the event asking messaging to email it."""
    url = scalar(engine, "SELECT envelope->'payload'->>'accept_url' FROM kit_outbox "
                         "WHERE envelope->'payload'->>'invitation_id' = :id "
                         "AND envelope->'payload'->>'accept_url' IS NOT NULL ORDER BY id DESC LIMIT 1",
                 id=invitation_id)
    return url.split("token=")[1]


def emailed_invitation(suite, email: str):
    """The invitation email messaging sent to `email` (the SMTP sink's .eml files)."""
    def found():
        for message in read_messages(suite.mail_dir):
            if message["X-Envelope-To"] == email.lower() and "token=" in message.get_body(("plain",)).get_content():
                return message
        return None

    return wait_for(found)


def members(admin: Api, program_id: str, state: str) -> list[dict]:
    response = admin.get(f"/v1/programs/{program_id}/members", params={"state": state})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def upload(admin: Api, program, contract, content: bytes, filename="people.csv", send_email="false"):
    return admin.post("/v1/invitations/imports", files={"file": (filename, content, "text/csv")},
                      data={"program_id": program["id"], "contract_id": contract["id"], "send_email": send_email})


def finished_import(admin: Api, import_id: str, timeout=60.0) -> dict:
    def done():
        status = admin.get(f"/v1/invitations/imports/{import_id}")
        assert status.status_code == 200, status.text
        return status.json() if status.json()["status"] in ("COMPLETED", "FAILED") else None

    return wait_for(done, timeout)


# ---------------------------------------------------------------- single invitations


def test_preview_create_duplicate_accept_and_already_member(api, suite, make_org, inv_db):
    org_id, admin, _ = make_org()
    assert admin.patch(f"/v1/orgs/{org_id}", json={"default_invitation_message": "Welcome aboard!",
                                                   "brand_color": "#123456"}).status_code == 200
    program, contract = setup_program(admin, org_id)
    email = f"{unique('ivy')}@Example.com"

    preview = admin.post("/v1/invitations/preview", json={
        "program_id": program["id"], "contract_id": contract["id"], "full_name": "Ivy Invitee",
        "email": f"  {email} ", "external_id": "E-1"})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["learner"] == {"full_name": "Ivy Invitee", "email": email.lower(), "external_id": "E-1"}
    assert body["program"]["name"] == program["name"] and body["contract"]["id"] == contract["id"]
    assert "Welcome aboard!" in body["email"]["text"] and program["name"] in body["email"]["subject"]
    assert admin.get(f"/v1/programs/{program['id']}/invitations").json()["items"] == []  # nothing created

    created = invite(admin, program, contract, email, external_id="E-1")
    assert created.status_code == 201, created.text
    invitation = created.json()
    assert invitation["state"] == "PENDING" and invitation["email"] == email.lower()
    assert invitation["send_email"] is True

    duplicate = invite(admin, program, contract, f" {email.upper()} ")
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "DUPLICATE_INVITATION"
    wait_for(lambda: [m for m in members(admin, program["id"], "INVITED") if m["user_id"] == invitation["user_id"]])

    mail = emailed_invitation(suite, email)
    body = mail.get_body(("plain",)).get_content()
    assert program["name"] in str(mail["Subject"]) and "Welcome aboard!" in body
    token = re.search(r"token=([A-Za-z0-9_\-]+)", body).group(1)
    assert token == link_token(inv_db, invitation["id"])
    page = api.get(f"/v1/invitations/by-token/{token}")
    assert page.status_code == 200, page.text
    assert page.json()["program_name"] == program["name"] and page.json()["brand_color"] == "#123456"
    assert "email" not in page.json() and "user_id" not in page.json()

    no_password = api.post("/v1/invitations/accept", json={"token": token})
    assert no_password.status_code == 400  # a new account needs a password
    accepted = api.post("/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["access_token"] and accepted.json()["membership"]["state"] == "MEMBER"
    learner = Api(api.base_url, accepted.json()["access_token"])
    assert learner.get("/v1/me").json()["email"] == email.lower()
    assert api.as_user(email, PASSWORD).token  # the password chosen at accept works

    used = api.post("/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert used.status_code == 409 and used.json()["error"]["code"] == "INVITATION_USED"
    assert api.get(f"/v1/invitations/by-token/{token}").json()["error"]["code"] == "INVITATION_USED"
    again = invite(admin, program, contract, email)
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_MEMBER"
    listed = admin.get(f"/v1/programs/{program['id']}/invitations", params={"state": "ACCEPTED"}).json()["items"]
    assert [i["id"] for i in listed] == [invitation["id"]]


def test_create_without_email_and_bad_input(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    email = f"{unique('quiet')}@example.com"
    created = invite(admin, program, contract, email, send_email=False)
    assert created.status_code == 201 and created.json()["send_count"] == 0
    sent = scalar(inv_db, "SELECT envelope->'payload'->>'accept_url' FROM kit_outbox WHERE "
                          "envelope->'payload'->>'invitation_id' = :id", id=created.json()["id"])
    assert sent is None  # "Create invitation": no link is emailed

    bad = admin.post("/v1/invitations", json={"program_id": program["id"], "contract_id": contract["id"],
                                              "full_name": "", "email": "not-an-email"})
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"full_name", "email"}
    other_program, other_contract = setup_program(admin, org_id)
    wrong_contract = invite(admin, program, other_contract, f"{unique('x')}@example.com")
    assert wrong_contract.status_code == 400 and "contract_id" in wrong_contract.json()["error"]["details"]
    assert api.get("/v1/invitations/by-token/not-a-real-token-at-all").status_code == 404
    assert admin.post("/v1/invitations/accept", data="{", headers={"Content-Type": "application/json"}
                      ).status_code == 400
    assert admin.post("/v1/invitations/nope/resend").status_code == 404
    assert invite(admin, {"id": "no-such-program"}, contract, f"{unique('x')}@example.com").status_code == 404
    assert admin.get("/v1/invitations/imports/nope").status_code == 404
    assert admin.post(f"/v1/programs/{program['id']}/invitations/revoke", json={"invitation_ids": ["nope"]}
                      ).status_code == 404


def test_only_admins_of_the_program_see_and_act(api, suite, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    other_program, _ = setup_program(admin, org_id)
    invitation = invite(admin, program, contract, f"{unique('scoped')}@example.com").json()
    job = upload(admin, program, contract, b"Full Name,Email,External ID\nA,a-scoped@example.com,\n").json()

    mine = add_program_admin(suite, api, org_id, [program["id"]])
    theirs = add_program_admin(suite, api, org_id, [other_program["id"]])
    _, stranger, _ = make_org()

    assert mine.get(f"/v1/programs/{program['id']}/invitations").status_code == 200
    assert mine.post(f"/v1/invitations/{invitation['id']}/resend").status_code == 200
    assert mine.get(f"/v1/invitations/imports/{job['import_id']}").status_code == 200
    for outsider in (theirs, stranger):
        assert outsider.get(f"/v1/programs/{program['id']}/invitations").status_code == 404
        assert outsider.post(f"/v1/invitations/{invitation['id']}/resend").status_code == 404
        assert outsider.post(f"/v1/invitations/{invitation['id']}/revoke").status_code == 404
        assert outsider.post(f"/v1/programs/{program['id']}/invitations/resend").status_code == 404
        assert invite(outsider, program, contract, f"{unique('x')}@example.com").status_code == 404
        assert outsider.post("/v1/invitations/preview", json={
            "program_id": program["id"], "contract_id": contract["id"], "full_name": "X",
            "email": "x@example.com"}).status_code == 404
        assert outsider.get(f"/v1/invitations/imports/{job['import_id']}").status_code == 404
        assert outsider.get(f"/v1/invitations/imports/{job['import_id']}/rejected.csv").status_code == 404
        assert upload(outsider, program, contract, b"Full Name,Email,External ID\n").status_code == 404
    learner = Api(api.base_url, add_learner_token(api, admin, program, contract, inv_db))
    assert learner.get(f"/v1/programs/{program['id']}/invitations").status_code == 404
    assert learner.get("/v1/invitations/template.csv").status_code == 403
    assert api.get(f"/v1/programs/{program['id']}/invitations").status_code == 401


def add_learner_token(api, admin, program, contract, inv_db) -> str:
    invitation = invite(admin, program, contract, f"{unique('learner')}@example.com").json()
    accepted = api.post("/v1/invitations/accept", json={"token": link_token(inv_db, invitation["id"]),
                                                        "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return accepted.json()["access_token"]


def test_resend_revoke_and_resend_all(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    first = invite(admin, program, contract, f"{unique('r1')}@example.com").json()
    second = invite(admin, program, contract, f"{unique('r2')}@example.com", send_email=False).json()
    third = invite(admin, program, contract, f"{unique('r3')}@example.com").json()
    old_token = link_token(inv_db, first["id"])
    page = admin.get(f"/v1/programs/{program['id']}/invitations", params={"limit": 2}).json()
    rest = admin.get(f"/v1/programs/{program['id']}/invitations",
                     params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [first["id"], second["id"], third["id"]]
    assert rest["next_cursor"] is None
    assert admin.get(f"/v1/programs/{program['id']}/invitations", params={"cursor": "bogus"}).status_code == 400

    resent = admin.post(f"/v1/invitations/{first['id']}/resend")
    assert resent.status_code == 200 and resent.json()["send_count"] == 2
    new_token = link_token(inv_db, first["id"])
    assert new_token != old_token
    assert api.get(f"/v1/invitations/by-token/{old_token}").status_code == 404  # the old link stops working
    assert api.get(f"/v1/invitations/by-token/{new_token}").status_code == 200

    revoked = admin.post(f"/v1/invitations/{first['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "REVOKED"
    gone = api.get(f"/v1/invitations/by-token/{new_token}")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "INVITATION_REVOKED"
    assert admin.post(f"/v1/invitations/{first['id']}/resend").json()["error"]["code"] == "INVITATION_REVOKED"

    everyone = admin.post(f"/v1/programs/{program['id']}/invitations/resend")
    assert everyone.status_code == 200 and everyone.json() == {"resent": 2}
    assert link_token(inv_db, second["id"])  # the one created without email now has a link

    many = admin.post(f"/v1/programs/{program['id']}/invitations/revoke",
                      json={"invitation_ids": [second["id"], third["id"]]})
    assert many.status_code == 200 and {i["state"] for i in many.json()} == {"REVOKED"}
    pending = admin.get(f"/v1/programs/{program['id']}/invitations", params={"state": "PENDING"}).json()
    assert pending["items"] == []
    wait_for(lambda: members(admin, program["id"], "INVITED") == [])


def test_expired_invitations_are_expired_by_the_job(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    invitation = invite(admin, program, contract, f"{unique('late')}@example.com").json()
    token = link_token(inv_db, invitation["id"])
    execute(inv_db, "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = :id",
            id=invitation["id"])
    refused = api.post("/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "INVITATION_EXPIRED"
    wait_for(lambda: admin.get(f"/v1/programs/{program['id']}/invitations",
                               params={"state": "EXPIRED"}).json()["items"])
    assert scalar(inv_db, "SELECT count(*) FROM kit_outbox WHERE event_type = 'invitations.invitation.expired.v1' "
                          "AND envelope->'payload'->>'invitation_id' = :id", id=invitation["id"]) == 1


# ---------------------------------------------------------------- joining


def test_license_refusal_keeps_the_invitation_pending(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id, licenses=1)
    first = invite(admin, program, contract, f"{unique('one')}@example.com").json()
    second = invite(admin, program, contract, f"{unique('two')}@example.com").json()
    assert api.post("/v1/invitations/accept", json={"token": link_token(inv_db, first["id"]),
                                                    "password": PASSWORD}).status_code == 200
    refused = api.post("/v1/invitations/accept", json={"token": link_token(inv_db, second["id"]),
                                                       "password": PASSWORD})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "LICENSE_LIMIT_REACHED"
    states = {i["id"]: i["state"] for i in admin.get(f"/v1/programs/{program['id']}/invitations").json()["items"]}
    assert states == {first["id"]: "ACCEPTED", second["id"]: "PENDING"}


def test_concurrent_accepts_of_one_link_give_one_membership(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    invitation = invite(admin, program, contract, f"{unique('race')}@example.com").json()
    token = link_token(inv_db, invitation["id"])

    def accept(_):
        return Api(api.base_url).post("/v1/invitations/accept", json={"token": token, "password": PASSWORD})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(accept, range(8)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 7, [r.text for r in results]
    assert len(members(admin, program["id"], "MEMBER")) == 1
    contract_now = admin.get(f"/v1/contracts/{contract['id']}").json()
    assert contract_now["licenses_used"] == 1


def test_join_by_program_url_needs_a_matching_invitation(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    program_a, contract = setup_program(admin, org_id)
    program_b = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                                 "contract_ids": [contract["id"]]}).json()
    program_c = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                                 "contract_ids": [contract["id"]]}).json()
    email = f"{unique('url')}@example.com"
    first = invite(admin, program_a, contract, email).json()
    invite(admin, program_b, contract, email.upper())
    token = api.post("/v1/invitations/accept", json={"token": link_token(inv_db, first["id"]),
                                                     "password": PASSWORD}).json()["access_token"]
    person = Api(api.base_url, token)

    joined = person.post(f"/v1/programs/{program_b['slug']}/join")
    assert joined.status_code == 200, joined.text
    assert joined.json()["membership"]["state"] == "MEMBER"
    not_invited = person.post(f"/v1/programs/{program_c['slug']}/join")
    assert not_invited.status_code == 403 and not_invited.json()["error"]["code"] == "NOT_INVITED"
    again = person.post(f"/v1/programs/{program_b['slug']}/join")
    assert again.status_code == 403  # the invitation is used

    stranger = invite(admin, program_a, contract, f"{unique('other')}@example.com").json()
    other = Api(api.base_url, api.post("/v1/invitations/accept", json={
        "token": link_token(inv_db, stranger["id"]), "password": PASSWORD}).json()["access_token"])
    third_invite = invite(admin, program_c, contract, f"{unique('third')}@example.com")
    assert third_invite.status_code == 201
    refused = other.post(f"/v1/programs/{program_c['slug']}/join")  # someone else's invitation
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_INVITED"
    assert api.post(f"/v1/programs/{program_c['slug']}/join").status_code == 401
    assert person.post("/v1/programs/no-such-program/join").status_code == 404


def test_removed_member_and_removed_program_revoke_pending_invitations(api, suite, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    invitation = invite(admin, program, contract, f"{unique('gone')}@example.com").json()
    publish_event(suite, "programs", "programs.member.removed.v1", {
        "membership_id": invitation["id"], "org_id": org_id, "program_id": program["id"],
        "program_name": program["name"], "user_id": invitation["user_id"], "email": invitation["email"],
        "full_name": "Ivy", "contract_id": contract["id"], "reason": "ADMIN_REMOVED",
        "removed_at": "2026-01-01T00:00:00+00:00"}, org_id)
    wait_for(lambda: scalar(inv_db, "SELECT close_reason FROM invitations WHERE id = :id",
                            id=invitation["id"]) == "MEMBER_REMOVED")

    other = invite(admin, program, contract, f"{unique('prog')}@example.com").json()
    removed = admin.delete(f"/v1/programs/{program['id']}", params={"confirm": "true"})
    assert removed.status_code == 200, removed.text
    wait_for(lambda: scalar(inv_db, "SELECT close_reason FROM invitations WHERE id = :id",
                            id=other["id"]) == "PROGRAM_REMOVED")
    assert scalar(inv_db, "SELECT count(*) FROM kit_outbox WHERE event_type = 'invitations.invitation.revoked.v1' "
                          "AND envelope->'payload'->>'invitation_id' = :id", id=other["id"]) == 1
