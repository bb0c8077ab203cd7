"""People (/admin/people, docs/console.md): an org admin finds a person who is in no program by a part of
their name, opens their profile from the list and changes it; the filters and pages; a program admin cannot
open the page (and has no People link)."""
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, unique
from tests.browser.test_quality import check_page


def test_org_admin_finds_a_person_in_no_program_and_opens_their_profile(page, suite, world):
    from servicekit.standalone import unit_of_work
    from services.identity.commands import profiles

    tag = unique("nopro")
    name = f"Nora {tag} Lonely"
    email = f"{tag}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:  # a profile, no program
        profiles.ensure_person(uow, world["org_id"], email, name, {"business_unit": "Treasury", "job_title": "Analyst"})
        uow.commit()  # its own transaction: joined before the three below (now() is the transaction's time)
        for n in range(3):  # three more with the tag, for the pages
            profiles.ensure_person(uow, world["org_id"], f"{tag}-{n}@example.com", f"Other {tag} {n}")
            uow.commit()

    sign_in(page, world["admin_email"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People", exact=True)).to_be_visible()
    problems: dict = {}
    check_page(page, "people", problems)

    page.get_by_label("Name or email").fill(f"nora {tag}".upper())  # any case
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#people tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(email)
    expect(rows.first).to_contain_text("Treasury")
    expect(rows.first).to_contain_text("Not yet")  # an account made for a profile: its address is not verified
    check_page(page, "people-search", problems)

    # the filters: business unit exactly, verified or not
    page.get_by_label("Name or email").fill(tag)
    page.get_by_label("Business unit").fill("Treasury")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Business unit").fill("")
    page.get_by_label("Email address").select_option("true")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("cell", name="No one matches.")).to_be_visible()

    # pages of 25: the tag's four people on one page; newest first
    page.get_by_label("Email address").select_option("")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text(f"{tag}-2@example.com")
    expect(rows.last).to_contain_text(email)

    rows.last.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=f"Profile of {name}")).to_be_visible()
    check_page(page, "people-person", problems)
    page.get_by_label("Job title").fill("Senior Analyst")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status").first).to_contain_text("is saved")
    person_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/people/{person_id}")["job_title"] == "Senior Analyst"
    assert not problems, problems


def test_paging_and_a_program_admin_is_refused(page, suite, world):
    from servicekit.standalone import unit_of_work
    from services.identity.commands import profiles

    tag = unique("pager")
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        for n in range(27):
            profiles.ensure_person(uow, world["org_id"], f"{tag}-{n:02}@example.com", f"Page {tag} {n:02}")
            uow.commit()
    sign_in(page, world["admin_email"])
    page.goto(f"/admin/people?q={tag}")
    rows = page.locator("#people tbody tr")
    expect(rows).to_have_count(25)
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text(f"{tag}-00@example.com")
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(25)
    page.goto("/admin/people?cursor=not-a-cursor")
    expect(page.get_by_role("alert", name="There is a problem")).to_contain_text("not valid")  # not an error page

    page.context.clear_cookies()
    sign_in(page, world["program_admin_email"])
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="People")).to_have_count(0)
    page.goto("/admin/people")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
