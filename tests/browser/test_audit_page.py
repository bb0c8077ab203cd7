"""The audit log page: an admin's change made in the console shows up with who, what, the
before/after and the address; filters and the CSV export; a program admin sees only their
programs' entries; a learner gets no page."""
import time

import requests
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, signed_in_learner, unique
from tests.browser.test_quality import axe_violations


def wait_for_entry(world, action: str, target: str, timeout: float = 30.0) -> dict:
    """The log is built from events (asynchronously): wait until the entry is there."""
    deadline = time.monotonic() + timeout
    while True:
        page = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/audit",
                                   params={"action": action, "target": target})
        if page["items"]:
            return page["items"][0]
        assert time.monotonic() < deadline, f"no {action} entry for {target} in the audit log"
        time.sleep(0.3)


def test_audit_log_page_shows_filters_and_exports_what_admins_did(page, suite, world):
    program_id = world["program"]["id"]
    renamed = unique("Renamed Academy")
    world["admin"].call("PATCH", f"/v1/programs/{program_id}", json={"name": renamed})
    world["program"]["name"] = renamed  # the session's world keeps the name the later tests look for
    entry = wait_for_entry(world, "program.updated", program_id)
    assert entry["changes"]["name"]["after"] == renamed

    sign_in(page, world["admin_email"])
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=renamed).filter(has_text="program.updated")
    expect(row.first).to_be_visible()
    expect(row.first).to_contain_text(world["admin_email"])  # who: the admin's email
    expect(row.first).to_contain_text(f"→ {renamed}")          # the change, before → after
    assert not axe_violations(page)

    # filter by an action prefix: only program entries remain
    page.get_by_label("Action").fill("invitation.")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody code", has_text="program.updated")).to_have_count(0)
    page.get_by_label("Action").fill("program.")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row").filter(has_text="program.updated").first).to_be_visible()
    actions = page.locator("tbody code").all_inner_texts()
    assert actions and all(a.startswith("program.") for a in actions), actions

    # a malformed filter is explained on the page, not a crash
    page.get_by_label("Action").fill("Not An Action!")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert", name="There is a problem")).to_be_visible()
    expect(page.locator("#f-action-error")).to_be_visible()  # next to the field it is about

    # the CSV export with the same filters, streamed through the console
    page.get_by_label("Action").fill("program.updated")
    page.get_by_role("button", name="Filter").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these entries as CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert renamed in text and "program.created" not in text


def test_program_admin_sees_only_their_programs_entries(page, suite, world):
    other_id = world["other_program"]["id"]
    renamed = unique("Other Renamed")
    world["admin"].call("PATCH", f"/v1/programs/{other_id}", json={"name": renamed})
    world["other_program"]["name"] = renamed
    wait_for_entry(world, "program.updated", other_id)
    mine = unique("Mine Renamed")
    world["admin"].call("PATCH", f"/v1/programs/{world['program']['id']}", json={"name": mine})
    world["program"]["name"] = mine
    wait_for_entry(world, "program.updated", world["program"]["id"])

    sign_in(page, world["program_admin_email"])
    page.goto("/admin/audit?action=program.")
    expect(page.get_by_role("row").filter(has_text=mine).first).to_be_visible()
    expect(page.get_by_text(renamed)).to_have_count(0)  # another program's entry is not theirs


def test_a_learner_gets_no_audit_page(page, suite, world):
    signed_in_learner(page, suite, world, "Lee Learner")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    assert requests.get(suite.console_url + "/admin/audit.csv", allow_redirects=False, timeout=30).status_code in (
        302, 303)  # no session: sign in first
