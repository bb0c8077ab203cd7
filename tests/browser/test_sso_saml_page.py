"""SAML 2.0 single sign-on in the console (docs/sso.md), as test_sso_pages.py does for OpenID Connect: an org
admin adds a SAML identity provider on Settings → Single sign-on by pasting its metadata XML (the ACS URL, SP entity
id and metadata link shown), a person of the verified domain uses "Sign in with your company account" and lands
signed in, with the programs of the connection joined and the mapped attributes in their profile. The identity
provider is tests/support/saml_idp.py (pysaml2, signing real assertions), as tests/e2e/test_sso_saml.py drives it;
its sign-in page is served to the browser by Playwright's routing (a form that posts the signed response to the
ACS with the HTTP-POST binding: a button, as the IdP's page without JavaScript). A forged signature ends on a page
that says why. Bounded: every wait has a timeout (the page fixture's 15 s)."""
import html
import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, unique
from tests.browser.test_quality import check_page


@pytest.fixture(scope="module")
def idp():
    from tests.support.saml_idp import SamlIdp

    # http: the IdP's page posts to the gateway over plain HTTP in the tests (no mixed-content form warning)
    return SamlIdp(f"http://idp-{uuid.uuid4().hex[:6]}.test.example/saml")


def idp_page(idp, connection: dict, email: str, attributes: dict, signer=None) -> str:
    """What the IdP answers the browser's AuthnRequest with, once the person has signed in there: a form posting
    the signed SAML response and the RelayState to the service provider's ACS."""
    def answer(url: str) -> str:
        request_id, relay = idp.read_request(url)
        response = (signer or idp).response(request_id, connection["acs_url"], connection["sp_entity_id"], email,
                                            attributes)
        return ("<!doctype html><html lang='en'><title>Test IdP</title><h1>Test IdP</h1>"
                f"<form method='post' action='{html.escape(connection['acs_url'])}'>"
                f"<input type='hidden' name='SAMLResponse' value='{html.escape(response)}'>"
                f"<input type='hidden' name='RelayState' value='{html.escape(relay)}'>"
                "<button type='submit'>Continue to the service</button></form></html>")
    return answer


def serve_idp(context, idp, answer) -> list[str]:
    """Route the IdP's single sign-on URL to `answer(url)` in this browser context; the AuthnRequest URLs seen."""
    seen: list[str] = []

    def handle(route):
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=answer(route.request.url))

    context.route(re.compile("^" + re.escape(idp.entity_id) + "/sso"), handle)
    return seen


def company_sign_in(person, email: str, connection_name: str) -> None:
    person.goto("/sign-in")
    person.get_by_role("link", name="Sign in with your company account").click()
    person.get_by_label("Work email address").fill(email)
    person.get_by_role("button", name="Continue").click()
    person.get_by_role("link", name=f"Continue with {connection_name}").click()  # -> gateway start -> the IdP


def test_admin_adds_a_saml_idp_and_a_person_signs_in_with_the_company_account(page, browser, suite, world, idp):
    domain = f"globex-{uuid.uuid4().hex[:8]}.example"
    name = unique("Globex ADFS")
    program = world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/programs", json={  # this test's own
        "name": unique("SAML Academy"), "contract_ids": [world["contract"]["id"]]})
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/sso")
    page.get_by_text("Add a SAML 2.0 identity provider").click()
    saml = page.locator("form", has=page.locator("input[name=step][value=add-saml]"))
    saml.get_by_label("Name people see").fill(name)
    saml.get_by_label("IdP metadata XML").fill(idp.metadata())
    saml.get_by_label("Attribute mapping").fill("full_name = displayName\njob_title = title")
    saml.get_by_role("button", name="Add identity provider").click()
    expect(page.get_by_role("status").first).to_contain_text(name)
    section = page.locator("section.sso-connection", has_text=name)
    expect(section).to_contain_text(idp.entity_id)
    connection = next(c for c in world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/sso/connections")
                      if c["name"] == name)
    expect(section).to_contain_text(connection["acs_url"])        # what to give the IdP
    expect(section).to_contain_text(connection["sp_entity_id"])
    expect(section.get_by_role("link", name=connection["sp_metadata_url"])).to_be_visible()
    section.get_by_text("Change mapping and programs").click()
    section.get_by_label(re.compile(re.escape(program["name"]))).check()
    section.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_contain_text("The connection is changed")
    problems: dict = {}
    check_page(page, "sso-settings-saml", problems)
    page.get_by_role("link", name="Claim and verify email domains").click()  # tests/browser/test_sso_domains.py
    page.get_by_label("Email domain").fill(domain)
    page.get_by_role("button", name="Claim domain").click()
    expect(page.locator("section.sso-domain", has_text=domain)).to_contain_text("waiting for verification")

    # the IdP's administrator loads the service provider's metadata from the link shown
    metadata = requests.get(connection["sp_metadata_url"], timeout=30)
    assert metadata.status_code == 200 and connection["acs_url"] in metadata.text
    idp.sp_metadata = metadata.text

    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    with unit_of_work("identity", suite.database_url("identity")) as uow:  # the operator's verify-domain
        verify_domain(uow, world["org_id"], domain)

    email = f"{unique('saml')}@{domain}"
    context = browser.new_context(base_url=suite.console_url)
    context.set_default_timeout(15_000)
    person = context.new_page()
    try:
        seen = serve_idp(context, idp, idp_page(idp, connection, email, {"displayName": "Sam Company",
                                                                         "title": "Analyst"}))
        company_sign_in(person, email, name)
        expect(person.get_by_role("heading", name="Test IdP")).to_be_visible()
        assert len(seen) == 1 and "SAMLRequest=" in seen[0] and "RelayState=" in seen[0], seen
        person.get_by_role("button", name="Continue to the service").click()  # -> ACS -> console /sso/complete
        person.wait_for_url("**/learn**")
        expect(person.get_by_text(program["name"]).first).to_be_visible()  # auto-joined
        expect(person.get_by_text("Sam Company").or_(person.get_by_text(email)).first).to_be_visible()
        check_page(person, "sso-saml-signed-in", problems)
    finally:
        context.close()
    deadline = time.monotonic() + 30
    while True:  # the audit log is built from events: wait (bounded) for the sign-in's entry
        entries = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/audit",
                                      params={"action": "sign_in.succeeded", "limit": 50})["items"]
        found = [e for e in entries if e["target"]["label"] == email and e["details"].get("method") == "SAML"]
        if found:
            break
        assert time.monotonic() < deadline, "no sign_in.succeeded (SAML) entry for the person"
        time.sleep(0.3)
    person_id = found[0]["target"]["id"]
    profile = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/people/{person_id}")
    assert (profile["full_name"], profile["job_title"]) == ("Sam Company", "Analyst")  # the attribute mapping

    # a response signed with another key (a forged signature): a page that says why, no session
    forger = f"{unique('forger')}@{domain}"
    context = browser.new_context(base_url=suite.console_url)
    context.set_default_timeout(15_000)
    person = context.new_page()
    try:
        serve_idp(context, idp, idp_page(idp, connection, forger, {}, signer=idp.forged()))
        company_sign_in(person, forger, name)
        person.get_by_role("button", name="Continue to the service").click()
        expect(person.get_by_role("heading", name="You could not be signed in")).to_be_visible()
        expect(person.locator("#sso-reason")).to_have_text("SIGNATURE_INVALID")
        person.goto("/learn")
        person.wait_for_url("**/sign-in**")  # not signed in
    finally:
        context.close()
    assert not problems, problems
