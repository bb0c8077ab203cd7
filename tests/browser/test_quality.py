"""Accessibility (axe-core on every page: no serious or critical violation), keyboard-only use, and
the security of the pages (CSRF, cookie flags, CSP without inline scripts, clickjacking, open
redirects, escaping), in the browser and over plain HTTP."""
import re
from urllib.parse import quote

import requests
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, mail_to, open_email, shoot, sign_in, unique

SERIOUS = {"serious", "critical"}


# Swagger UI (vendored, the API reference page) renders its own DOM: it is checked separately (its own
# contrast and its server <select> without a label are upstream's; tests/browser documents them) and
# its inline styles are set through the DOM by its script, which the CSP allows (no inline markup of ours).
THIRD_PARTY = "#swagger-ui"


def axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    context = {"exclude": [[THIRD_PARTY]]} if page.locator(THIRD_PARTY).count() else None
    results = Axe().run(page, context=context)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in SERIOUS]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


def check_page(page, name: str, problems: dict) -> None:
    """axe, no inline script/handler/style in the HTML, the security headers; screenshot."""
    page.wait_for_load_state("networkidle")
    found = axe_violations(page)
    html = page.content()
    if page.locator(THIRD_PARTY).count():  # the markup of our own page only
        html = html.replace(page.locator(THIRD_PARTY).evaluate("e => e.outerHTML"), "")
    if INLINE_SCRIPT.search(html) or INLINE_HANDLER.search(html):
        found.append("inline script or event handler in the page")
    if STYLE_ATTRIBUTE.search(re.sub(r"<iframe[^>]*>", "", html)):
        found.append("inline style attribute in the page")
    if found:
        problems[name] = found
    shoot(page, name)


def test_every_page_is_accessible_and_has_no_inline_script(page, browser, suite, world):
    """Each page a person reaches, as the role that reaches it."""
    problems: dict[str, list[str]] = {}
    program_id, collection_id = world["program"]["id"], world["collection"]["id"]
    for path in ("/sign-in", "/sign-up", "/forgot-password", "/reset-password?token=x", "/verify-email?token=x",
                 "/invitations/accept?token=nothing-like-this", "/v1/unsubscribe/garbage", "/no-such-page"):
        page.goto(path)
        check_page(page, "public" + re.sub(r"[^a-z]+", "-", path.split("?")[0]), problems)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-summary")).to_be_visible()
    check_page(page, "public-sign-in-error", problems)

    sign_in(page, world["admin_email"])
    me = world["admin"].call("GET", "/v1/me")
    draft = world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/messages", json={
        "audience": {"preset": "ALL_MEMBERS", "filters": {"program_ids": [program_id]}}, "subject": "Axe",
        "content": "Checking"})
    for path in ("/admin/", "/admin/programs/new", "/admin/contracts/new", f"/admin/programs/{program_id}",
                 f"/admin/programs/{program_id}?state=MEMBER&q=a",
                 f"/admin/programs/{program_id}/collections/{collection_id}/add?q=data",
                 f"/admin/programs/{program_id}/invitations", f"/admin/programs/{program_id}/messages",
                 f"/admin/programs/{program_id}/messages/{draft['id']}", f"/admin/programs/{program_id}/remove",
                 "/admin/settings/", "/admin/settings/administrators", "/admin/settings/api-tokens",
                 "/admin/settings/contracts", f"/admin/settings/contracts/{world['contract']['id']}",
                 f"/admin/programs/{program_id}/members/{me['id']}",
                 f"/admin/programs/{program_id}/messages?user_ids={me['id']}",
                 "/admin/settings/api-reference", "/admin/reports",
                 f"/admin/reports?program_id={program_id}", "/admin/analytics/", "/admin/analytics/leaderboard",
                 "/admin/analytics/benchmark", "/learn", "/account/email-preferences"):
        page.goto(path)
        check_page(page, "admin" + re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].replace(program_id, "p")
                                          .replace(collection_id, "c").replace(draft["id"], "m")
                                          .replace(world["contract"]["id"], "k").replace(me["id"], "u"))
                   + ("-chosen" if "user_ids" in path else ""), problems)
    page.goto(f"/admin/programs/{program_id}/invitations")
    page.get_by_role("button", name="Preview invitation").click()  # empty fields: the browser asks
    page.get_by_label("Full name").fill("Axe Person")
    page.get_by_label("Email address").fill("not an email")
    page.get_by_label("Email address").evaluate("e => e.type = 'text'")  # let the API refuse it
    page.get_by_role("button", name="Preview invitation").click()
    expect(page.locator(".error-summary")).to_be_visible()
    check_page(page, "admin-invitations-error", problems)

    # A learner's pages.
    email = f"{unique('axe')}@example.com"
    world["admin"].call("POST", "/v1/invitations", json={
        "program_id": program_id, "contract_id": world["contract"]["id"], "full_name": "Axe Learner",
        "email": email, "send_email": True})
    learner = browser.new_context(base_url=suite.console_url).new_page()
    open_email(learner, mail_to(suite, email, "invites you"))
    learner.get_by_role("link", name="Accept the invitation").click()
    check_page(learner, "learner-accept", problems)
    learner.get_by_label("Your full name").fill("Axe Learner")
    learner.get_by_label("Password").fill(PASSWORD)
    learner.get_by_role("button", name="Accept invitation").click()
    learner.wait_for_url(re.compile(r"/learn/programs/"))
    check_page(learner, "learner-program", problems)
    learner.goto("/learn")
    check_page(learner, "learner-home", problems)
    learner.goto("/admin/")
    check_page(learner, "learner-forbidden-page", problems)
    learner.context.close()
    assert not problems, problems
    assert not page.js_errors, page.js_errors


def test_keyboard_only_sign_in_and_reach_a_program(page, suite, world):
    page.goto("/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-email"
    page.keyboard.type(world["admin_email"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/")
    # Tab to the program's link and open it with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == world["program"]["name"]:
            break
    else:
        raise AssertionError("the program's link is not reachable with Tab")
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none", "the focused link shows no focus outline"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=world["program"]["name"], level=1)).to_be_visible()
    # The members filter works from the keyboard too.
    page.get_by_label("Search name or email").focus()
    page.keyboard.type("nobody-matches-this")
    page.keyboard.press("Enter")
    expect(page.get_by_text("No one matches.")).to_be_visible()
    shoot(page, "keyboard-filter")


def tab_to(page, check: str, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies `check` (JavaScript on `document.activeElement`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(e => {check})(document.activeElement)"):
            return
    raise AssertionError(f"nothing matching {check} is reachable with Tab")


def test_keyboard_only_contract_change_and_message_filters(page, suite, world):
    """The pages added for contracts and message audiences work with the keyboard alone."""
    from datetime import date, timedelta

    today = date.today()
    contract = world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/contracts", json={
        "name": unique("Keys"), "license_count": 5, "starts_on": str(today), "ends_on": str(today + timedelta(30))})
    sign_in(page, world["admin_email"])
    page.goto("/admin/settings/contracts")
    tab_to(page, f"e.tagName === 'A' && e.textContent.includes({contract['name']!r})")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Change the contract “{contract['name']}”")).to_be_visible()
    tab_to(page, "e.id === 'f-license_count'")
    page.keyboard.press("Control+A")
    page.keyboard.type("7")
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_text(f"Contract “{contract['name']}” saved: 7 licenses")).to_be_visible()

    page.goto(f"/admin/programs/{world['program']['id']}/messages")
    expect(page.locator("#audience-count")).to_contain_text("will receive")
    tab_to(page, "e.id === 'f-course_ids-1'")
    with page.expect_response(lambda r: "/audience-count" in r.url):
        page.keyboard.press("Space")
    expect(page.locator("#f-course_ids-1")).to_be_checked()
    tab_to(page, "e.id === 'f-subject'")
    page.keyboard.type("Keyboard only")
    page.keyboard.press("Tab")
    page.keyboard.type("Written without a mouse.")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Preview message'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard only")).to_be_visible()
    expect(page.get_by_text("enrolled in 1 of the program's courses")).to_be_visible()
    assert not page.js_errors, page.js_errors


# ---------------------------------------------------------------- security


def signed_in_session(suite, email: str) -> tuple[requests.Session, str]:
    http = requests.Session()
    form = http.get(f"{suite.console_url}/sign-in", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = http.post(f"{suite.console_url}/sign-in", data={"email": email, "password": PASSWORD,
                                                               "csrf_token": token}, timeout=30)
    assert response.status_code == 200 and response.url.endswith("/admin/"), response.url
    return http, token


def test_csrf_is_required_on_every_form(suite, world):
    http, token = signed_in_session(suite, world["admin_email"])
    name = unique("Forged")
    body = {"name": name, "contract_ids": world["contract"]["id"]}
    for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
        refused = http.post(f"{suite.console_url}/admin/programs/new", data={**body, **sent}, timeout=30)
        assert refused.status_code == 400 and "did not come from this site" in refused.text
    # A sign-in form without the token is refused too (no login CSRF).
    anonymous = requests.post(f"{suite.console_url}/sign-in", data={"email": world["admin_email"],
                                                                  "password": PASSWORD}, timeout=30)
    assert anonymous.status_code == 400
    programs = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/programs", params={"limit": 200})["items"]
    assert name not in {p["name"] for p in programs}
    created = http.post(f"{suite.console_url}/admin/programs/new", data={**body, "csrf_token": token}, timeout=30)
    assert created.status_code == 200 and name in created.text


def test_a_cross_site_form_cannot_act_for_a_signed_in_admin(page, suite, world):
    sign_in(page, world["admin_email"])
    name = unique("CrossSite")
    page.set_content(f"""<form method="post" action="{suite.console_url}/admin/programs/new">
      <input name="name" value="{name}"><input name="contract_ids" value="{world['contract']['id']}">
      <button>go</button></form>""")
    page.get_by_role("button", name="go").click()
    page.wait_for_load_state()
    assert "/admin/programs/" not in page.url or page.locator("h1").inner_text() != name
    programs = world["admin"].call("GET", f"/v1/orgs/{world['org_id']}/programs", params={"limit": 200})["items"]
    assert name not in {p["name"] for p in programs}


def test_cookie_flags_and_security_headers(page, suite, world):
    sign_in(page, world["admin_email"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # no token is reachable from JavaScript
    for path in ("/sign-in", "/admin/", f"/admin/programs/{world['program']['id']}", "/no-such-page"):
        response = page.goto(path)
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_pages_cannot_be_framed(page, suite, world):
    page.set_content(f'<iframe id="f" src="{suite.console_url}/sign-in" width="600" height="400"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#f")
    expect(frame.get_by_role("button", name="Sign in")).to_have_count(0)


def test_no_open_redirect_after_sign_in(page, suite, world):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page.goto("/sign-in?next=" + quote(target, safe=""))
        page.get_by_label("Email address").fill(world["admin_email"])
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert page.url.startswith(suite.console_url), page.url
        page.context.clear_cookies()


def test_names_are_escaped(page, suite, world):
    hostile = f"<img src=x onerror=alert(1)>{unique('P')}"
    program = world["admin"].call("POST", f"/v1/orgs/{world['org_id']}/programs", json={
        "name": hostile, "contract_ids": [world["contract"]["id"]]})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, world["admin_email"])
    page.goto(f"/admin/programs/{program['id']}")
    expect(page.get_by_role("heading", name=hostile, level=1)).to_be_visible()
    assert page.locator("main img[src=x]").count() == 0 and not dialogs
