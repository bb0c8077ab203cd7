"""The org admin's journey in the browser: a contract and a program, the curriculum, invitations one by
one and by CSV (progress, rejected.csv), a message sent, settings, API tokens, removal; then what a
program admin and a learner may see."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Api, mail_to, open_email, shoot, sign_in, signed_in_learner, unique
from tests.browser.test_sessions import session_of


def test_org_admin_journey(page, suite, world, tmp_path):
    sign_in(page, world["admin_email"])
    page.wait_for_url("**/admin/")
    expect(page.get_by_role("heading", name="Admin home")).to_be_visible()
    shoot(page, "admin-home")

    # A contract, then a program on it.
    page.get_by_role("link", name="Create program").click()
    page.get_by_role("link", name="Add a contract").click()
    contract_name = unique("Contract")
    page.get_by_label("Contract name").fill(contract_name)
    page.get_by_label("Licenses").fill("3")
    shoot(page, "contract-new")
    page.get_by_role("button", name="Add contract").click()
    expect(page.get_by_text(f"Contract “{contract_name}” created")).to_be_visible()
    program_name = unique("Ops Academy")
    page.get_by_label("Program name").fill(program_name)
    page.get_by_label("Enrollment limit per learner").fill("3")
    page.get_by_label(re.compile(re.escape(contract_name))).check()
    shoot(page, "program-new")
    page.get_by_role("button", name="Create program").click()
    expect(page.get_by_role("heading", name=program_name, level=1)).to_be_visible()
    program_url = page.url

    # Curriculum: a collection, two courses from the catalog, reordered.
    page.get_by_label("Collection name").fill("Week one")
    page.get_by_role("button", name="Add collection").click()
    page.get_by_role("link", name="+ Courses to Week one").click()
    page.get_by_label("Search the catalog").fill("a")
    page.get_by_role("button", name="Search").click()
    boxes = page.locator('input[name="course_ids"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    names = [page.locator(f'label[for="{boxes.nth(i).get_attribute("id")}"]').inner_text().split(" · ")[0].strip()
             for i in range(2)]
    shoot(page, "curriculum-add-courses")
    page.get_by_role("button", name="Add to collection").click()
    items = page.locator(".collection .item-name")
    expect(items).to_have_text(names)
    page.get_by_role("button", name=f"Move down {names[0]}").click()
    expect(items).to_have_text([names[1], names[0]])
    shoot(page, "program-main")

    # One invitation: preview, then send.
    page.get_by_role("link", name="Invitations").click()
    invitee = f"{unique('ivy')}@example.com"
    page.get_by_label("Full name").fill("Ivy Invitee")
    page.get_by_label("Email address").fill(invitee)
    page.get_by_role("button", name="Preview invitation").click()
    expect(page.get_by_text("Ivy Invitee").first).to_be_visible()
    shoot(page, "invitation-preview")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {invitee}")).to_be_visible()
    mail_to(suite, invitee, "invites you")

    # By CSV: 3 licenses, one used: 2 rows created, a bad row and one over the limit rejected.
    csv = tmp_path / "people.csv"
    emails = [f"{unique('csv')}@example.com" for _ in range(3)]
    csv.write_text("Full Name,Email,External ID\n" + f"Cy One,{emails[0]},E1\n" + "No Email,not-an-email,E2\n"
                   + f"Cy Two,{emails[1]},E3\n" + f"Cy Three,{emails[2]},E4\n")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Upload and invite").click()
    page.wait_for_url("**/imports/**")
    page.get_by_text("Import finished").wait_for(timeout=30_000)
    expect(page.locator("progress")).to_be_visible()
    created = int(page.locator("#created").inner_text())
    invalid = int(page.locator("#invalid").inner_text())
    assert created >= 2 and invalid >= 1
    shoot(page, "invitations-import-done")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("rejected.csv")).click()
    rejected = download.value.path().read_text()
    assert "not-an-email" in rejected and "Reason" in rejected.splitlines()[0]

    # Pending invitations: revoke one.
    page.get_by_role("link", name="Back to invitations").click()
    shoot(page, "invitations")
    page.get_by_role("button", name=f"Revoke {emails[0]}").click()
    expect(page.get_by_text(f"Invitation revoked for {emails[0]}")).to_be_visible()

    # The invitee accepts from the .eml and enrolls (in another browser context).
    context = page.context.browser.new_context(base_url=suite.console_url)
    learner = context.new_page()
    open_email(learner, mail_to(suite, invitee, "invites you"))
    learner.get_by_role("link", name="Accept the invitation").click()
    learner.get_by_label("Your full name").fill("Ivy Invitee")
    learner.get_by_label("Password").fill(PASSWORD)
    learner.get_by_role("button", name="Accept invitation").click()
    learner.get_by_role("button", name=f"Enroll in {names[1]}").click()
    expect(learner.get_by_text(f"You are enrolled in {names[1]}")).to_be_visible()
    context.close()

    # A message to the program's members: audience count, preview, terms, send, counts.
    page.goto(program_url)
    page.get_by_role("link", name="Messaging").click()
    page.locator("#audience-count").get_by_text("will receive").wait_for()
    subject = unique("Kick-off")
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_role("textbox", name="Message", exact=True).fill("See you at the kick-off.")
    page.get_by_label("Button label").fill("Open the program")
    page.get_by_label("Button link").fill("http://learn.example.com/start")
    shoot(page, "messaging-compose")
    page.get_by_role("button", name="Preview message").click()
    # The API's refusal shows next to the field and in the summary, the form keeps what was typed.
    assert "https" in page.locator("#f-cta_url-error").inner_text()
    assert page.get_by_label("Subject", exact=True).input_value() == subject
    shoot(page, "messaging-compose-error")
    page.get_by_label("Button link").fill("https://learn.example.com/start")
    page.get_by_role("button", name="Preview message").click()
    expect(page.get_by_text("1 person will receive this message.")).to_be_visible()
    expect(page.frame_locator("iframe.preview").get_by_text("See you at the kick-off.")).to_be_visible()
    shoot(page, "messaging-preview")
    # The refused send renders the draft again (message, preview, audience: 4 gateway calls): slow under load.
    with page.expect_response(lambda r: r.request.method == "POST" and "/messages/" in r.url,
                              timeout=60_000) as refused:
        page.get_by_role("button", name="Send message").click()
    assert refused.value.status == 422
    expect(page.get_by_text("Accept the terms before sending.")).to_be_visible()
    page.get_by_label("I confirm this message follows the terms of use").check()
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message is being sent.")).to_be_visible()
    mail_to(suite, invitee, subject)
    page.get_by_role("link", name="Back to messaging").click()
    expect(page.get_by_role("link", name=subject)).to_be_visible()
    shoot(page, "messaging")

    # Settings: branding.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_label("Brand color").fill("#0b6e4f")
    shoot(page, "settings-organization")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Organization settings saved.")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") \
        == "rgb(11, 110, 79)"

    # An API token: the secret shown once, usable, then revoked.
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("HR sync")
    page.get_by_label(re.compile("programs:read")).check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("lat_")
    shoot(page, "settings-api-token-created")
    api = Api(world["api"].base_url, secret)  # a client of its own (world["api"] stays anonymous)
    assert api.call("GET", f"/v1/orgs/{world['org_id']}/programs")["items"]
    page.goto("/admin/settings/api-tokens")  # the page again: the secret is not shown any more
    expect(page.locator("#new-token")).to_have_count(0)
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke HR sync").click()
    expect(page.get_by_text("The token is revoked")).to_be_visible()
    api.call("GET", f"/v1/orgs/{world['org_id']}/programs", expect=401)

    # The API reference renders the gateway's document.
    page.get_by_role("link", name="API reference").first.click()
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=20_000)
    shoot(page, "api-reference")

    # Administrators.
    page.goto("/admin/settings/administrators")
    new_admin = f"{unique('pa')}@example.com"
    page.get_by_label("Full name").fill("Pia Admin")
    page.get_by_label("Email address").fill(new_admin)
    page.get_by_label(program_name).check()
    page.get_by_role("button", name="Add administrator").click()
    expect(page.get_by_role("cell", name=new_admin, exact=True)).to_be_visible()
    shoot(page, "settings-administrators")

    # Remove the program: the typed name is required.
    page.goto(program_url)
    page.get_by_role("link", name="Remove program").click()
    page.get_by_label("Type the program's name").fill("wrong name")
    page.get_by_role("button", name="Remove program").click()
    expect(page.get_by_text("Type the program's name exactly").first).to_be_visible()
    shoot(page, "program-remove")
    page.get_by_label("Type the program's name").fill(program_name)
    page.get_by_role("button", name="Remove program").click()
    expect(page.get_by_text(f"Program “{program_name}” removed")).to_be_visible()
    expect(page.get_by_role("link", name=program_name)).to_have_count(0)
    assert not page.js_errors, page.js_errors


def test_program_admin_sees_only_their_program(page, suite, world):
    sign_in(page, world["program_admin_email"])
    expect(page.get_by_role("link", name=world["program"]["name"])).to_be_visible()
    expect(page.get_by_role("link", name=world["other_program"]["name"])).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    expect(page.get_by_role("link", name="Create program")).to_have_count(0)
    shoot(page, "program-admin-home")
    page.goto(f"/admin/programs/{world['other_program']['id']}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto("/admin/settings/")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    page.goto(f"/admin/programs/{world['program']['id']}")
    expect(page.get_by_role("heading", name=world["program"]["name"], level=1)).to_be_visible()


def test_learner_sees_no_admin_page(page, suite, world):
    signed_in_learner(page, suite, world)
    expect(page.get_by_role("link", name="Admin home")).to_have_count(0)
    for path in ("/admin/", f"/admin/programs/{world['program']['id']}", "/admin/settings/api-tokens"):
        page.goto(path)
        expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    shoot(page, "learner-forbidden")


def test_expired_session_goes_to_sign_in_and_back(page, suite, world):
    """Every session of the account is signed out elsewhere: the next page asks to sign in, then returns."""
    sign_in(page, world["program_admin_email"])
    target = f"/admin/programs/{world['program']['id']}/invitations"
    page.goto(target)
    expect(page.get_by_role("heading", name="Invite one person")).to_be_visible()
    other = world["api"].call("POST", "/v1/auth/login", json={"email": world["program_admin_email"],
                                                             "password": PASSWORD})
    world["api"].call("POST", "/v1/auth/logout", json={"refresh_token": other["refresh_token"], "everywhere": True})
    page.wait_for_timeout(5500)  # revoked access tokens answer 401 within 5 s (docs/api.md)
    page.reload()
    page.wait_for_url("**/sign-in?next=**")
    page.get_by_label("Email address").fill(world["program_admin_email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(suite.console_url + target)


def test_sign_out_revokes_the_refresh_token(page, suite, world):
    sign_in(page, world["admin_email"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    refresh_token = session_of(cookie["value"])["rt"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    world["api"].call("POST", "/v1/auth/refresh", json={"refresh_token": refresh_token}, expect=401)
    page.goto("/admin/")
    page.wait_for_url("**/sign-in?next=**")
