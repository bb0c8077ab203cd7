"""Single sign-on in the console (docs/sso.md): an org admin adds an OpenID Connect provider and
claims a domain on the domains page (the URLs to give the provider shown), then a person of that
domain uses "Sign in with your company account" on the sign-in page and lands signed in, through a
real OIDC provider on loopback (tests/support/oidc_provider.py); a tampered answer ends on a page
that says why. Bounded: every wait has a timeout (the page fixture's 15 s)."""
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, unique
from tests.browser.test_quality import check_page


@pytest.fixture(scope="module")
def provider():
    from tests.support.oidc_provider import OidcProvider

    running = OidcProvider().start()
    yield running
    running.stop()


def test_admin_sets_up_a_provider_and_a_person_signs_in_with_the_company_account(page, browser, suite, world,
                                                                                   provider):
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    program = world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/programs", json={  # this test's own
        "name": unique("SSO Academy"), "contract_ids": [world["contract"]["id"]]})
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/sso")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    page.get_by_text("Add an OpenID Connect provider").click()
    oidc = page.locator("form", has=page.locator("input[name=step][value=add-oidc]"))
    oidc.get_by_label("Name people see").fill("Acme Okta")
    oidc.get_by_label("Issuer URL").fill(provider.issuer)
    oidc.get_by_label("Client id").fill(provider.client_id)
    oidc.get_by_label("Client secret").fill(provider.client_secret)
    oidc.get_by_label("Attribute mapping").fill("job_title = title")
    oidc.get_by_role("button", name="Add provider").click()
    expect(page.get_by_role("status").first).to_contain_text("Acme Okta")
    connection = page.locator("section.sso-connection", has_text="Acme Okta")
    expect(connection).to_contain_text("/v1/sso/oidc/callback")     # the redirect URI to give the provider
    expect(connection).to_contain_text("stored (never shown)")
    assert provider.client_secret not in page.content()
    # people signing in through it join a program (a license of its contract each)
    connection.get_by_text("Change mapping and programs").click()
    connection.get_by_label(re.compile(re.escape(program["name"]))).check()
    connection.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_contain_text("The connection is changed")
    problems: dict = {}
    check_page(page, "sso-settings", problems)
    assert not problems, problems
    page.get_by_role("link", name="Claim and verify email domains").click()  # tests/browser/test_sso_domains.py
    page.get_by_label("Email domain").fill(domain)
    page.get_by_role("button", name="Claim domain").click()
    expect(page.locator("section.sso-domain", has_text=domain)).to_contain_text("waiting for verification")

    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    with unit_of_work("identity", suite.database_url("identity")) as uow:  # the operator's verify-domain
        verify_domain(uow, world["org_id"], domain)

    # a person of that domain, in another browser
    email = f"{unique('jit')}@{domain}"
    provider.user = {"sub": unique("sub"), "email": email, "name": "Jo Company", "title": "Analyst"}
    context = browser.new_context(base_url=suite.console_url)
    context.set_default_timeout(15_000)
    person = context.new_page()
    try:
        person.goto("/sign-in")
        person.get_by_role("link", name="Sign in with your company account").click()
        person.get_by_label("Work email address").fill(email)
        person.get_by_role("button", name="Continue").click()
        check_page(person, "sso-sign-in-options", problems)
        person.get_by_role("link", name="Continue with Acme Okta").click()   # -> gateway -> provider -> console
        person.wait_for_url("**/learn**")
        expect(person.get_by_text(program["name"]).first).to_be_visible()  # auto-joined
        expect(person.get_by_text(email).or_(person.get_by_text("Jo Company")).first).to_be_visible()
        # a tampered answer: a clear page with the reason
        person.goto(f"{suite.base_url}/v1/sso/oidc/callback?state=forged.state&code=abc")
        expect(person.get_by_role("heading", name="You could not be signed in")).to_be_visible()
        expect(person.locator("#sso-reason")).to_have_text("STATE_INVALID")
    finally:
        context.close()
    assert not problems, problems
    deadline = time.monotonic() + 30
    while True:  # the audit log is built from events: wait (bounded) for the sign-in's entry
        entries = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/audit",
                                      params={"action": "sign_in.succeeded", "limit": 50})["items"]
        if any(e["target"]["label"] == email and e["details"].get("method") == "OIDC" for e in entries):
            break
        assert time.monotonic() < deadline, "no sign_in.succeeded (OIDC) entry for the person"
        time.sleep(0.3)
