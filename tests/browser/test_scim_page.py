"""Settings → Provisioning (SCIM) (docs/scim.md, docs/console.md): an org admin reads the SCIM base URL, creates a
token of scope `scim` (shown once; the identity provider's calls work with it at that URL), maps a group to a
program and contract (an API refusal shown next to its field first), removes the mapping, and turns the exit email
of deprovisioned people off and on again; a program admin and a learner cannot open the page."""
import requests
from playwright.sync_api import expect

from tests.browser.conftest import new_program, sign_in, signed_in_learner, unique
from tests.browser.test_quality import check_page


def test_org_admin_connects_the_identity_provider_and_maps_a_group(page, suite, world):
    program = new_program(world, "SCIM Academy")
    contract = program["contracts"][0]
    group = unique("Data Academy")
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/")
    page.get_by_role("link", name="Provisioning (SCIM)").click()
    expect(page.get_by_role("heading", name="Connect your identity provider")).to_be_visible()
    base_url = suite.base_url + "/scim/v2"
    expect(page.locator("#scim-base-url")).to_have_text(base_url)
    problems: dict = {}
    check_page(page, "scim-settings", problems)

    # a token of scope scim, shown once: the identity provider reaches the organization's SCIM with it
    page.get_by_label("Token name").fill("Entra provisioning")
    page.get_by_role("button", name="Create SCIM token").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("lat_"), secret
    answer = requests.get(base_url + "/Users", params={"count": 1}, timeout=30,
                          headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and "totalResults" in answer.json(), answer.text
    page.goto("/admin/settings/scim")
    expect(page.locator("#new-token")).to_have_count(0)  # not shown again
    expect(page.get_by_text("Entra provisioning (created")).to_be_visible()

    # a contract the program does not take: the API's refusal next to the contract field
    mapping = page.locator("form", has=page.locator("input[name=step][value=mapping]"))
    mapping.get_by_label("Group name").fill(group)
    mapping.get_by_label("Program", exact=True).select_option(world["program"]["id"])
    mapping.get_by_label("Contract whose licenses").select_option(contract["id"])
    mapping.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("alert", name="There is a problem")).to_be_visible()
    expect(page.locator("#f-contract_id-error")).to_contain_text("not a contract of this program")
    expect(page.get_by_label("Group name")).to_have_value(group)  # what was typed is kept
    check_page(page, "scim-settings-refused", problems)

    page.get_by_label("Program", exact=True).select_option(program["id"])
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status").first).to_contain_text(group)
    row = page.get_by_role("row").filter(has_text=group)
    expect(row).to_contain_text(program["name"])
    expect(row).to_contain_text(contract["name"])
    mappings = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/scim/group-mappings")
    assert [(m["program_id"], m["contract_id"]) for m in mappings if m["display_name"] == group] == [
        (program["id"], contract["id"])]

    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status").first).to_contain_text("The mapping is removed")
    expect(page.get_by_role("row").filter(has_text=group)).to_have_count(0)
    assert not [m for m in world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/scim/group-mappings")
                if m["display_name"] == group]

    # the exit email of deprovisioned people: off, then on again
    org_path = f"/v1/orgs/{world['org_id']}"
    setting = page.get_by_label("Send the program exit email to people deprovisioned")
    expect(setting).to_be_checked()
    setting.uncheck()
    page.get_by_role("button", name="Save setting").click()
    expect(page.get_by_role("status").first).to_contain_text("saved")
    expect(page.get_by_label("Send the program exit email to people deprovisioned")).not_to_be_checked()
    assert world["admin"].call("GET", org_path)["deprovision_exit_email"] is False
    page.get_by_label("Send the program exit email to people deprovisioned").check()
    page.get_by_role("button", name="Save setting").click()
    expect(page.get_by_label("Send the program exit email to people deprovisioned")).to_be_checked()
    assert world["admin"].call("GET", org_path)["deprovision_exit_email"] is True
    assert not problems, problems


def test_program_admin_and_learner_cannot_open_the_scim_page(page, browser, suite, world):
    sign_in(page, world["program_admin_email"])
    page.goto("/admin/settings/scim")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    expect(page.get_by_role("link", name="Provisioning (SCIM)")).to_have_count(0)
    context = browser.new_context(base_url=suite.console_url)
    context.set_default_timeout(15_000)
    learner = context.new_page()
    try:
        signed_in_learner(learner, suite, world, "Lee Scim")
        learner.goto("/admin/settings/scim")
        expect(learner.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
        response = learner.request.post(suite.console_url + "/admin/settings/scim", form={"step": "exit-email"})
        assert response.status in (400, 403), response.status  # no CSRF token, no role: nothing changes
    finally:
        context.close()
    assert world["admin"].call("GET", f"/v1/orgs/{world['org_id']}")["deprovision_exit_email"] is True
