"""Single sign-on with OpenID Connect, end to end (issue 17, docs/sso.md): the
real gateway and identity against a real OIDC provider run by the test
(tests/support/oidc_provider.py: RS256 ID tokens, PKCE, over HTTP on
loopback). The browser's hops are followed by hand: start -> provider ->
callback -> console's /sso/complete?code -> exchange for tokens."""
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import Api, add_admin, unique
from tests.e2e.helpers import program_with_contract
from tests.support.oidc_provider import OidcProvider
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def provider():
    running = OidcProvider().start()
    yield running
    running.stop()


def verify_domain(suite, org_id: str, domain: str) -> None:
    """What the operator's `python -m services.identity.cli verify-domain` does."""
    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain as verify

    with unit_of_work("identity", suite.database_url("identity")) as uow:
        verify(uow, org_id, domain)


@pytest.fixture(scope="module")
def acme(suite, api, provider):
    from tests.e2e.conftest import create_org

    org_id, admin, admin_email = create_org(suite, api)
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    program, contract = program_with_contract(admin, org_id)
    created = admin.post(f"/v1/orgs/{org_id}/sso/connections", json={
        "kind": "OIDC", "name": "Acme Okta", "issuer": provider.issuer, "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "attribute_mapping": {"job_title": "title", "location_city": "city", "manager_email": "manager_email",
                              "business_unit": "department"},
        "auto_join": [{"program_id": program["id"], "contract_id": contract["id"]}]})
    assert created.status_code == 201, created.text
    added = admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": domain})
    assert added.status_code == 201, added.text
    verify_domain(suite, org_id, domain)
    return {"org_id": org_id, "admin": admin, "admin_email": admin_email, "domain": domain,
            "connection": created.json(), "program": program, "contract": contract}


def sign_in(suite, provider, connection_id: str, state_edit=None) -> requests.Response:
    """The browser's hops up to the gateway's callback answer (not followed further)."""
    browser = requests.Session()
    started = browser.get(f"{suite.base_url}/v1/sso/{connection_id}/start", params={"return_to": "/learn"},
                          allow_redirects=False, timeout=30)
    assert started.status_code == 302, started.text
    assert started.headers["Location"].startswith(provider.issuer + "/authorize?")
    at_provider = browser.get(started.headers["Location"], allow_redirects=False, timeout=30)
    assert at_provider.status_code == 302, at_provider.text
    callback = at_provider.headers["Location"]
    if state_edit is not None:
        parts = urlsplit(callback)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = state_edit(query["state"])
        return browser.get(callback.split("?")[0], params=query, allow_redirects=False, timeout=30)
    return browser.get(callback, allow_redirects=False, timeout=30)


def handoff_code(response: requests.Response) -> dict:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sso/complete"
    return parse_qs(location.query)


def tokens_of(api: Api, response: requests.Response) -> dict:
    code = handoff_code(response)["code"][0]
    exchanged = api.post("/v1/auth/sso/exchange", json={"code": code})
    assert exchanged.status_code == 200, exchanged.text
    again = api.post("/v1/auth/sso/exchange", json={"code": code})
    assert again.status_code == 401 and again.json()["error"]["code"] == "TOKEN_INVALID"  # single use
    return exchanged.json()


def audit_entries(admin: Api, org_id: str, action: str) -> list[dict]:
    page = admin.get(f"/v1/orgs/{org_id}/audit", params={"action": action, "limit": 200})
    assert page.status_code == 200, page.text
    return page.json()["items"]


def test_connection_is_shown_without_its_secret(acme, provider):
    listed = acme["admin"].get(f"/v1/orgs/{acme['org_id']}/sso/connections").json()
    assert [c["name"] for c in listed] == ["Acme Okta"]
    shown = listed[0]
    assert shown["client_secret_set"] is True and "client_secret" not in shown
    assert provider.client_secret not in str(listed)
    assert shown["redirect_uri"].endswith("/v1/sso/oidc/callback")
    assert shown["start_url"].endswith(f"/v1/sso/{shown['id']}/start")


def test_secret_is_stored_encrypted(suite, acme, provider):
    from sqlalchemy import create_engine, text

    engine = create_engine(suite.database_url("identity"))
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT client_secret_enc FROM sso_connections WHERE id = :id"),
                              {"id": acme["connection"]["id"]}).scalar_one()
    engine.dispose()
    assert stored and provider.client_secret not in stored


def test_just_in_time_account_profile_and_auto_join(suite, api, acme, provider):
    email = f"{unique('jit')}@{acme['domain']}"
    provider.tamper = None
    provider.user = {"sub": unique("sub"), "email": email, "name": "Jay Intime", "title": "Analyst",
                     "city": "Lyon", "manager_email": f"boss@{acme['domain']}", "department": "Finance"}
    answer = sign_in(suite, provider, acme["connection"]["id"])
    params = handoff_code(answer)
    assert params["next"] == ["/learn"] and "refused" not in params
    tokens = tokens_of(api, answer)
    me = Api(suite.base_url, tokens["access_token"]).get("/v1/me").json()
    assert me["email"] == email and me["email_verified"] is True
    person = acme["admin"].get(f"/v1/orgs/{acme['org_id']}/people/{me['id']}").json()
    assert person["external_id"] == provider.user["sub"]
    assert (person["job_title"], person["location_city"], person["business_unit"]) == ("Analyst", "Lyon", "Finance")
    members = acme["admin"].get(f"/v1/programs/{acme['program']['id']}/members").json()["items"]
    assert me["id"] in [m["user_id"] for m in members]
    # attributes are refreshed at every sign-in
    provider.user = {**provider.user, "title": "Senior Analyst"}
    tokens_of(api, sign_in(suite, provider, acme["connection"]["id"]))
    person = acme["admin"].get(f"/v1/orgs/{acme['org_id']}/people/{me['id']}").json()
    assert person["job_title"] == "Senior Analyst"
    entries = wait_for(lambda: [e for e in audit_entries(acme["admin"], acme["org_id"], "sign_in.succeeded")
                                if e["target"]["id"] == me["id"]] or None, timeout=30)
    assert entries[0]["details"]["method"] == "OIDC"


@pytest.mark.parametrize("tamper, reason", [("audience", "AUDIENCE_INVALID"), ("expired", "TOKEN_EXPIRED"),
                                            ("forged", "SIGNATURE_INVALID"), ("nonce", "NONCE_INVALID")])
def test_a_wrong_id_token_is_refused_with_a_page_and_an_audit_entry(suite, acme, provider, tamper, reason):
    email = f"{unique(tamper)}@{acme['domain']}"
    provider.user = {"sub": unique("sub"), "email": email, "name": "Mal Formed"}
    provider.tamper = tamper
    try:
        answer = sign_in(suite, provider, acme["connection"]["id"])
    finally:
        provider.tamper = None
    assert answer.status_code == 401, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "You could not be signed in" in answer.text and f'<code id="sso-reason">{reason}</code>' in answer.text
    assert wait_for(lambda: [e for e in audit_entries(acme["admin"], acme["org_id"], "sign_in.failed")
                             if e["details"].get("reason") == reason], timeout=30)


def test_a_tampered_state_is_refused(suite, acme, provider):
    provider.user = {"sub": unique("sub"), "email": f"{unique('state')}@{acme['domain']}", "name": "Stay Te"}
    answer = sign_in(suite, provider, acme["connection"]["id"], state_edit=lambda s: s[:-4] + "AAAA")
    assert answer.status_code == 401 and "STATE_INVALID" in answer.text
    assert "This sign-in link is not valid" in answer.text
    assert wait_for(lambda: [e for e in audit_entries(acme["admin"], acme["org_id"], "sign_in.failed")
                             if e["details"].get("reason") == "STATE_INVALID"], timeout=30)


def test_one_orgs_provider_cannot_sign_in_as_another_orgs_admin(suite, api, acme, provider, make_org):
    # the victim: an admin of another organization, at an address outside acme's verified domain
    _, _, other_email = make_org()
    provider.user = {"sub": unique("sub"), "email": other_email, "name": "Ada Admin"}
    answer = sign_in(suite, provider, acme["connection"]["id"])
    assert answer.status_code == 403 and "ACCOUNT_OF_ANOTHER_ORGANIZATION" in answer.text
    # nor an address of a domain nobody verified that has no account
    provider.user = {"sub": unique("sub"), "email": f"{unique('x')}@unverified.example", "name": "No Body"}
    answer = sign_in(suite, provider, acme["connection"]["id"])
    assert answer.status_code == 403 and "DOMAIN_NOT_VERIFIED" in answer.text
    assert wait_for(lambda: [e for e in audit_entries(acme["admin"], acme["org_id"], "sign_in.failed")
                             if e["details"].get("reason") == "ACCOUNT_OF_ANOTHER_ORGANIZATION"], timeout=30)


def test_an_account_of_this_organization_alone_links_outside_verified_domains(suite, api, acme, provider):
    email = f"{unique('contractor')}@partner.example"
    add_admin(acme["admin"], acme["org_id"], email, "Con Tractor", role="PROGRAM_ADMIN",
              program_ids=[acme["program"]["id"]])
    # the account exists (created by the grant) but its address is not confirmed: refused until it is
    provider.user = {"sub": unique("sub"), "email": email, "name": "Con Tractor"}
    answer = sign_in(suite, provider, acme["connection"]["id"])
    assert answer.status_code == 403 and "ACCOUNT_NOT_VERIFIED" in answer.text
    # a confirmed account that is acme's alone links
    from tests.e2e.conftest import verified_signup

    confirmed = f"{unique('partner')}@partner.example"
    verified_signup(suite, api, confirmed, "Part Ner", "correct horse battery")
    add_admin(acme["admin"], acme["org_id"], confirmed, "Part Ner", role="PROGRAM_ADMIN",
              program_ids=[acme["program"]["id"]])
    provider.user = {"sub": unique("sub"), "email": confirmed, "name": "Part Ner"}
    tokens = tokens_of(api, sign_in(suite, provider, acme["connection"]["id"]))
    assert Api(suite.base_url, tokens["access_token"]).get("/v1/me").json()["email"] == confirmed


def test_only_sso_refuses_passwords_in_verified_domains_but_not_the_org_admins(suite, api, acme, provider):
    from tests.e2e.conftest import verified_signup

    email = f"{unique('pw')}@{acme['domain']}"
    verified_signup(suite, api, email, "Pat Password", "correct horse battery")
    assert api.post("/v1/auth/login", json={"email": email, "password": "correct horse battery"}).status_code == 200
    put = acme["admin"].put(f"/v1/orgs/{acme['org_id']}/sso/policy", json={"only_sso": True})
    assert put.status_code == 200 and put.json()["only_sso"] is True
    try:
        refused = api.post("/v1/auth/login", json={"email": email, "password": "correct horse battery"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "SSO_REQUIRED"
        assert refused.json()["error"]["details"]["sso"][0]["name"] == "Acme Okta"
        # the org admin's address is outside the domain here; an org admin inside it keeps the password too
        admin_in_domain = f"{unique('boss')}@{acme['domain']}"
        verified_signup(suite, api, admin_in_domain, "Bo Ss", "correct horse battery")
        add_admin(acme["admin"], acme["org_id"], admin_in_domain, "Bo Ss")
        kept = api.post("/v1/auth/login", json={"email": admin_in_domain, "password": "correct horse battery"})
        assert kept.status_code == 200, kept.text
        # nor may the password accept an invitation (sign in with the company account, then accept)
        invitation = acme["admin"].post("/v1/invitations", json={
            "program_id": acme["program"]["id"], "contract_id": acme["contract"]["id"], "full_name": "Pat Password",
            "email": email, "send_email": True})
        assert invitation.status_code == 201, invitation.text
        token = invitation_token(suite, invitation.json()["id"])
        accepted = api.post("/v1/invitations/accept", json={"token": token, "password": "correct horse battery"})
        assert accepted.status_code == 403 and accepted.json()["error"]["code"] == "SSO_REQUIRED", accepted.text
    finally:
        acme["admin"].put(f"/v1/orgs/{acme['org_id']}/sso/policy", json={"only_sso": False})


def invitation_token(suite, invitation_id: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(suite.database_url("invitations"))
    try:
        url = wait_for(lambda: _accept_url(engine, text, invitation_id), timeout=30)
    finally:
        engine.dispose()
    return url.split("token=")[1]


def _accept_url(engine, text, invitation_id):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT envelope->'payload'->>'accept_url' FROM kit_outbox "
            "WHERE envelope->'payload'->>'invitation_id' = :id AND envelope->'payload'->>'accept_url' IS NOT NULL "
            "ORDER BY id DESC LIMIT 1"), {"id": invitation_id}).scalar()


def test_discovery_names_the_connection_of_a_verified_domain(api, acme):
    found = api.post("/v1/auth/sso/discover", json={"email": f"someone@{acme['domain']}"})
    assert found.status_code == 200
    assert [o["name"] for o in found.json()["items"]] == ["Acme Okta"]
    assert api.post("/v1/auth/sso/discover", json={"email": "someone@nowhere.example"}).json()["items"] == []


def test_admin_changes_are_audited_and_tenancy_holds(suite, acme, make_org):
    org_id, admin = acme["org_id"], acme["admin"]
    made = admin.post(f"/v1/orgs/{org_id}/sso/connections", json={
        "kind": "OIDC", "name": "Temp", "issuer": "https://login.example.com", "client_id": "c",
        "client_secret": "s3cret-value"})
    assert made.status_code == 201, made.text
    changed = admin.patch(f"/v1/orgs/{org_id}/sso/connections/{made.json()['id']}", json={"enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    other_org, other_admin, _ = make_org()
    assert other_admin.get(f"/v1/orgs/{org_id}/sso/connections").status_code in (403, 404)  # not theirs
    assert other_admin.patch(f"/v1/orgs/{other_org}/sso/connections/{made.json()['id']}",
                             json={"enabled": True}).status_code == 404
    assert admin.delete(f"/v1/orgs/{org_id}/sso/connections/{made.json()['id']}").status_code == 204
    for action in ("sso.connection_created", "sso.connection_updated", "sso.connection_deleted",
                   "sso.domain_created", "sso.domain_verified"):
        assert wait_for(lambda action=action: audit_entries(admin, org_id, action), timeout=30), action
    updated = audit_entries(admin, org_id, "sso.connection_updated")[0]
    assert updated["changes"] == {"enabled": {"before": True, "after": False}}
    incomplete = admin.post(f"/v1/orgs/{org_id}/sso/connections", json={"kind": "OIDC", "name": "No issuer"})
    assert incomplete.status_code == 400 and "issuer" in incomplete.json()["error"]["details"]


def test_auto_join_refusal_is_named_and_the_sign_in_still_succeeds(suite, api, acme, provider):
    """A connection whose auto-join program has no free license: the person is signed in, and the
    console is told which program could not be joined and why."""
    admin, org_id = acme["admin"], acme["org_id"]
    program, contract = program_with_contract(admin, org_id, license_count=1)
    changed = admin.patch(f"/v1/orgs/{org_id}/sso/connections/{acme['connection']['id']}", json={
        "auto_join": [{"program_id": program["id"], "contract_id": contract["id"]}]})
    assert changed.status_code == 200, changed.text
    try:
        provider.user = {"sub": unique("sub"), "email": f"{unique('first')}@{acme['domain']}", "name": "First One"}
        first = handoff_code(sign_in(suite, provider, acme["connection"]["id"]))
        assert "refused" not in first  # the one license
        provider.user = {"sub": unique("sub"), "email": f"{unique('second')}@{acme['domain']}", "name": "Sec Ond"}
        answer = sign_in(suite, provider, acme["connection"]["id"])
        params = handoff_code(answer)
        assert params["refused"] == [f"LICENSE_LIMIT_REACHED:{program['name']}"]
        assert tokens_of(api, answer)["access_token"]  # signed in all the same
    finally:
        admin.patch(f"/v1/orgs/{org_id}/sso/connections/{acme['connection']['id']}", json={
            "auto_join": [{"program_id": acme["program"]["id"], "contract_id": acme["contract"]["id"]}]})


def test_a_domain_is_verified_for_one_organization_only_by_the_operator_command(suite, acme, make_org):
    import subprocess
    import sys

    def verify_command(org_id: str, domain: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "services.identity.cli", "verify-domain", "--org", org_id,
                               "--domain", domain], env=suite.env, capture_output=True, text=True, timeout=120)

    other_org, other_admin, _ = make_org()
    # another organization can neither claim the domain nor have it verified while acme holds it
    claimed = other_admin.post(f"/v1/orgs/{other_org}/sso/domains", json={"domain": acme["domain"]})
    assert claimed.status_code == 409 and claimed.json()["error"]["code"] == "DOMAIN_TAKEN", claimed.text
    taken = verify_command(other_org, acme["domain"])
    assert taken.returncode != 0 and "DOMAIN_TAKEN" in taken.stderr, taken
    own = f"{unique('own')}.example"
    done = verify_command(other_org, own)  # the operator's command, as docs/sso.md documents it
    assert done.returncode == 0 and f"domain {own} verified" in done.stdout, done
    domains = other_admin.get(f"/v1/orgs/{other_org}/sso/domains").json()
    assert {d["domain"]: (d["verified"], d["proof"]) for d in domains} == {own: (True, "ADMIN")}
    bad = other_admin.post(f"/v1/orgs/{other_org}/sso/domains", json={"domain": "Not A Domain\r\n"})
    assert bad.status_code == 400 and "domain" in bad.json()["error"]["details"]
