"""A program admin of 200 programs keeps a working console session: the access token carries their program
ids, the encrypted session outgrows one cookie (4 KB) and is split across `console_session`,
`console_session.1`, ... (console/sessions.py); in Chromium they sign in, open two admin pages, and are
still signed in (docs/console.md, "Sessions and security")."""
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, shoot, sign_in, unique

PROGRAMS = 200


def many_programs(suite, world, count: int) -> list[str]:
    """`count` programs of the world's organization, in one transaction of the programs service."""
    from servicekit.standalone import unit_of_work
    from services.programs.commands.programs import create_program

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        return [create_program(uow, world["org_id"], {"name": unique("Many"),
                                                      "contract_ids": [world["contract"]["id"]]},
                               suite.console_url)["id"] for _ in range(count)]


def test_a_program_admin_of_200_programs_stays_signed_in(page, suite, world):
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts, admins

    programs = many_programs(suite, world, PROGRAMS)
    email = f"{unique('hundreds')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        accounts.ensure_verified_person(uow, world["org_id"], email, "Hana Hundreds", PASSWORD)
        admins.add_admin(uow, world["org_id"], email, "Hana Hundreds", "PROGRAM_ADMIN", programs)
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
