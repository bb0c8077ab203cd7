"""Real-browser tests of the console: Playwright driving Debian's Chromium
(headless, by its executable path) against the whole suite started with the
console as PUBLIC_URL.

These run in their own pytest process (`make test` runs
`pytest --confcutdir=tests/browser tests/browser` after the main run): the
root conftest.py monkey-patches the process with eventlet, under which
Playwright's sync API does not run, and it ignores this folder. Screenshots of
every page visited are saved under var/screenshots/ (docs/console.md)."""
import os
import re
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("DATABASE_PREFIX", f"test{uuid.uuid4().hex[:6]}_")
os.environ.setdefault("OPS_PORT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("APP_ENV", "development")
os.environ.setdefault("DB_POOL_IDLE", "2")

import pytest  # noqa: E402
import requests  # noqa: E402

from scripts.mailsink import read_messages  # noqa: E402
from tests.support.suite import ROOT, Suite  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

PASSWORD = "correct horse battery"
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / "var" / "screenshots"))
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM_PATH") or next((p for p in CHROMIUM_CANDIDATES if os.path.exists(p)), None) \
        or shutil.which("chromium")
    if not found:
        pytest.fail("Debian's chromium is not installed: scripts/ensure-infra.sh installs it "
                    "(apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def suite():
    workdir = ROOT / "var" / "browser-suite"  # its logs stay there after the run
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    running = Suite(workdir, console=True)
    running.env["API_PUBLIC_URL"] = running.base_url  # single sign-on: the IdP sends browsers to the gateway
    running.start()
    yield running
    running.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    """The gateway's API as a person (setting up what a test is about)."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url, self.token, self.http = base_url, token, requests.Session()

    def call(self, method: str, path: str, expect: int | tuple = (200, 201, 202, 204), **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.http.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None

    def as_user(self, email: str, password: str = PASSWORD) -> "Api":
        return Api(self.base_url, self.call("POST", "/v1/auth/login", json={"email": email,
                                                                           "password": password})["access_token"])


@pytest.fixture(scope="session")
def world(suite):
    """An organization with an org admin, a contract, a program with a curriculum (enrollment limit 2)
    and a program admin of that program only."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts, admins
    from services.identity.commands.organizations import create_org_with_admin
    from services.programs.commands import catalog
    from services.skills.commands import taxonomy

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    with unit_of_work("skills", suite.database_url("skills")) as uow:  # the skills of the demo courses
        taxonomy.load_taxonomy_file(uow, taxonomy.DEMO_TAXONOMY)
    admin_email = f"{unique('admin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        org = create_org_with_admin(uow, unique("Globex"), admin_email, "Ada Admin", PASSWORD,
                                    settings={"brand_color": "#7a1f5c"})
    api = Api(suite.base_url)
    admin = api.as_user(admin_email)
    org_id = org["org_id"]
    today = date.today()
    contract = admin.call("POST", f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": 100, "starts_on": str(today - timedelta(days=1)),
        "ends_on": str(today + timedelta(days=365))})
    program = admin.call("POST", f"/v1/orgs/{org_id}/programs", json={
        "name": unique("Data Academy"), "contract_ids": [contract["id"]], "enrollment_limit": 2})
    courses = admin.call("GET", "/v1/catalog/courses", params={"limit": 3})["items"]
    collection = admin.call("POST", f"/v1/programs/{program['id']}/collections",
                            json={"name": "Start here", "description": "The basics"})
    admin.call("POST", f"/v1/collections/{collection['id']}/items",
               json={"course_ids": [c["id"] for c in courses], "specialization_ids": []})
    other = admin.call("POST", f"/v1/orgs/{org_id}/programs", json={
        "name": unique("Sales Academy"), "contract_ids": [contract["id"]]})
    program_admin_email = f"{unique('padmin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        accounts.ensure_verified_person(uow, org_id, program_admin_email, "Pat Program", PASSWORD)
        admins.add_admin(uow, org_id, program_admin_email, "Pat Program", "PROGRAM_ADMIN", [program["id"]])
    return {"org_id": org_id, "admin_email": admin_email, "admin": admin, "api": api, "contract": contract,
            "program": program, "other_program": other, "collection": collection, "courses": courses,
            "program_admin_email": program_admin_email}


def new_program(world, name: str = "Program", licenses: int = 20, contracts: int = 1, courses=(),
                specializations=()) -> dict:
    """A program of the world's organization of its own (so that a test's counts are its own), with
    `contracts` new contracts and one collection of the given catalog ids."""
    admin, org_id, today = world["admin"], world["org_id"], date.today()
    made = [admin.call("POST", f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": licenses, "starts_on": str(today - timedelta(days=1)),
        "ends_on": str(today + timedelta(days=365))}) for _ in range(contracts)]
    program = admin.call("POST", f"/v1/orgs/{org_id}/programs", json={
        "name": unique(name), "contract_ids": [c["id"] for c in made]})
    collection = None
    if courses or specializations:
        collection = admin.call("POST", f"/v1/programs/{program['id']}/collections", json={"name": "Core"})
        admin.call("POST", f"/v1/collections/{collection['id']}/items",
                   json={"course_ids": list(courses), "specialization_ids": list(specializations)})
    return {**program, "contracts": made, "collection": collection}


def joined_learner(suite, world, program: dict, contract: dict, full_name: str = "Lee Learner") -> dict:
    """A person invited by email who accepted with the link of the real .eml: {email, id, api}."""
    email = f"{unique('lee')}@example.com"
    world["admin"].call("POST", "/v1/invitations", json={
        "program_id": program["id"], "contract_id": contract["id"], "full_name": full_name, "email": email,
        "send_email": True})
    token = re.search(r"/invitations/accept\?token=([A-Za-z0-9_\-.]+)", html_of(mail_to(suite, email, "invites you")))
    tokens = world["api"].call("POST", "/v1/invitations/accept", json={"token": token.group(1), "password": PASSWORD})
    learner = Api(world["api"].base_url, tokens["access_token"])
    return {"email": email, "full_name": full_name, "id": learner.call("GET", "/v1/me")["id"], "api": learner}


def other_org(suite) -> dict:
    """A second organization (tenancy): its admin, a contract."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands.organizations import create_org_with_admin

    email = f"{unique('badmin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        org = create_org_with_admin(uow, unique("Initech"), email, "Bea Other", PASSWORD)
    admin = Api(suite.base_url).as_user(email)
    today = date.today()
    contract = admin.call("POST", f"/v1/orgs/{org['org_id']}/contracts", json={
        "name": unique("Theirs"), "license_count": 3, "starts_on": str(today),
        "ends_on": str(today + timedelta(days=30))})
    return {"org_id": org["org_id"], "admin": admin, "user_id": admin.call("GET", "/v1/me")["id"],
            "contract": contract}


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # the machine is shared: pages may take seconds under load
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=chromium_path(), headless=True,
                                                  args=["--no-sandbox", "--disable-dev-shm-usage"])
    yield browser
    browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def page(browser, suite, request):
    context = browser.new_context(base_url=suite.console_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # JavaScript errors and CSP refusals (an error status of a page is not one: 4xx pages are tested)
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.js_errors = errors
    yield page
    if getattr(request.node, "failed_call", False):
        shoot(page, f"failed-{request.node.name}")  # what the browser showed when the test failed
    context.close()


def shoot(page, name: str) -> Path:
    """Save a full-page screenshot of what the browser shows (var/screenshots/<name>.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def signed_in_learner(page, suite, world, name: str = "Lu Learner") -> str:
    """A new person signs up, confirms the emailed link and signs in (no role anywhere): their email."""
    email = f"{unique('lrn')}@example.com"
    world["api"].call("POST", "/v1/auth/signup", json={"email": email, "full_name": name, "password": PASSWORD})
    open_email(page, mail_to(suite, email, "Confirm your email"))
    page.get_by_role("link", name="Confirm my email").click()
    page.get_by_role("button", name="Confirm my email address").click()
    sign_in(page, email)
    page.wait_for_url("**/learn")
    return email


def wait_until(check, timeout: float = 60.0, interval: float = 0.5, what: str = "the condition"):
    """`wait_for` (tests/support/waiting.py) with the browser's patience: poll `check()` until it answers
    something true (asynchronous work: events, the skills update)."""
    return wait_for(check, timeout, interval, what)


# ---------------------------------------------------------------- email


def mail_to(suite, email: str, subject_contains: str = "", timeout: float = 30.0):
    """The newest email to `email` whose subject contains the text, once it has arrived."""
    return wait_for(lambda: [m for m in read_messages(suite.mail_dir)
                             if m["X-Envelope-To"] == email.lower() and subject_contains in str(m["Subject"])],
                    timeout, 0.2, f"an email to {email} with {subject_contains!r} in its subject")[-1]


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def open_email(page, message) -> None:
    """Show the email's HTML in the browser, as a mail client would (in a blank page of its own: not
    under the console's Content-Security-Policy, which refuses the email's inline styles)."""
    page.goto("about:blank")
    page.set_content(html_of(message))
