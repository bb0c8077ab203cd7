"""Every link the platform emails opens a working console page: each test opens
the real .eml the suite's SMTP sink captured, clicks the link in it, and goes on
in the browser."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, mail_to, open_email, shoot, sign_in, unique


def test_invitation_link_accept_enroll_up_to_the_limit(page, suite, world):
    email = f"{unique('lee')}@example.com"
    world["admin"].call("POST", "/v1/invitations", json={
        "program_id": world["program"]["id"], "contract_id": world["contract"]["id"], "full_name": "Lee Learner",
        "email": email, "send_email": True})
    open_email(page, mail_to(suite, email, "invites you"))
    page.get_by_role("link", name="Accept the invitation").click()
    page.wait_for_url(suite.console_url + "/invitations/accept?token=*")
    assert world["program"]["name"] in page.locator("h1").inner_text()
    shoot(page, "accept-invitation")
    page.get_by_label("Your full name").fill("Lee Learner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accept invitation").click()
    page.wait_for_url(re.compile(r"/learn/programs/[0-9a-f-]{36}$"))
    expect(page.get_by_text(f"Welcome to {world['program']['name']}")).to_be_visible()
    expect(page.get_by_text("You can enroll in up to 2")).to_be_visible()
    shoot(page, "learner-program")
    first, second, third = (c["name"] for c in world["courses"])
    page.get_by_role("button", name=f"Enroll in {first}").click()
    expect(page.get_by_text(f"You are enrolled in {first}")).to_be_visible()
    page.get_by_role("button", name=f"Enroll in {second}").click()
    # The limit is reached: it is explained and no Enroll button is left.
    expect(page.get_by_text("reached this program's enrollment limit")).to_be_visible()
    expect(page.get_by_role("button", name=f"Enroll in {third}")).to_have_count(0)
    shoot(page, "learner-program-limit-reached")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My programs").click()
    expect(page.get_by_role("link", name=world["program"]["name"])).to_be_visible()
    expect(page.get_by_role("cell", name=first)).to_be_visible()
    shoot(page, "learner-my-programs")
    # The welcome email's "Open the program" (the program's join URL) opens the program for a member.
    open_email(page, mail_to(suite, email, "Welcome to"))
    page.get_by_role("link", name="Open the program").click()
    page.wait_for_url(re.compile(r"/learn/programs/[0-9a-f-]{36}$"))
    assert page.locator("h1").inner_text() == world["program"]["name"]


def submit_then_follow_the_email(page, suite, shot: str, button: str, answer: str, email: tuple) -> None:
    """Send the form (screenshot first), see its answer, then open the email it caused and click its link:
    `email` is (to, subject contains, link name, the console's path the link opens, with ?token=)."""
    to, subject, link, path = email
    shoot(page, shot)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text(answer)).to_be_visible()
    open_email(page, mail_to(suite, to, subject))
    page.get_by_role("link", name=link).click()
    page.wait_for_url(suite.console_url + path + "?token=*")
    shoot(page, path.strip("/"))


def test_password_reset_link(page, suite, world):
    email = f"{unique('resetter')}@example.com"
    world["api"].call("POST", "/v1/auth/signup", json={"email": email, "full_name": "Rae Reset", "password": PASSWORD})
    page.goto("/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill(email)
    submit_then_follow_the_email(page, suite, "forgot-password", "Send me a link", "we sent it a link",
                                 (email, "Reset your password", "Choose a new password", "/reset-password"))
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_text("Your password is set")).to_be_visible()
    # Signing in with the old password fails with a clear message; the new one works.
    sign_in(page, email, PASSWORD)
    expect(page.get_by_text("The email or password is not right.")).to_be_visible()
    sign_in(page, email, "a brand new passphrase")
    page.wait_for_url("**/learn")


def test_sign_up_then_verify_email_link(page, suite, world):
    email = f"{unique('newcomer')}@example.com"
    page.goto("/sign-up")
    page.get_by_label("Full name").fill("Nia Newcomer")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    submit_then_follow_the_email(page, suite, "sign-up", "Create account", "Check your email",
                                 (email, "Confirm your email", "Confirm my email", "/verify-email"))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    # The same link a second time is refused with a message, not a stack trace.
    page.go_back()
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.locator(".error-summary")).to_be_visible()


def test_join_by_program_url_after_sign_in(page, suite, world):
    """The join URL (as `make run` prints it) opens sign-in, then the join page, then the program."""
    email = f"{unique('joiner')}@example.com"
    api = world["api"]
    api.call("POST", "/v1/auth/signup", json={"email": email, "full_name": "Jo Joiner", "password": PASSWORD})
    open_email(page, mail_to(suite, email, "Confirm your email"))
    page.get_by_role("link", name="Confirm my email").click()
    page.get_by_role("button", name="Confirm my email address").click()
    world["admin"].call("POST", "/v1/invitations", json={
        "program_id": world["program"]["id"], "contract_id": world["contract"]["id"], "full_name": "Jo Joiner",
        "email": email, "send_email": False})
    join_url = world["program"]["join_url"]
    assert join_url.startswith(suite.console_url + "/programs/")
    page.goto(join_url)
    page.wait_for_url("**/sign-in?next=**")
    sign_in_from_here = page.get_by_label("Email address")
    sign_in_from_here.fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(join_url)
    shoot(page, "join-program")
    page.get_by_role("button", name="Join program").click()
    page.wait_for_url(re.compile(r"/learn/programs/[0-9a-f-]{36}$"))
    expect(page.get_by_text("You joined the program")).to_be_visible()


def test_unsubscribe_link_of_an_admin_message(page, suite, world):
    email = f"{unique('member')}@example.com"
    admin = world["admin"]
    admin.call("POST", "/v1/invitations", json={
        "program_id": world["other_program"]["id"], "contract_id": world["contract"]["id"], "full_name": "Mo Member",
        "email": email, "send_email": True})
    open_email(page, mail_to(suite, email, "invites you"))
    page.get_by_role("link", name="Accept the invitation").click()
    page.get_by_label("Your full name").fill("Mo Member")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accept invitation").click()
    subject = unique("News")
    draft = admin.call("POST", f"/v1/orgs/{world['org_id']}/messages", json={
        "audience": {"preset": "ALL_MEMBERS", "filters": {"program_ids": [world["other_program"]["id"]]}},
        "subject": subject, "content": "Hello learners"})
    admin.call("POST", f"/v1/messages/{draft['id']}/send", json={"accept_terms": True})
    open_email(page, mail_to(suite, email, subject))
    page.get_by_role("link", name="Unsubscribe from these emails").click()
    page.wait_for_url(suite.console_url + "/v1/unsubscribe/*")
    shoot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text("You are unsubscribed")).to_be_visible()
    shoot(page, "unsubscribed")
    # The learner's preferences now show program messages off.
    page.get_by_role("link", name="email preferences", exact=True).click()
    expect(page.get_by_label("Messages from my programs' administrators")).not_to_be_checked()
