"""Self-service domain verification, end to end (docs/sso.md, "Verifying a
domain"): an org admin claims a domain through the gateway, publishes the TXT
record it answers in a real DNS server run by the test on loopback
(tests/support/dns_server.py, on the port identity is given as
SSO_DNS_NAMESERVERS), and "check now" verifies it; single sign-on then honours
the domain (a just-in-time account through the test OIDC provider). One
organization per domain; tenancy; bad input."""
import json
import uuid

import pytest
import requests

from tests.e2e.conftest import Api, create_org, unique
from tests.e2e.helpers import add_program_admin, program_with_contract
from tests.e2e.test_sso_oidc import sign_in, tokens_of
from tests.support.dns_server import DnsServer
from tests.support.oidc_provider import OidcProvider
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def dns(suite):
    server = DnsServer(port=suite.dns_port).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def provider():
    running = OidcProvider().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def acme(suite, api):
    org_id, admin, email = create_org(suite, api)
    return {"org_id": org_id, "admin": admin, "admin_id": admin.get("/v1/me").json()["id"]}


def new_domain() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}.example"


def audit_actions(admin: Api, org_id: str, target_id: str) -> list[str]:
    page = admin.get(f"/v1/orgs/{org_id}/audit", params={"limit": 200})
    assert page.status_code == 200, page.text
    return [e["action"] for e in page.json()["items"] if (e.get("target") or {}).get("id") == target_id]


def test_claim_publish_check_then_sso_honours_the_domain(suite, api, dns, provider, acme):
    admin, org_id, domain = acme["admin"], acme["org_id"], new_domain()
    program, contract = program_with_contract(admin, org_id)
    connection = admin.post(f"/v1/orgs/{org_id}/sso/connections", json={
        "kind": "OIDC", "name": "Acme Okta", "issuer": provider.issuer, "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "auto_join": [{"program_id": program["id"], "contract_id": contract["id"]}]}).json()

    claimed = admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": f" {domain.upper()}. "})
    assert claimed.status_code == 201, claimed.text
    claimed = claimed.json()
    assert (claimed["domain"], claimed["status"]) == (domain, "PENDING")
    record = claimed["verification"]
    assert record["name"] == f"_learnadmin-verification.{domain}" and record["type"] == "TXT"
    assert admin.get(f"/v1/orgs/{org_id}/sso/domains/{claimed['id']}").json()["verification"] == record

    # before the record is published: not verified, and SSO does not create accounts in the domain
    checked = admin.post(f"/v1/orgs/{org_id}/sso/domains/{claimed['id']}/check")
    assert checked.status_code == 200, checked.text
    assert (checked.json()["status"], checked.json()["last_check"]) == ("PENDING", "NOT_FOUND")
    email = f"{unique('jit')}@{domain}"
    provider.tamper = None
    provider.user = {"sub": unique("sub"), "email": email, "name": "Jay Intime"}
    refused = sign_in(suite, provider, connection["id"])
    assert refused.status_code == 403 and "DOMAIN_NOT_VERIFIED" in refused.text

    # published: verified by this admin, with the DNS proof
    dns.publish(record["name"], record["value"])
    verified = admin.post(f"/v1/orgs/{org_id}/sso/domains/{claimed['id']}/check").json()
    assert (verified["status"], verified["proof"], verified["last_check"]) == ("VERIFIED", "DNS_TXT", "VERIFIED")
    assert verified["verified_by"] == {"kind": "person", "id": acme["admin_id"]}
    listed = admin.get(f"/v1/orgs/{org_id}/sso/domains").json()
    assert [(d["domain"], d["status"]) for d in listed] == [(domain, "VERIFIED")]

    # single sign-on now honours the domain: a just-in-time account, verified
    tokens = tokens_of(api, sign_in(suite, provider, connection["id"]))
    me = Api(suite.base_url, tokens["access_token"]).get("/v1/me").json()
    assert me["email"] == email and me["email_verified"] is True
    # and the sign-in page finds the connection from the address
    options = api.post("/v1/auth/sso/discover", json={"email": f"someone@{domain}"}).json()["items"]
    assert [o["connection_id"] for o in options] == [connection["id"]]

    actions = wait_for(lambda: (lambda a: a if {"sso.domain_created", "sso.domain_checked",
                                                "sso.domain_verified"} <= set(a) else None)(
        audit_actions(admin, org_id, claimed["id"])), timeout=30)
    assert actions.count("sso.domain_checked") == 2


def test_dns_that_does_not_answer_is_a_state_not_an_error(dns, acme):
    admin, org_id = acme["admin"], acme["org_id"]
    claimed = admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": new_domain()}).json()
    dns.drop = True
    try:
        checked = admin.post(f"/v1/orgs/{org_id}/sso/domains/{claimed['id']}/check")
    finally:
        dns.drop = False
    assert checked.status_code == 200, checked.text
    assert (checked.json()["status"], checked.json()["last_check"]) == ("PENDING", "DNS_UNREACHABLE")
    assert "Try again later" in checked.json()["last_check_message"]


def test_a_domain_another_organization_verified_cannot_be_claimed_or_verified(suite, api, dns, acme):
    domain = new_domain()
    other_org, other_admin, _ = create_org(suite, api, unique("Globex Secret Name"))
    early = other_admin.post(f"/v1/orgs/{other_org}/sso/domains", json={"domain": domain}).json()
    claimed = acme["admin"].post(f"/v1/orgs/{acme['org_id']}/sso/domains", json={"domain": domain}).json()
    dns.publish(f"_learnadmin-verification.{domain}", claimed["verification"]["value"],
                early["verification"]["value"])
    assert acme["admin"].post(f"/v1/orgs/{acme['org_id']}/sso/domains/{claimed['id']}/check").json()["verified"]

    refused = other_admin.post(f"/v1/orgs/{other_org}/sso/domains/{early['id']}/check")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "DOMAIN_TAKEN", refused.text
    late_org, late_admin, _ = create_org(suite, api)
    again = late_admin.post(f"/v1/orgs/{late_org}/sso/domains", json={"domain": domain.upper()})
    assert again.status_code == 409 and again.json()["error"]["code"] == "DOMAIN_TAKEN", again.text
    for answer in (refused, again):  # which organization holds it is never said
        assert acme["org_id"] not in answer.text and "Globex" not in answer.text
    assert other_admin.get(f"/v1/orgs/{other_org}/sso/domains/{early['id']}").json()["status"] == "PENDING"


def test_only_the_organizations_admins_see_and_change_its_domains(suite, api, acme):
    admin, org_id = acme["admin"], acme["org_id"]
    claimed = admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": new_domain()}).json()
    other_org, other_admin, _ = create_org(suite, api)
    program, _ = program_with_contract(admin, org_id)
    program_admin = add_program_admin(suite, api, org_id, [program["id"]])
    base = f"/v1/orgs/{org_id}/sso/domains"
    for caller, statuses in ((other_admin, (403, 404)), (program_admin, (403,)), (Api(suite.base_url), (401,))):
        for method, path, body in (("GET", base, None), ("POST", base, {"domain": new_domain()}),
                                   ("GET", f"{base}/{claimed['id']}", None),
                                   ("POST", f"{base}/{claimed['id']}/check", None),
                                   ("DELETE", f"{base}/{claimed['id']}", None)):
            answer = caller.request(method, path, json=body)
            assert answer.status_code in statuses, (method, path, answer.status_code, answer.text)
    # the other organization's admin, through its own organization's path, finds nothing
    for method in ("GET", "DELETE"):
        answer = other_admin.request(method, f"/v1/orgs/{other_org}/sso/domains/{claimed['id']}")
        assert answer.status_code == 404, answer.text
    answer = other_admin.post(f"/v1/orgs/{other_org}/sso/domains/{claimed['id']}/check")
    assert answer.status_code == 404, answer.text
    assert admin.get(f"{base}/{claimed['id']}").json()["status"] == "PENDING"  # untouched
    assert other_admin.get(f"/v1/orgs/{other_org}/sso/domains/not-a-uuid").status_code in (400, 404)


BAD_DOMAINS = [
    ("com", "DOMAIN_PUBLIC_SUFFIX"), ("co.uk", "DOMAIN_PUBLIC_SUFFIX"), ("github.io", "DOMAIN_PUBLIC_SUFFIX"),
    ("*.acme.example", "DOMAIN_WILDCARD"), ("acme\u0000.example", "INVALID_CHARACTER"),
    ("a" * 64 + ".example", "DOMAIN_LABEL_TOO_LONG"), ("ü" * 60 + ".example", "DOMAIN_LABEL_TOO_LONG"),
    (("a" * 63 + ".") * 4 + "com", "TOO_LONG"), ("", "BLANK"), ("acme..example", "DOMAIN_INVALID"),
    ("10.0.0.1", "DOMAIN_INVALID"), ("https://acme.example/", "DOMAIN_INVALID"), ("a b.example", "DOMAIN_INVALID"),
    ("x@acme.example", "DOMAIN_INVALID"), ("acme\n.example", "DOMAIN_INVALID"), (42, "NOT_A_STRING"),
    (["acme.example"], "NOT_A_STRING"), (None, None),
]


@pytest.mark.parametrize("value, code", BAD_DOMAINS)
def test_a_bad_domain_is_a_clear_400(acme, value, code):
    answer = acme["admin"].post(f"/v1/orgs/{acme['org_id']}/sso/domains", json={"domain": value})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_INPUT" and "domain" in error["details"], error
    if code:
        assert error["details"]["domain"][0].startswith(code + ":"), error


def test_a_lone_surrogate_and_other_raw_bodies_are_a_clear_400(suite, acme):
    url = f"{suite.base_url}/v1/orgs/{acme['org_id']}/sso/domains"
    headers = {"Authorization": f"Bearer {acme['admin'].token}", "Content-Type": "application/json"}
    for raw in ('{"domain": "acme\\ud800.example"}', '{"domain": "\\u0000"}', '{"domain": "acme.example", "x": 1}',
                "{}", "[]", '{"domain": {"a": 1}}', json.dumps({"domain": "é" * 300})):
        answer = requests.post(url, data=raw.encode(), headers=headers, timeout=30)
        assert answer.status_code == 400, (raw, answer.text)
        assert answer.json()["error"]["code"] in ("INVALID_INPUT", "MALFORMED_JSON"), answer.text
