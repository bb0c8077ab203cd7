"""A program admin of 200 programs keeps a working console session: the access token carries their program
ids, the encrypted session outgrows one cookie (4 KB) and is split across `console_session`,
`console_session.1`, ... (console/sessions.py); in Chromium they sign in, open two admin pages, and are
still signed in (docs/console.md, "Sessions and security")."""
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Api, shoot, sign_in, unique

PROGRAMS = 200


def organization_of_many_programs(suite, count: int) -> tuple[str, list[str]]:
    """An organization of its own with `count` programs (in one transaction of the programs service): the
    shared world's organization keeps its few programs, which the other pages' tests pick from lists."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands.organizations import create_org_with_admin
    from services.programs.commands.programs import create_program

    admin_email = f"{unique('manyadmin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        org_id = create_org_with_admin(uow, unique("Initech"), admin_email, "Ola Org", PASSWORD)["org_id"]
    today = date.today()
    contract = Api(suite.base_url).as_user(admin_email).call("POST", f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": 10, "starts_on": str(today - timedelta(days=1)),
        "ends_on": str(today + timedelta(days=365))})
    with unit_of_work("programs", suite.database_url("programs")) as uow:
        return org_id, [create_program(uow, org_id, {"name": unique("Many"), "contract_ids": [contract["id"]]},
                                       suite.console_url)["id"] for _ in range(count)]


def test_a_program_admin_of_200_programs_stays_signed_in(page, suite):
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts, admins

    org_id, programs = organization_of_many_programs(suite, PROGRAMS)
    email = f"{unique('hundreds')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        accounts.ensure_verified_person(uow, org_id, email, "Hana Hundreds", PASSWORD)
        admins.add_admin(uow, org_id, email, "Hana Hundreds", "PROGRAM_ADMIN", programs)
    sign_in(page, email)
    assert "/admin/" in page.url, page.url
    cookies = {c["name"]: c for c in page.context.cookies() if c["name"].startswith("console_session")}
    assert len(cookies) >= 2, sorted(cookies)  # too large for one cookie: in chunks, each one kept
    assert sorted(cookies) == ["console_session", *[f"console_session.{i}" for i in range(1, len(cookies))]]
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies.values())
    assert all(len(c["name"]) + len(c["value"]) < 4000 for c in cookies.values())
    header = "; ".join(f"{c['name']}={c['value']}" for c in cookies.values())
    assert len(header) < 8000, len(header)  # one header line a proxy accepts by default
    assert page.evaluate("document.cookie").find("console_session") == -1  # out of JavaScript's reach

    for program_id in (programs[0], programs[-1]):
        page.goto(f"/admin/programs/{program_id}")
        assert "/sign-in" not in page.url, page.url
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    shoot(page, "many-programs-program-page")
    page.goto("/admin/")
    assert "/sign-in" not in page.url, page.url
    # Another browser tab of the same person: still the same session.
    other = page.context.new_page()
    other.goto(f"/admin/programs/{programs[100]}")
    assert "/sign-in" not in other.url, other.url
    other.close()
    assert not page.js_errors, page.js_errors
