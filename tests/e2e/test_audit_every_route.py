"""Nothing an admin does is missing from the audit log (issue 17): every
non-GET route of the OpenAPI document that a signed-in admin calls is walked,
on real objects, and each call must leave an entry with its action and the
call's own request id, actor and client address.

A new admin route fails `test_every_admin_route_is_walked` until it is added
to AUDITED (with the event its service publishes and the action the audit
service makes of it, services/audit/actions.py) or, if it changes nothing,
to READ_ONLY."""
import uuid
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import program_with_contract
from tests.e2e.test_programs_tenancy import invited_person
from tests.support.waiting import wait_for

TODAY = date.today()
# Signed-in routes that are not admin actions (a person's own things), and admin
# routes that change nothing (previews and counts).
NOT_ADMIN = {"PUT /v1/me/email-preferences", "POST /v1/enrollments", "POST /v1/programs/{slug}/join"}
READ_ONLY = {"POST /v1/invitations/preview", "POST /v1/orgs/{org_id}/audience",
             "POST /v1/messages/{message_id}/preview"}

# route -> the audit action its call must leave (in the order they are walked)
AUDITED = {
    "PATCH /v1/orgs/{org_id}": "org.settings_changed",
    "POST /v1/orgs/{org_id}/admins": "admin.role_granted",
    "DELETE /v1/orgs/{org_id}/admins/{admin_id}": "admin.role_revoked",
    "POST /v1/orgs/{org_id}/api-tokens": "api_token.created",
    "DELETE /v1/orgs/{org_id}/api-tokens/{token_id}": "api_token.revoked",
    "PATCH /v1/orgs/{org_id}/people/{user_id}": "person.profile_changed",
    "POST /v1/orgs/{org_id}/sso/connections": "sso.connection_created",
    "PATCH /v1/orgs/{org_id}/sso/connections/{connection_id}": "sso.connection_updated",
    "DELETE /v1/orgs/{org_id}/sso/connections/{connection_id}": "sso.connection_deleted",
    "POST /v1/orgs/{org_id}/sso/domains": "sso.domain_created",
    "POST /v1/orgs/{org_id}/sso/domains/{domain_id}/check": "sso.domain_checked",
    "DELETE /v1/orgs/{org_id}/sso/domains/{domain_id}": "sso.domain_deleted",
    "PUT /v1/orgs/{org_id}/sso/policy": "sso.policy_updated",
    "POST /v1/orgs/{org_id}/contracts": "contract.created",
    "PATCH /v1/contracts/{contract_id}": "contract.updated",
    "POST /v1/orgs/{org_id}/programs": "program.created",
    "PATCH /v1/programs/{program_id}": "program.updated",
    "POST /v1/programs/{program_id}/collections": "curriculum.collection_created",
    "PATCH /v1/collections/{collection_id}": "curriculum.collection_updated",
    "POST /v1/collections/{collection_id}/items": "curriculum.collection_items_added",
    "DELETE /v1/collections/{collection_id}/items/{item_id}": "curriculum.collection_item_removed",
    "DELETE /v1/collections/{collection_id}": "curriculum.collection_deleted",
    "POST /v1/invitations": "invitation.created",
    "POST /v1/invitations/{invitation_id}/resend": "invitation.resent",
    "POST /v1/programs/{program_id}/invitations/resend": "invitation.resent",
    "POST /v1/invitations/{invitation_id}/revoke": "invitation.revoked",
    "POST /v1/programs/{program_id}/invitations/revoke": "invitation.revoked",
    "POST /v1/invitations/imports": "invitation.import_started",
    "POST /v1/orgs/{org_id}/messages": "message.drafted",
    "PATCH /v1/messages/{message_id}": "message.updated",
    "DELETE /v1/messages/{message_id}": "message.discarded",
    "POST /v1/messages/{message_id}/send": "message.send_requested",
    "POST /v1/programs/{program_id}/remind-enroll": "message.enroll_reminder_sent",
    "POST /v1/orgs/{org_id}/reports/email": "report.emailed",
    "DELETE /v1/programs/{program_id}/members/{user_id}": "member.removed",
    "DELETE /v1/programs/{program_id}": "program.removed",
    "PUT /v1/orgs/{org_id}/scim/group-mappings": "scim.group_mapping_set",
    "DELETE /v1/orgs/{org_id}/scim/group-mappings/{mapping_id}": "scim.group_mapping_removed",
    # an identity provider's changes, by an API token of scope scim (the actor is the token)
    "POST /scim/v2/Users": "scim.user_provisioned",
    "PUT /scim/v2/Users/{user_id}": "scim.user_updated",
    "PATCH /scim/v2/Users/{user_id}": "scim.user_deprovisioned",
    "DELETE /scim/v2/Users/{user_id}": "scim.user_deleted",
    "POST /scim/v2/Groups": "scim.group_created",
    "PUT /scim/v2/Groups/{group_id}": "scim.group_updated",
    "PATCH /scim/v2/Groups/{group_id}": "scim.group_updated",
    "DELETE /scim/v2/Groups/{group_id}": "scim.group_deleted",
}
SCIM_ROUTES = {route for route in AUDITED if " /scim/" in route}


# Learning-activity feeds (API tokens of these scopes send learners' statements, not admin actions).
DATA_FEED_SCOPES = {"activity:write"}


def admin_routes(api: Api) -> set[str]:
    """Every signed-in, non-GET operation of the OpenAPI document (but data feeds)."""
    document = api.get("/v1/openapi.json").json()
    return {f"{method.upper()} {path}" for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if method != "get" and operation.get("security")
            and operation.get("x-api-token-scope") not in DATA_FEED_SCOPES}


def test_every_admin_route_is_walked(suite, api):
    routes = admin_routes(api)
    assert routes - NOT_ADMIN - READ_ONLY - set(AUDITED) == set(), "admin routes without an audit expectation"
    assert set(AUDITED) | READ_ONLY | NOT_ADMIN <= routes, "routes listed here that the API no longer has"
    document = api.get("/v1/openapi.json").json()
    audit_paths = {path: set(operations) for path, operations in document["paths"].items() if "/audit" in path}
    assert audit_paths and all(methods == {"get"} for methods in audit_paths.values()), audit_paths  # read-only


@pytest.fixture(scope="module")
def world(suite, api):
    from servicekit.standalone import unit_of_work
    from services.programs.commands import catalog
    from tests.e2e.conftest import create_org

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    org_id, admin, _ = create_org(suite, api)
    program, contract = program_with_contract(admin, org_id)
    learner = invited_person(suite, api, admin, program, contract)
    courses = admin.get("/v1/catalog/courses", params={"limit": 2}).json()["items"]
    return {"org_id": org_id, "admin": admin, "program": program, "contract": contract,
            "learner_id": learner.get("/v1/me").json()["id"], "courses": [c["id"] for c in courses]}


def test_every_admin_action_leaves_an_audit_entry(suite, api, world):
    admin: Api = world["admin"]
    org_id, program, contract = world["org_id"], world["program"], world["contract"]
    admin_id = admin.get("/v1/me").json()["id"]
    walked: dict[str, str] = {}  # route -> request id

    def call(route: str, path: str, expected: int, caller: Api | None = None, **kwargs) -> dict:
        request_id = f"walk-{uuid.uuid4().hex}"
        method = route.split(" ")[0]
        headers = {"X-Request-Id": request_id, **kwargs.pop("headers", {})}
        response = (caller or admin).request(method, path, headers=headers, **kwargs)
        assert response.status_code == expected, (route, response.text)
        walked[route] = request_id
        return response.json() if response.content and expected != 204 else {}

    def invite(email=None) -> dict:
        return call("POST /v1/invitations", "/v1/invitations", 201, json={
            "program_id": program["id"], "contract_id": contract["id"], "full_name": "Ivy Invitee",
            "email": email or f"{unique('invitee')}@example.com", "send_email": False})

    call("PATCH /v1/orgs/{org_id}", f"/v1/orgs/{org_id}", 200, json={"name": unique("Renamed org")})
    granted = call("POST /v1/orgs/{org_id}/admins", f"/v1/orgs/{org_id}/admins", 201, json={
        "email": f"{unique('padmin')}@example.com", "full_name": "Pat Admin", "role": "PROGRAM_ADMIN",
        "program_ids": [program["id"]]})
    call("DELETE /v1/orgs/{org_id}/admins/{admin_id}", f"/v1/orgs/{org_id}/admins/{granted['id']}", 204)
    token = call("POST /v1/orgs/{org_id}/api-tokens", f"/v1/orgs/{org_id}/api-tokens", 201,
                 json={"name": unique("token"), "scopes": ["audit:read"]})
    call("DELETE /v1/orgs/{org_id}/api-tokens/{token_id}", f"/v1/orgs/{org_id}/api-tokens/{token['id']}", 204)
    call("PATCH /v1/orgs/{org_id}/people/{user_id}", f"/v1/orgs/{org_id}/people/{world['learner_id']}", 200,
         json={"job_title": "Analyst"})
    connection = call("POST /v1/orgs/{org_id}/sso/connections", f"/v1/orgs/{org_id}/sso/connections", 201, json={
        "kind": "OIDC", "name": unique("Okta"), "issuer": "https://login.example.com", "client_id": "learnadmin",
        "client_secret": "a-client-secret"})
    call("PATCH /v1/orgs/{org_id}/sso/connections/{connection_id}",
         f"/v1/orgs/{org_id}/sso/connections/{connection['id']}", 200, json={"enabled": False})
    call("DELETE /v1/orgs/{org_id}/sso/connections/{connection_id}",
         f"/v1/orgs/{org_id}/sso/connections/{connection['id']}", 204)
    domain = call("POST /v1/orgs/{org_id}/sso/domains", f"/v1/orgs/{org_id}/sso/domains", 201,
                  json={"domain": f"{unique('walk')}.example"})
    call("POST /v1/orgs/{org_id}/sso/domains/{domain_id}/check",  # no TXT record (no name server): not verified
         f"/v1/orgs/{org_id}/sso/domains/{domain['id']}/check", 200)
    call("DELETE /v1/orgs/{org_id}/sso/domains/{domain_id}", f"/v1/orgs/{org_id}/sso/domains/{domain['id']}", 204)
    call("PUT /v1/orgs/{org_id}/sso/policy", f"/v1/orgs/{org_id}/sso/policy", 200, json={"only_sso": True})
    new_contract = call("POST /v1/orgs/{org_id}/contracts", f"/v1/orgs/{org_id}/contracts", 201, json={
        "name": unique("Contract"), "license_count": 5, "starts_on": str(TODAY - timedelta(days=1)),
        "ends_on": str(TODAY + timedelta(days=30))})
    call("PATCH /v1/contracts/{contract_id}", f"/v1/contracts/{new_contract['id']}", 200, json={"license_count": 7})
    doomed = call("POST /v1/orgs/{org_id}/programs", f"/v1/orgs/{org_id}/programs", 201,
                  json={"name": unique("Program"), "contract_ids": [new_contract["id"]]})
    call("PATCH /v1/programs/{program_id}", f"/v1/programs/{doomed['id']}", 200, json={"tagline": "Soon gone"})
    collection = call("POST /v1/programs/{program_id}/collections", f"/v1/programs/{program['id']}/collections",
                      201, json={"name": unique("Core")})
    call("PATCH /v1/collections/{collection_id}", f"/v1/collections/{collection['id']}", 200,
         json={"description": "the essentials"})
    with_items = call("POST /v1/collections/{collection_id}/items", f"/v1/collections/{collection['id']}/items", 200,
                      json={"course_ids": world["courses"], "specialization_ids": []})
    call("DELETE /v1/collections/{collection_id}/items/{item_id}",
         f"/v1/collections/{collection['id']}/items/{with_items['items'][0]['id']}", 204)
    call("DELETE /v1/collections/{collection_id}", f"/v1/collections/{collection['id']}", 204)
    first = invite()
    call("POST /v1/invitations/{invitation_id}/resend", f"/v1/invitations/{first['id']}/resend", 200)
    call("POST /v1/programs/{program_id}/invitations/resend", f"/v1/programs/{program['id']}/invitations/resend", 200)
    call("POST /v1/invitations/{invitation_id}/revoke", f"/v1/invitations/{first['id']}/revoke", 200)
    second = invite()
    call("POST /v1/programs/{program_id}/invitations/revoke", f"/v1/programs/{program['id']}/invitations/revoke", 200,
         json={"invitation_ids": [second["id"]]})
    csv_file = f"Full Name,Email,External ID\nCee Essvee,{unique('csv')}@example.com,\n".encode()
    call("POST /v1/invitations/imports", "/v1/invitations/imports", 202,
         files={"file": ("people.csv", csv_file, "text/csv")},
         data={"program_id": program["id"], "contract_id": contract["id"], "send_email": "false"})
    draft = call("POST /v1/orgs/{org_id}/messages", f"/v1/orgs/{org_id}/messages", 201, json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": "Welcome", "content": "Hello", "sender_name": "Team"})
    call("PATCH /v1/messages/{message_id}", f"/v1/messages/{draft['id']}", 200, json={"subject": "Welcome aboard"})
    call("POST /v1/messages/{message_id}/send", f"/v1/messages/{draft['id']}/send", 202, json={"accept_terms": True})
    other = admin.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": "Draft", "content": "x", "sender_name": "Team"}).json()
    call("DELETE /v1/messages/{message_id}", f"/v1/messages/{other['id']}", 204)
    call("POST /v1/programs/{program_id}/remind-enroll", f"/v1/programs/{program['id']}/remind-enroll", 202)
    call("POST /v1/orgs/{org_id}/reports/email", f"/v1/orgs/{org_id}/reports/email", 202, json={"report": "usage"})
    call("DELETE /v1/programs/{program_id}/members/{user_id}",
         f"/v1/programs/{program['id']}/members/{world['learner_id']}", 204)
    call("DELETE /v1/programs/{program_id}", f"/v1/programs/{doomed['id']}", 200, params={"confirm": "true"})

    mapping = call("PUT /v1/orgs/{org_id}/scim/group-mappings", f"/v1/orgs/{org_id}/scim/group-mappings", 200,
                   json={"display_name": "Walkers", "program_id": program["id"], "contract_id": contract["id"]})
    call("DELETE /v1/orgs/{org_id}/scim/group-mappings/{mapping_id}",
         f"/v1/orgs/{org_id}/scim/group-mappings/{mapping['id']}", 204)
    scim_token = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("idp"), "scopes": ["scim"]}).json()
    idp = Api(admin.base_url, scim_token["token"])
    scim_json = {"Content-Type": "application/scim+json"}
    email = f"{unique('scim')}@example.com"
    person = {"userName": email, "emails": [{"value": email, "primary": True}], "name": {"formatted": "Sky Scim"}}
    user = call("POST /scim/v2/Users", "/scim/v2/Users", 201, idp, json=person, headers=scim_json)
    call("PUT /scim/v2/Users/{user_id}", f"/scim/v2/Users/{user['id']}", 200, idp,
         json={**person, "title": "Walker"}, headers=scim_json)
    group = call("POST /scim/v2/Groups", "/scim/v2/Groups", 201, idp,
                 json={"displayName": unique("Group"), "members": [{"value": user["id"]}]}, headers=scim_json)
    call("PUT /scim/v2/Groups/{group_id}", f"/scim/v2/Groups/{group['id']}", 200, idp,
         json={"displayName": group["displayName"], "members": []}, headers=scim_json)
    call("PATCH /scim/v2/Groups/{group_id}", f"/scim/v2/Groups/{group['id']}", 200, idp,
         json={"Operations": [{"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]}, headers=scim_json)
    call("DELETE /scim/v2/Groups/{group_id}", f"/scim/v2/Groups/{group['id']}", 204, idp)
    call("PATCH /scim/v2/Users/{user_id}", f"/scim/v2/Users/{user['id']}", 200, idp,
         json={"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}, headers=scim_json)
    call("DELETE /scim/v2/Users/{user_id}", f"/scim/v2/Users/{user['id']}", 204, idp)

    assert set(walked) == set(AUDITED), set(AUDITED) ^ set(walked)

    def recorded() -> dict:
        items, cursor = [], None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = admin.get(f"/v1/orgs/{org_id}/audit", params=params)
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if not cursor:
                return {(e["request_id"], e["action"]): e for e in items}

    def all_there():
        entries = recorded()
        return entries if all((walked[r], AUDITED[r]) in entries for r in AUDITED) else None

    try:
        entries = wait_for(all_there, timeout=60)
    except AssertionError:
        entries = recorded()
        missing = [r for r in AUDITED if (walked[r], AUDITED[r]) not in entries]
        raise AssertionError(f"admin actions without their audit entry: {missing}") from None
    for route, action in AUDITED.items():
        entry = entries[(walked[route], action)]
        if route in SCIM_ROUTES:
            assert entry["actor"]["kind"] == "api_token" and entry["actor"]["id"] == scim_token["id"], (route, entry)
        else:
            assert entry["actor"]["kind"] == "person" and entry["actor"]["id"] == admin_id, (route, entry)
        assert entry["client_address"] == "127.0.0.1", (route, entry)
    updated = entries[(walked["PATCH /v1/contracts/{contract_id}"], "contract.updated")]
    assert updated["changes"] == {"license_count": {"before": 5, "after": 7}}
    profile = entries[(walked["PATCH /v1/orgs/{org_id}/people/{user_id}"], "person.profile_changed")]
    assert profile["changes"] == {"job_title": {"before": None, "after": "Analyst"}}


def test_sign_ins_and_refused_sign_ins_are_recorded(suite, api, make_org):
    org_id, admin, email = make_org()
    refused = api.post("/v1/auth/login", json={"email": email, "password": "not the password at all"},
                       headers={"X-Request-Id": f"bad-{uuid.uuid4().hex}"})
    assert refused.status_code == 401
    api.as_user(email, "correct horse battery")
    failed = wait_for(lambda: admin.get(f"/v1/orgs/{org_id}/audit", params={"action": "sign_in.failed"})
                      .json()["items"])
    assert failed[0]["actor"] == {"kind": "anonymous", "id": None, "label": email}
    assert failed[0]["details"]["reason"] == "INVALID_CREDENTIALS"
    assert failed[0]["request_id"] == refused.headers["X-Request-Id"]
    assert failed[0]["client_address"] == "127.0.0.1"
    signed_in = wait_for(lambda: admin.get(f"/v1/orgs/{org_id}/audit", params={"action": "sign_in.succeeded"})
                         .json()["items"])
    me = admin.get("/v1/me").json()
    assert {e["actor"]["id"] for e in signed_in} == {me["id"]}
    assert signed_in[0]["details"] == {"method": "PASSWORD"}
