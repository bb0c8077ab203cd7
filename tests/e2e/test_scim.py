"""SCIM 2.0 provisioning through the gateway (docs/scim.md), against the
running suite: the identity providers' quirks (Entra's PascalCase PATCH,
"False" strings and filtered email paths; Okta's userName probes and PUT
deprovisioning), deprovisioning through the admin-removal path (license
freed, exit email unless the organization says not), reactivation, groups
mapped to programs (joins charged to the mapping's contract; an unverified
account is invited, not joined), ETags, SCIM errors, tenancy between
organizations, and the audit log. The effects on programs and invitations
follow identity's entitlement events (docs/scim.md, "How the effects flow"):
the tests wait for them, with programs stopped too."""
import json
import os
import signal
import uuid

import pytest
from sqlalchemy import create_engine

from contracts.scim import CORE_GROUP, CORE_USER, ENTERPRISE_USER, ERROR, LIST_RESPONSE, PATCH_OP
from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import program_with_contract, scalar
from tests.e2e.test_programs_tenancy import invited_person
from tests.support.dns_server import DnsServer
from tests.support.waiting import wait_for

SCIM = "application/scim+json"


class Scim(Api):
    """An identity provider: SCIM JSON with a bearer API token of scope scim."""

    def send(self, method: str, path: str, body=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if body is not None:
            headers.setdefault("Content-Type", SCIM)
            kwargs["data"] = json.dumps(body) if not isinstance(body, bytes | str) else body
        return self.request(method, "/scim/v2" + path, headers=headers, **kwargs)


def scim_token(admin: Api, org_id: str, scopes=("scim",)) -> str:
    made = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("idp"), "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    return made.json()["token"]


@pytest.fixture
def provider(suite, api, make_org):
    """(org_id, org admin Api, Scim client of that organization)."""
    org_id, admin, _ = make_org()
    return org_id, admin, Scim(suite.base_url, scim_token(admin, org_id))


def new_user(email: str | None = None, **more) -> dict:
    email = email or f"{unique('scim')}@acme.example"
    return {"schemas": [CORE_USER, ENTERPRISE_USER], "userName": email, "active": True,
            "name": {"givenName": "Sam", "familyName": "Provisioned"},
            "emails": [{"value": email, "type": "work", "primary": True}], **more}


def is_scim_error(response, status: int, scim_type: str | None = None) -> bool:
    body = response.json()
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(SCIM), response.headers
    assert body["schemas"] == [ERROR] and body["status"] == str(status), body
    if scim_type:
        assert body.get("scimType") == scim_type, body
    return True


def contract_used(admin: Api, contract_id: str) -> int:
    return admin.get(f"/v1/contracts/{contract_id}").json()["licenses_used"]


def member_state(admin: Api, program_id: str, user_id: str) -> str | None:
    members = admin.get(f"/v1/programs/{program_id}/members").json()["items"]
    return next((m["state"] for m in members if m["user_id"] == user_id), None)


def becomes(read, *args, expected, timeout: float = 30):
    """The effects of a SCIM change are applied from identity's event, after the answer: wait for them."""
    wanted = expected if isinstance(expected, tuple) else (expected,)
    found = []

    def check():
        found.append(read(*args))
        return found[-1] in wanted

    try:
        wait_for(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{read.__name__}{args[1:]}: {found[-1:]} is not {wanted} after {timeout}s") from None
    return found[-1]


def pending_emails(admin: Api, program_id: str, state: str = "PENDING") -> set[str]:
    return {i["email"] for i in admin.get(f"/v1/programs/{program_id}/invitations",
                                          params={"state": state}).json()["items"]}


# ---------------------------------------------------------------- discovery and errors


def test_discovery_documents(provider):
    _, _, idp = provider
    config = idp.send("GET", "/ServiceProviderConfig")
    assert config.status_code == 200 and config.headers["Content-Type"].startswith(SCIM)
    assert config.json()["patch"]["supported"] is True and config.json()["bulk"]["supported"] is False
    types = idp.send("GET", "/ResourceTypes").json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schemas = idp.send("GET", "/Schemas").json()
    assert {CORE_USER, ENTERPRISE_USER, CORE_GROUP} <= {s["id"] for s in schemas["Resources"]}
    assert idp.send("GET", f"/Schemas/{ENTERPRISE_USER}").json()["name"] == "EnterpriseUser"
    assert is_scim_error(idp.send("GET", "/Schemas/urn:nope"), 404)


def test_errors_are_scim_errors_never_500(suite, api, provider):
    org_id, admin, idp = provider
    assert is_scim_error(Scim(suite.base_url).send("GET", "/Users"), 401)
    assert is_scim_error(Scim(suite.base_url, admin.token).send("GET", "/Users"), 403)  # a person, not a token
    other_scope = Scim(suite.base_url, scim_token(admin, org_id, ("people:read",)))
    assert is_scim_error(other_scope.send("GET", "/Users"), 403)
    assert is_scim_error(idp.send("GET", "/Users", params={"filter": 'nosuch eq "x"'}), 400, "invalidFilter")
    assert is_scim_error(idp.send("GET", "/Users", params={"filter": 'userName eq'}), 400, "invalidFilter")
    assert is_scim_error(idp.send("GET", "/Users", params={"count": "1.5"}), 400)
    assert is_scim_error(idp.send("GET", "/Users", params={"filter": 'userName eq "a\x00"'}), 400)
    assert is_scim_error(idp.send("GET", "/Users/not-a-uuid"), 404)
    assert is_scim_error(idp.send("GET", f"/Users/{uuid.uuid4()}"), 404)
    assert is_scim_error(idp.send("POST", "/Users", "{not json"), 400, "invalidSyntax")
    assert is_scim_error(idp.send("POST", "/Users", new_user(), headers={"Content-Type": "text/plain"}), 415)
    assert is_scim_error(idp.send("POST", "/Users", {"userName": "x\ud800y@acme.example"}), 400)
    assert is_scim_error(idp.send("POST", "/Users", new_user(title="a\r\nBcc: x@y.z")), 400, "invalidValue")
    assert is_scim_error(idp.send("POST", "/Users", new_user(active=0.5)), 400, "invalidValue")
    assert is_scim_error(idp.send("POST", "/Users", {"userName": 12}), 400, "invalidValue")
    assert is_scim_error(idp.send("POST", "/Users", new_user(title="x" * 2_000_000)), 413)
    assert is_scim_error(idp.send("POST", "/Users", {"userName": "no-email-here"}), 400, "invalidValue")


def test_a_little_fuzz_of_user_bodies_never_5xx(provider):
    import random

    _, _, idp = provider
    rng = random.Random(17)
    values = [None, True, "False", 0, -1, 1.5, "", "x" * 300, "\u202e", [], {}, [1, {"a": None}], {"value": 3},
              "a\r\nb", "😀", 10 ** 30]
    keys = ["userName", "active", "emails", "name", "externalId", "title", ENTERPRISE_USER, "addresses",
            "displayName", "schemas", "groups", "id", "meta"]
    statuses = []
    for _ in range(60):
        body = new_user()
        for key in rng.sample(keys, 3):
            body[key] = rng.choice(values)
        statuses.append(idp.send("POST", "/Users", body).status_code)
        patch = {"Operations": [{"op": rng.choice(["add", "Replace", "remove", "x", 3]),
                                 "path": rng.choice(["title", 'emails[type eq "work"].value', "name.givenName",
                                                     "members[", f"{ENTERPRISE_USER}:manager", None, 5]),
                                 "value": rng.choice(values)}]}
        statuses.append(idp.send("PATCH", f"/Users/{uuid.uuid4()}", patch).status_code)
    assert all(s < 500 for s in statuses), statuses


# ---------------------------------------------------------------- users


def test_okta_probe_create_and_put_deprovisioning(suite, api, provider):
    org_id, admin, idp = provider
    program, contract = program_with_contract(admin, org_id, license_count=5)
    learner = invited_person(suite, api, admin, program, contract)  # a verified member of a program
    me = learner.get("/v1/me").json()
    probe = {"filter": f'userName eq "{me["email"].upper()}"', "startIndex": 1, "count": 2}
    empty = idp.send("GET", "/Users", params=probe).json()
    assert empty["schemas"] == [LIST_RESPONSE] and empty["totalResults"] == 0 and empty["Resources"] == []

    created = idp.send("POST", "/Users", new_user(me["email"], externalId="okta-1", title="Analyst",
                                                  **{ENTERPRISE_USER: {"department": "Data"}}))
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["id"] == me["id"]  # the existing account is linked, not duplicated
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert created.headers["ETag"] == user["meta"]["version"]
    assert is_scim_error(idp.send("POST", "/Users", new_user(me["email"])), 409, "uniqueness")

    found = idp.send("GET", "/Users", params=probe).json()
    assert found["totalResults"] == 1 and found["itemsPerPage"] == 1 and found["Resources"][0]["id"] == user["id"]
    profile = admin.get(f"/v1/orgs/{org_id}/people/{user['id']}").json()
    assert (profile["job_title"], profile["business_unit"], profile["external_id"]) == ("Analyst", "Data", "okta-1")
    assert contract_used(admin, contract["id"]) == 1

    # Okta deprovisions by PUT with active false: the person leaves every program, the license is freed
    replaced = idp.send("PUT", f"/Users/{user['id']}", {**new_user(me["email"], externalId="okta-1"),
                                                         "active": False})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["active"] is False and replaced.json()["meta"]["version"] != user["meta"]["version"]
    becomes(member_state, admin, program["id"], user["id"], expected="DELETED_MEMBER")
    assert contract_used(admin, contract["id"]) == 0
    assert admin.get(f"/v1/orgs/{org_id}/people/{user['id']}").json()["job_title"] is None  # PUT replaces
    assert learner.get("/v1/me").status_code == 200  # the account itself is untouched
    messaging = create_engine(suite.database_url("messaging"))
    wait_for(lambda: scalar(messaging, "SELECT count(*) FROM deliveries WHERE template = 'program_exit' "
                                       "AND recipient = :r", r=me["email"]) == 1)


def test_entra_patch_quirks_and_etags(provider):
    _, _, idp = provider
    user = idp.send("POST", "/Users", new_user()).json()
    patch = {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": user["userName"]},
        {"op": "Replace", "path": "name.givenName", "value": "Samantha"},
        {"op": "Add", "path": f"{ENTERPRISE_USER}:manager", "value": "boss@acme.example"},
        {"op": "Replace", "value": {f"{ENTERPRISE_USER}:department": "Finance", "title": "Lead",
                                    "urn:ietf:params:scim:schemas:extension:nosuch:2.0:User:x": "ignored"}},
        {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Lyon"},
    ]}
    stale = idp.send("PATCH", f"/Users/{user['id']}", patch, headers={"If-Match": 'W/"999"'})
    assert is_scim_error(stale, 412)
    patched = idp.send("PATCH", f"/Users/{user['id']}", patch, headers={"If-Match": user["meta"]["version"]})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"]["givenName"] == "Samantha" and body["title"] == "Lead"
    assert body[ENTERPRISE_USER]["department"] == "Finance"
    assert body[ENTERPRISE_USER]["manager"]["value"] == "boss@acme.example"
    assert body["addresses"][0]["locality"] == "Lyon"
    assert patched.headers["ETag"] == body["meta"]["version"] != user["meta"]["version"]
    off = idp.send("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]})
    assert off.status_code == 200 and off.json()["active"] is False
    assert idp.send("GET", "/Users", params={"filter": "active eq false"}).json()["totalResults"] == 1
    changing_email = idp.send("PATCH", f"/Users/{user['id']}", {"Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "someone.else@acme.example"}]})
    assert is_scim_error(changing_email, 400, "mutability")


def test_paging_is_stable(provider):
    _, _, idp = provider
    ids = [idp.send("POST", "/Users", new_user()).json()["id"] for _ in range(5)]
    pages = [idp.send("GET", "/Users", params={"startIndex": start, "count": 2}).json() for start in (1, 3, 5)]
    assert [p["totalResults"] for p in pages] == [5, 5, 5]
    assert [r["id"] for p in pages for r in p["Resources"]] == ids
    assert idp.send("GET", "/Users", params={"count": 0}).json()["Resources"] == []


def test_deprovisioning_acts_on_this_organization_only_and_can_skip_the_exit_email(suite, api, make_org):
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    program_a, contract_a = program_with_contract(admin_a, org_a)
    program_b, contract_b = program_with_contract(admin_b, org_b)
    person = invited_person(suite, api, admin_a, program_a, contract_a)
    me = person.get("/v1/me").json()
    # the same account joins org B's program too
    invited = admin_b.post("/v1/invitations", json={"program_id": program_b["id"], "contract_id": contract_b["id"],
                                                    "full_name": "Jo", "email": me["email"], "send_email": False})
    assert invited.status_code == 201, invited.text
    assert person.post(f"/v1/programs/{program_b['slug']}/join").status_code in (200, 201)
    assert admin_a.patch(f"/v1/orgs/{org_a}", json={"deprovision_exit_email": False}).status_code == 200

    idp_a = Scim(suite.base_url, scim_token(admin_a, org_a))
    idp_b = Scim(suite.base_url, scim_token(admin_b, org_b))
    user = idp_a.send("POST", "/Users", new_user(me["email"])).json()
    # tenancy: org B's token cannot see, change or group org A's user
    assert is_scim_error(idp_b.send("GET", f"/Users/{user['id']}"), 404)
    assert is_scim_error(idp_b.send("PATCH", f"/Users/{user['id']}", {"Operations": [
        {"op": "replace", "value": {"active": False}}]}), 404)
    assert is_scim_error(idp_b.send("DELETE", f"/Users/{user['id']}"), 404)
    assert idp_b.send("GET", "/Users", params={"filter": f'userName eq "{me["email"]}"'}).json()["totalResults"] == 0
    assert is_scim_error(idp_b.send("POST", "/Groups", {"displayName": "x", "members": [{"value": user["id"]}]}),
                         400, "invalidValue")

    assert idp_a.send("DELETE", f"/Users/{user['id']}").status_code == 204
    assert is_scim_error(idp_a.send("GET", f"/Users/{user['id']}"), 404)
    becomes(member_state, admin_a, program_a["id"], me["id"], expected="DELETED_MEMBER")
    assert member_state(admin_b, program_b["id"], me["id"]) == "MEMBER"  # the other organization's place stays
    assert contract_used(admin_b, contract_b["id"]) == 1
    messaging = create_engine(suite.database_url("messaging"))
    audit = wait_for(lambda: admin_a.get(f"/v1/orgs/{org_a}/audit",
                                         params={"action": "member.removed"}).json()["items"])
    assert audit[0]["details"]["reason"] == "DEPROVISIONED" and audit[0]["actor"]["kind"] == "api_token"
    assert scalar(messaging, "SELECT count(*) FROM deliveries WHERE template = 'program_exit' AND recipient = :r",
                  r=me["email"]) == 0  # the organization said: no email to a deleted account



def test_changes_made_while_programs_is_stopped_apply_when_it_resumes(suite, api, provider):
    """Programs stopped (SIGSTOP): SCIM answers from identity alone (a group join and a DELETE, 2xx at once),
    and the effects, published with identity's changes, apply when programs runs again: nothing is lost."""
    org_id, admin, idp = provider
    program, contract = program_with_contract(admin, org_id, license_count=5)
    assert admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Stopped", "program_id": program["id"], "contract_id": contract["id"]}).status_code == 200
    joiner = invited_person(suite, api, admin, *program_with_contract(admin, org_id)).get("/v1/me").json()
    leaver = invited_person(suite, api, admin, program, contract).get("/v1/me").json()
    joining = idp.send("POST", "/Users", new_user(joiner["email"])).json()
    leaving = idp.send("POST", "/Users", new_user(leaver["email"])).json()
    assert contract_used(admin, contract["id"]) == 1
    programs = suite.processes["programs"]
    os.kill(programs.pid, signal.SIGSTOP)
    try:
        group = idp.send("POST", "/Groups", {"displayName": "Stopped", "members": [{"value": joining["id"]}]})
        assert group.status_code == 201, group.text
        assert idp.send("DELETE", f"/Users/{leaving['id']}").status_code == 204
        assert is_scim_error(idp.send("GET", f"/Users/{leaving['id']}"), 404)
    finally:
        os.kill(programs.pid, signal.SIGCONT)
    becomes(member_state, admin, program["id"], joining["id"], expected="MEMBER")
    becomes(member_state, admin, program["id"], leaving["id"], expected="DELETED_MEMBER")
    assert contract_used(admin, contract["id"]) == 1  # one joined, one left


def test_a_refused_group_join_is_in_the_audit_log_and_joins_when_the_mapping_is_set_again(suite, api, provider):
    org_id, admin, idp = provider
    program, contract = program_with_contract(admin, org_id, license_count=1)
    assert admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Full", "program_id": program["id"], "contract_id": contract["id"]}).status_code == 200
    first, second = (invited_person(suite, api, admin, *program_with_contract(admin, org_id)).get("/v1/me").json()
                     for _ in range(2))
    users = [idp.send("POST", "/Users", new_user(p["email"])).json() for p in (first, second)]
    group = idp.send("POST", "/Groups", {"displayName": "Full", "members": [{"value": u["id"]} for u in users]})
    assert group.status_code == 201, group.text

    def refusals():
        return admin.get(f"/v1/orgs/{org_id}/audit", params={"action": "member.join_refused"}).json()["items"]

    (refused,) = wait_for(refusals, timeout=30)
    assert refused["details"]["code"] == "LICENSE_LIMIT_REACHED" and refused["details"]["via"] == "SCIM"
    assert refused["program_id"] == program["id"] and refused["actor"]["kind"] == "api_token"
    assert refused["target"]["id"] in {u["id"] for u in users}
    assert contract_used(admin, contract["id"]) == 1
    # the admin adds a license and sets the mapping again: every member's state is sent again, the refused joins
    assert admin.patch(f"/v1/contracts/{contract['id']}", json={"license_count": 2}).status_code == 200
    assert admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Full", "program_id": program["id"], "contract_id": contract["id"]}).status_code == 200
    for user in users:
        becomes(member_state, admin, program["id"], user["id"], expected="MEMBER")
    assert contract_used(admin, contract["id"]) == 2


# ---------------------------------------------------------------- groups


def test_groups_join_and_leave_mapped_programs_and_reactivation(suite, api, provider):
    org_id, admin, idp = provider
    program, contract = program_with_contract(admin, org_id, license_count=5)
    other_program, other_contract = program_with_contract(admin, org_id, license_count=5)
    mapping = admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Data Academy", "program_id": program["id"], "contract_id": contract["id"]})
    assert mapping.status_code == 200, mapping.text
    assert admin.get(f"/v1/orgs/{org_id}/scim/group-mappings").json()[0]["display_name"] == "Data Academy"
    wrong = admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Other", "program_id": program["id"], "contract_id": other_contract["id"]})
    assert wrong.status_code == 400, wrong.text  # that contract is not the program's

    verified = invited_person(suite, api, admin, other_program, other_contract).get("/v1/me").json()
    linked = idp.send("POST", "/Users", new_user(verified["email"])).json()
    fresh = idp.send("POST", "/Users", new_user()).json()  # a new, unverified account
    group = idp.send("POST", "/Groups", {"schemas": [CORE_GROUP], "displayName": "data academy",
                                         "members": [{"value": linked["id"]}]})
    assert group.status_code == 201, group.text
    group = group.json()
    becomes(member_state, admin, program["id"], linked["id"], expected="MEMBER")
    assert contract_used(admin, contract["id"]) == 1  # charged to the mapping's contract

    added = idp.send("PATCH", f"/Groups/{group['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": fresh["id"]}]}]})
    assert added.status_code == 200, added.text
    # the trust rule: an unverified account is invited (an emailed link proves the address), not joined
    wait_for(lambda: fresh["userName"] in pending_emails(admin, program["id"]), timeout=30)
    assert member_state(admin, program["id"], fresh["id"]) in (None, "INVITED")
    assert contract_used(admin, contract["id"]) == 1

    # deprovisioning removes every program; reactivation restores only what the groups say
    assert idp.send("PATCH", f"/Users/{linked['id']}", {"Operations": [
        {"op": "replace", "value": {"active": False}}]}).json()["active"] is False
    becomes(member_state, admin, program["id"], linked["id"], expected="DELETED_MEMBER")
    becomes(member_state, admin, other_program["id"], linked["id"], expected="DELETED_MEMBER")
    assert contract_used(admin, contract["id"]) == 0
    assert idp.send("PATCH", f"/Users/{linked['id']}", {"Operations": [
        {"op": "Replace", "path": "active", "value": "True"}]}).json()["active"] is True
    becomes(member_state, admin, program["id"], linked["id"], expected="MEMBER")  # the group's program
    assert member_state(admin, other_program["id"], linked["id"]) == "DELETED_MEMBER"  # not restored

    removed = idp.send("PATCH", f"/Groups/{group['id']}", {"Operations": [
        {"op": "Remove", "path": f'members[value eq "{linked["id"]}"]'}]})
    assert removed.status_code == 200 and [m["value"] for m in removed.json()["members"]] == [fresh["id"]]
    becomes(member_state, admin, program["id"], linked["id"], expected="DELETED_MEMBER")
    assert contract_used(admin, contract["id"]) == 0
    listed = idp.send("GET", "/Groups", params={"filter": 'displayName eq "DATA ACADEMY"',
                                                "excludedAttributes": "members"}).json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["members"] == []
    assert idp.send("DELETE", f"/Groups/{group['id']}").status_code == 204
    assert is_scim_error(idp.send("GET", f"/Groups/{group['id']}"), 404)
    # leaving the group revokes the invitation its join had emailed: the link no longer lets them in
    wait_for(lambda: fresh["userName"] in pending_emails(admin, program["id"], "REVOKED"), timeout=30)
    assert fresh["userName"] not in pending_emails(admin, program["id"])


def test_a_mapping_applies_at_once_and_its_removal_takes_the_members_out(suite, api, provider):
    """The group's members' states are published when an admin sets or removes a mapping (docs/scim.md): people
    already in the group join without waiting for its next change, and leave when the mapping goes."""
    org_id, admin, idp = provider
    program, contract = program_with_contract(admin, org_id, license_count=5)
    person = invited_person(suite, api, admin, *program_with_contract(admin, org_id)).get("/v1/me").json()
    user = idp.send("POST", "/Users", new_user(person["email"])).json()
    assert idp.send("POST", "/Groups", {"displayName": "Late", "members": [{"value": user["id"]}]}).status_code == 201
    mapping = admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "late", "program_id": program["id"], "contract_id": contract["id"]})
    assert mapping.status_code == 200, mapping.text
    becomes(member_state, admin, program["id"], user["id"], expected="MEMBER")
    assert admin.delete(f"/v1/orgs/{org_id}/scim/group-mappings/{mapping.json()['id']}").status_code == 204
    becomes(member_state, admin, program["id"], user["id"], expected="DELETED_MEMBER")
    assert contract_used(admin, contract["id"]) == 0


def test_scim_changes_are_in_the_audit_log(suite, provider):
    org_id, admin, idp = provider
    user = idp.send("POST", "/Users", new_user(title="Analyst"), headers={"X-Request-Id": "scim-audit-1"}).json()
    idp.send("PATCH", f"/Users/{user['id']}", {"Operations": [{"op": "replace", "path": "active", "value": False}]},
             headers={"X-Request-Id": "scim-audit-2"})

    def entries():
        items = admin.get(f"/v1/orgs/{org_id}/audit", params={"target": user["id"]}).json().get("items") or \
            admin.get(f"/v1/orgs/{org_id}/audit").json()["items"]
        found = {(e["request_id"], e["action"]): e for e in items}
        wanted = {("scim-audit-1", "scim.user_provisioned"), ("scim-audit-2", "scim.user_deprovisioned")}
        return found if wanted <= set(found) else None

    found = wait_for(entries, timeout=30)
    entry = found[("scim-audit-1", "scim.user_provisioned")]
    assert entry["actor"]["kind"] == "api_token" and entry["client_address"] == "127.0.0.1"


def test_an_organization_vouches_for_addresses_in_its_verified_domain(suite, api, provider):
    """Single sign-on's trust rule (docs/sso.md): an address in a domain the organization verified is its to
    vouch for; SCIM's accounts there are verified and their group joins happen at once."""
    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    org_id, admin, idp = provider
    domain = f"{unique('corp')}.example"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        verify_domain(uow, org_id, domain)
    program, contract = program_with_contract(admin, org_id, license_count=5)
    assert admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Everyone", "program_id": program["id"], "contract_id": contract["id"]}).status_code == 200
    vouched = idp.send("POST", "/Users", new_user(f"{unique('v')}@{domain}")).json()
    elsewhere = idp.send("POST", "/Users", new_user()).json()  # acme.example: not this organization's domain
    group = idp.send("POST", "/Groups", {"displayName": "Everyone", "members": [
        {"value": vouched["id"]}, {"value": elsewhere["id"]}]})
    assert group.status_code == 201, group.text
    becomes(member_state, admin, program["id"], vouched["id"], expected="MEMBER")
    wait_for(lambda: elsewhere["userName"] in pending_emails(admin, program["id"]), timeout=30)
    assert member_state(admin, program["id"], elsewhere["id"]) in (None, "INVITED")
    assert contract_used(admin, contract["id"]) == 1


@pytest.fixture
def dns(suite):
    """A DNS server on loopback, on the port identity asks (as tests/e2e/test_sso_domains.py)."""
    server = DnsServer(port=suite.dns_port).start()
    yield server
    server.stop()


def test_an_invited_member_joins_as_soon_as_the_organization_verifies_the_domain_by_dns(suite, api, provider, dns):
    """docs/scim.md, "Trust": the domain verified (an org admin's "check now" finding the TXT record), the
    organization vouches for its SCIM people there; the same transaction publishes their states, verified: the
    member invited before joins now, without waiting for a SCIM change, and the invitation is revoked."""
    org_id, admin, idp = provider
    domain = f"{unique('later')}.example"
    program, contract = program_with_contract(admin, org_id, license_count=5)
    assert admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": "Later", "program_id": program["id"], "contract_id": contract["id"]}).status_code == 200
    user = idp.send("POST", "/Users", new_user(f"{unique('u')}@{domain}")).json()
    assert idp.send("POST", "/Groups", {"displayName": "Later", "members": [{"value": user["id"]}]}).status_code == 201
    wait_for(lambda: user["userName"] in pending_emails(admin, program["id"]), timeout=30)
    assert member_state(admin, program["id"], user["id"]) in (None, "INVITED")

    claimed = admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": domain})
    assert claimed.status_code == 201, claimed.text
    record = claimed.json()["verification"]
    dns.publish(record["name"], record["value"])
    checked = admin.post(f"/v1/orgs/{org_id}/sso/domains/{claimed.json()['id']}/check")
    assert checked.status_code == 200 and checked.json()["status"] == "VERIFIED", checked.text
    becomes(member_state, admin, program["id"], user["id"], expected="MEMBER")
    wait_for(lambda: user["userName"] in pending_emails(admin, program["id"], "REVOKED"), timeout=30)
    assert contract_used(admin, contract["id"]) == 1
