"""Reporting and Analytics against real data: a learner joins from the emailed link and enrolls, a
learning platform sends their activity through the gateway (POST /v1/activity with an activity:write
token, as scripts/simulate does), then the admin reads the figures, downloads the three reports
(streamed, each with the learner), emails themself a link and opens it from the .eml, sets the
schedule, downloads a gradebook, and finds the learner's skill level in the analytics once the skills
service has taken the graded attempts in (polled, never a fixed sleep)."""
import re
import uuid
from datetime import UTC, datetime, timedelta

import requests
from playwright.sync_api import expect

from tests.browser.conftest import (
    Api,
    html_of,
    joined_learner,
    mail_to,
    new_program,
    open_email,
    shoot,
    sign_in,
    unique,
    wait_until,
)
from tests.browser.test_quality import signed_in_session

AI_COURSE = "daG-a-O1EeijKBISCWxf6g"  # AI For Everyone (demo taxonomy: business strategy, machine learning, AI)
DEEP_LEARNING = "bkGOAmMgBcnpMe6UPeersg"  # the Deep Learning specialization of the demo catalog


def statements(email: str, start: datetime) -> list[dict]:
    """A session: a video started and completed, then six graded quiz attempts at 9/10."""
    def one(verb, minutes, item, item_type="video", result=None):
        body = {"id": str(uuid.uuid4()), "actor": {"email": email}, "verb": verb,
                "object": {"type": "item", "id": item, "course_id": AI_COURSE, "lesson_id": "l01",
                           "item_type": item_type},
                "timestamp": (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")}
        if result:
            body["result"] = result
        return body
    return [one("started", 0, f"{AI_COURSE}-l01-v01"), one("completed", 12, f"{AI_COURSE}-l01-v01"),
            *[one("graded", 15 + 3 * k, f"{AI_COURSE}-l01-i00{k}", "quiz",
                  {"score": 9, "max_score": 10, "passed": True, "attempt": 1}) for k in range(6)]]


def send_activity(lms: Api, batch: list[dict]) -> None:
    """The learner becomes known to reporting by programs' events: resend until no statement is refused."""
    def attempt():
        body = lms.call("POST", "/v1/activity", json={"statements": batch})
        assert not [r for r in body["rejected"] if r["code"] != "UNKNOWN_LEARNER"], body
        return not body["rejected"] and body
    wait_until(attempt, what="reporting to know the learner")


def download(page, link) -> tuple[str, str]:
    with page.expect_download() as started:
        link.click()
    done = started.value
    return done.suggested_filename, open(done.path(), encoding="utf-8").read()


def test_reporting_and_analytics_with_real_activity(page, suite, world):
    admin, org_id = world["admin"], world["org_id"]
    program = new_program(world, "Reports", courses=[AI_COURSE], specializations=[DEEP_LEARNING])
    learner = joined_learner(suite, world, program, program["contracts"][0], full_name="Rae Reported")
    learner["api"].call("POST", "/v1/enrollments", json={"program_id": program["id"], "course_id": AI_COURSE})
    learner["api"].call("POST", "/v1/enrollments", json={"program_id": program["id"],
                                                        "specialization_id": DEEP_LEARNING})
    lms = Api(suite.base_url, admin.call("POST", f"/v1/orgs/{org_id}/api-tokens", json={
        "name": unique("lms"), "scopes": ["activity:write"]})["token"])
    send_activity(lms, statements(learner["email"], datetime.now(UTC) - timedelta(hours=3)))

    # The reports know the learner once programs' events have reached reporting (polled through the API).
    def report(name):
        response = requests.get(f"{suite.base_url}/v1/orgs/{org_id}/reports/{name}.csv",
                                params={"program_id": program["id"]}, timeout=60,
                                headers={"Authorization": f"Bearer {admin.token}"})
        return response.status_code == 200 and learner["email"] in response.text
    wait_until(lambda: all(report(name) for name in ("usage", "membership", "specialization")), timeout=90,
               what="the reports to list the learner")
    summary = admin.call("GET", f"/v1/orgs/{org_id}/summary")
    assert summary["learning_hours"] > 0 and summary["lessons_taken"] >= 1

    sign_in(page, world["admin_email"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reporting").click()
    figures = page.get_by_role("region", name="Figures")
    for label, value in (("Enrollments", summary["enrollments"]), ("Lessons taken", summary["lessons_taken"])):
        expect(figures.locator(f"dt:text-is('{label}') + dd")).to_have_text(str(value))
    page.get_by_role("region", name="Download a report now").get_by_label("Program").select_option(
        label=program["name"])
    page.get_by_role("button", name="Choose").click()
    shoot(page, "reporting-program")
    for key, filename in (("Usage", "usage"), ("Membership", "membership"), ("Specialization", "specialization")):
        name, text = download(page, page.get_by_role("link", name=re.compile(f"^{key}:")))
        assert name.endswith(".csv") and filename in name, name
        rows = [line for line in text.splitlines() if learner["email"] in line]
        assert rows, (key, text[:500])
        if key == "Specialization":
            assert "Deep Learning" in rows[0]
    # Streamed: the console passes the API's answer on as it comes (chunked, no length known in advance).
    http, _ = signed_in_session(suite, world["admin_email"])
    streamed = http.get(f"{suite.console_url}/admin/reports/usage.csv", params={"program_id": program["id"]},
                        stream=True, timeout=60)
    assert streamed.status_code == 200 and streamed.headers["Content-Type"].startswith("text/csv")
    assert "Content-Length" not in streamed.headers and streamed.headers.get("Transfer-Encoding") == "chunked"
    streamed.close()

    # Gradebooks of the program's course: the learner's six graded attempts.
    name, text = download(page, page.get_by_role("link", name=re.compile(r"^Every graded attempt \(AI For")))
    assert len([line for line in text.splitlines() if learner["email"] in line]) == 6, text[:800]

    # Email me the link: the .eml's button opens the console's download page.
    emailing = page.get_by_role("region", name="Email me the link")
    emailing.get_by_label("Report").select_option(label="Membership: one row per person per program")
    emailing.get_by_label("Program").select_option(label=program["name"])
    page.get_by_role("button", name="Email me the link").click()
    expect(page.get_by_text(f"We emailed a link to {world['admin_email']}")).to_be_visible()
    message = mail_to(suite, world["admin_email"], "is ready")
    assert suite.console_url in html_of(message)
    open_email(page, message)
    name, text = download(page, page.get_by_role("link", name="Download the report"))
    assert "membership" in name and learner["email"] in text

    # The schedule: set in the organization's settings, shown on the reporting page.
    page.goto("/admin/reports")
    page.get_by_role("link", name="the organization's settings").click()
    page.get_by_label("Email reports to the organization's admins").select_option("WEEKLY")
    page.get_by_label("Day of the week (weekly)").select_option("WEDNESDAY")
    page.get_by_label(re.compile("^Hour")).fill("7")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Organization settings saved.")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reporting").click()
    expect(page.locator("#schedule")).to_contain_text("Every week on Wednesday at 07:00")
    shoot(page, "reporting")

    # Analytics: the skills service takes the graded attempts in asynchronously: reload until it has.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    page.get_by_role("link", name="Leaderboard", exact=True).click()

    def learner_on_board():
        page.reload()
        return page.get_by_role("row", name=re.compile("Rae Reported")).count() > 0
    wait_until(learner_on_board, timeout=90, interval=1, what="the leaderboard to show the learner")
    rows = page.get_by_role("row", name=re.compile("Rae Reported"))
    expect(rows.first).to_contain_text("Advanced")  # the API's ADVANCED, as a word
    assert rows.count() == 3  # business strategy, machine learning, artificial intelligence
    page.get_by_label("Program").select_option(label=program["name"])
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row", name=re.compile("Rae Reported"))).to_have_count(3)
    shoot(page, "analytics-leaderboard")
    page.get_by_role("link", name="Skill distribution", exact=True).click()
    page.get_by_label("Program").select_option(label=program["name"])
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row", name=re.compile("Machine learning", re.IGNORECASE))).to_be_visible()
    shoot(page, "analytics-distribution")
    page.get_by_role("link", name="Benchmark", exact=True).click()
    expect(page.get_by_role("heading", name="Benchmark", level=2)).to_be_visible()
    page.goto("/v1/reports/download/not-a-real-link")
    expect(page.get_by_role("heading", name="This report link is not valid")).to_be_visible()
    assert not page.js_errors, page.js_errors
