"""The org admins' email domains page (console /admin/settings/sso/domains, docs/sso.md
"Verifying a domain"): claim a domain, read the TXT record to publish, "Check now" before and
after it is published in a real DNS server on loopback (tests/support/dns_server.py, the port
identity is given), removal, refusals next to the field; the same without JavaScript.
Bounded: every wait has a timeout (the page fixture's 15 s)."""
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_quality import check_page
from tests.support.dns_server import DnsServer


@pytest.fixture(scope="module")
def dns(suite):
    server = DnsServer(port=suite.dns_port).start()
    yield server
    server.stop()


def new_domain() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}.example"


def test_admin_claims_publishes_and_verifies_a_domain(page, world, dns):
    domain = new_domain()
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/sso")
    page.get_by_role("link", name="Claim and verify email domains").click()
    expect(page.get_by_role("heading", name="Email domains", exact=True)).to_be_visible()

    page.get_by_label("Email domain").fill(f"  {domain.upper()} ")
    page.get_by_role("button", name="Claim domain").click()
    expect(page.get_by_role("status").first).to_contain_text(f"{domain} is claimed")
    card = page.locator("section.sso-domain", has_text=domain)
    expect(card).to_contain_text("waiting for verification")
    name = card.get_by_label("Name (host)").input_value()
    value = card.get_by_label("Value").input_value()
    assert name == f"_learnadmin-verification.{domain}" and value.startswith("learnadmin-domain-verification=")
    expect(card.get_by_role("button", name="Copy the value")).to_be_visible()  # with JavaScript
    problems: dict = {}
    check_page(page, "sso-domains-pending", problems)

    card.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("alert").first).to_contain_text("not found yet")
    expect(card).to_contain_text("Last check")

    dns.publish(name, value)
    card.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("status").first).to_contain_text(f"{domain} is verified")
    expect(card.locator(f"#{card.get_attribute('id')}-status")).to_have_text("Verified")
    expect(card).to_contain_text("DNS TXT record")
    expect(card.get_by_role("button", name="Check now")).to_have_count(0)
    check_page(page, "sso-domains-verified", problems)
    # the settings page says so too
    page.goto("/admin/settings/sso")
    expect(page.locator("#sso-domains-summary")).to_contain_text(f"{domain}: verified")
    assert not problems, problems

    # another organization's verified domain, a public suffix, a wildcard: refused next to the field
    page.goto("/admin/settings/sso/domains")
    for bad, says in (("com", "public suffix"), ("*.acme.example", "no wildcard"), ("a" * 64 + ".example", "63"),
                      (domain, "already claims")):
        page.get_by_label("Email domain").fill(bad)
        page.get_by_role("button", name="Claim domain").click()
        expect(page.locator(".error-summary")).to_contain_text(says)
    expect(page.get_by_label("Email domain")).to_have_value(domain)  # what was typed is kept

    page.locator("section.sso-domain", has_text=domain).get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status").first).to_contain_text("The domain is removed")
    expect(page.locator("section.sso-domain", has_text=domain)).to_have_count(0)


def test_the_page_works_without_javascript(browser, suite, world, dns):
    context = browser.new_context(base_url=suite.console_url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        domain = new_domain()
        sign_in(page, world["admin_email"])
        page.goto("/admin/settings/sso/domains")
        page.get_by_label("Email domain").fill(domain)
        page.get_by_role("button", name="Claim domain").click()
        card = page.locator("section.sso-domain", has_text=domain)
        expect(card.get_by_role("button", name="Copy the value")).to_be_hidden()  # an enhancement only
        dns.publish(card.get_by_label("Name (host)").input_value(), card.get_by_label("Value").input_value())
        card.get_by_role("button", name="Check now").click()
        expect(card.locator(".badge")).to_have_text("Verified")
    finally:
        context.close()
