"""Admin pages beyond the main journey, in the browser against the real suite: changing a contract,
a member's organization profile, and a message's audience narrowed by the guide's filters (current
enrollments, contracts, the people chosen in the members list, inactive for N days); each with its
refusals shown in the page and another organization's objects out of reach."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import joined_learner, mail_to, new_program, other_org, shoot, sign_in, unique, wait_until


def test_an_org_admin_changes_a_contract(page, suite, world):
    program = new_program(world, "Contracts", licenses=1)
    contract = program["contracts"][0]
    joined_learner(suite, world, program, contract)  # the one license is in use
    theirs = other_org(suite)
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/contracts")
    page.get_by_role("link", name=f"Change {contract['name']}").click()
    expect(page.get_by_role("heading", name=f"Change the contract “{contract['name']}”")).to_be_visible()
    expect(page.get_by_text("1 of 1 licenses in use")).to_be_visible()
    # Below the licenses in use: the API refuses, the page says why next to the field.
    page.get_by_label("Licenses").evaluate("e => e.removeAttribute('min')")
    page.get_by_label("Licenses").fill("0")
    page.get_by_role("button", name="Save contract").click()
    expect(page.locator("#f-license_count-error")).to_contain_text("More licenses are in use")
    # Dates out of order: the API's field error, kept input.
    page.get_by_label("Licenses").fill("25")
    page.get_by_label("Ends on").fill("2020-01-01")
    page.get_by_role("button", name="Save contract").click()
    expect(page.locator("#f-ends_on-error")).to_be_visible()
    assert page.get_by_label("Licenses").input_value() == "25"
    shoot(page, "settings-contract-error")
    name = unique("Renewed")
    page.get_by_label("Contract name").fill(name)
    page.get_by_label("Ends on").fill(contract["ends_on"])
    page.get_by_role("button", name="Save contract").click()
    expect(page.get_by_text(f"Contract “{name}” saved: 25 licenses")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(name))
    expect(row.get_by_role("cell", name="25", exact=True)).to_be_visible()
    changed = world["admin"].call("GET", f"/v1/contracts/{contract['id']}")
    assert (changed["name"], changed["license_count"], changed["licenses_used"]) == (name, 25, 1)
    # Another organization's contract is not found (the API answers 404 for it).
    page.goto(f"/admin/settings/contracts/{theirs['contract']['id']}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto("/admin/settings/contracts/not-a-uuid")
    expect(page.get_by_role("heading", name=re.compile("Page not found|That did not work"))).to_be_visible()
    assert theirs["admin"].call("GET", f"/v1/contracts/{theirs['contract']['id']}")["license_count"] == 3
    assert not page.js_errors, page.js_errors


def test_an_admin_edits_a_members_profile(page, browser, suite, world):
    program = world["program"]
    learner = joined_learner(suite, world, program, world["contract"], full_name="Pia Profile")
    theirs = other_org(suite)
    sign_in(page, world["admin_email"])
    page.goto(f"/admin/programs/{program['id']}?q={learner['email']}")
    page.get_by_role("link", name="Pia Profile", exact=True).click()
    expect(page.get_by_role("heading", name="Profile of Pia Profile")).to_be_visible()
    page.get_by_label("Job title").fill("Data Engineer")
    page.get_by_label(re.compile(r"^Business unit \(")).fill("Platform")
    page.get_by_label("Location country").fill("Canada")
    page.get_by_label("Manager's email").evaluate("e => e.type = 'text'")  # let the API refuse it
    page.get_by_label("Manager's email").fill("not an address")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#f-manager_email-error")).to_be_visible()
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.get_by_label("Job title").input_value() == "Data Engineer"
    shoot(page, "member-profile-error")
    page.get_by_label("Manager's email").fill("boss@example.com")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("The profile of Pia Profile is saved.")).to_be_visible()
    person = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/people/{learner['id']}")
    assert (person["job_title"], person["business_unit"], person["location_country"], person["manager_email"]) \
        == ("Data Engineer", "Platform", "Canada", "boss@example.com")
    # Emptying a field clears it.
    page.goto(f"/admin/programs/{program['id']}/members/{learner['id']}")
    page.get_by_label("Location country").fill("")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("The profile of Pia Profile is saved.")).to_be_visible()
    assert world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/people/{learner['id']}")[
        "location_country"] is None
    # Another organization's person: not found, unchanged.
    page.goto(f"/admin/programs/{program['id']}/members/{theirs['user_id']}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    # A program admin edits the people of their program, and no one else's.
    other = new_program(world, "Elsewhere")
    outsider = joined_learner(suite, world, other, other["contracts"][0], full_name="Oz Outside")
    context = browser.new_context(base_url=suite.console_url)
    padmin = context.new_page()
    sign_in(padmin, world["program_admin_email"])
    padmin.goto(f"/admin/programs/{program['id']}/members/{learner['id']}")
    padmin.get_by_label("Job type").fill("Full time")
    padmin.get_by_role("button", name="Save profile").click()
    expect(padmin.get_by_text("The profile of Pia Profile is saved.")).to_be_visible()
    padmin.goto(f"/admin/programs/{program['id']}/members/{outsider['id']}")
    expect(padmin.get_by_role("heading", name="Page not found")).to_be_visible()
    context.close()
    assert not page.js_errors, page.js_errors


def test_message_audience_filters(page, suite, world):
    courses = world["courses"]
    program = new_program(world, "Filters", contracts=2, courses=[c["id"] for c in courses[:2]])
    first, second = program["contracts"]
    ann = joined_learner(suite, world, program, first, full_name="Ann Enrolled")
    ben = joined_learner(suite, world, program, second, full_name="Ben Other")
    joined_learner(suite, world, program, first, full_name="Cat Idle")
    ann["api"].call("POST", "/v1/enrollments", json={"program_id": program["id"], "course_id": courses[0]["id"]})
    ben["api"].call("POST", "/v1/enrollments", json={"program_id": program["id"], "course_id": courses[1]["id"]})
    # messaging learns of members and enrollments by events: wait until it counts them
    def counted(**filters):
        return world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/audience", json={
            "preset": "ALL_MEMBERS", "filters": {"program_ids": [program["id"]], **filters}})["count"]
    wait_until(lambda: counted() == 3 and counted(course_ids=[courses[0]["id"]]) == 1
               and counted(course_ids=[courses[1]["id"]]) == 1)
    sign_in(page, world["admin_email"])
    page.goto(f"/admin/programs/{program['id']}/messages")
    count = page.locator("#audience-count")
    expect(count).to_have_text("3 people will receive this message.")
    page.get_by_label(f"Enrolled in {courses[0]['name']}").check()
    expect(count).to_have_text("1 person will receive this message.")
    page.get_by_label(f"License from {second['name']}").check()
    expect(count).to_have_text("0 people will receive this message.")
    page.get_by_label(f"Enrolled in {courses[0]['name']}").uncheck()
    expect(count).to_have_text("1 person will receive this message.")
    page.get_by_label(f"License from {second['name']}").uncheck()
    page.get_by_label("Joined but not enrolled").check()
    expect(count).to_have_text("1 person will receive this message.")
    page.get_by_label("Enrolled but inactive for N days").check()
    expect(count).to_have_text("2 people will receive this message.")  # enrolled, no activity at all
    shoot(page, "messaging-filters")
    # A bad number of days: the API's refusal next to the field, not a count.
    page.get_by_label("Inactive for how many days").evaluate("e => { e.removeAttribute('min'); e.type = 'text' }")
    page.get_by_label("Inactive for how many days").fill("0")
    page.get_by_label("Inactive for how many days").press("Tab")  # a change event, as a person leaving the field
    expect(count).to_contain_text("No count yet")
    page.get_by_label("Subject", exact=True).fill("Days")
    page.get_by_role("textbox", name="Message", exact=True).fill("Come back")
    page.get_by_role("button", name="Preview message").click()
    expect(page.locator("#f-days-error")).to_be_visible()
    assert page.get_by_label("Enrolled but inactive for N days").is_checked()

    # The people chosen in the members list: a CUSTOM audience, sent to them only.
    page.goto(f"/admin/programs/{program['id']}")
    page.get_by_label("Choose Ben Other").check()
    page.get_by_role("button", name="Message the chosen people").click()
    expect(page.get_by_label("The people chosen in the members list (1)")).to_be_checked()
    expect(count).to_have_text("1 person will receive this message.")
    subject = unique("Just Ben")
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_role("textbox", name="Message", exact=True).fill("Only for you.")
    page.get_by_role("button", name="Preview message").click()
    expect(page.get_by_text("1 person will receive this message.")).to_be_visible()
    expect(page.get_by_text("audience: custom (1 chosen)")).to_be_visible()
    page.get_by_label("I confirm this message follows the terms of use").check()
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message is being sent.")).to_be_visible()
    mail_to(suite, ben["email"], subject)
    sent = [m for m in world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/messages")["items"]
            if m["subject"] == subject]
    assert sent[0]["audience"]["preset"] == "CUSTOM" and sent[0]["audience"]["user_ids"] == [ben["id"]]
    assert not page.js_errors, page.js_errors
