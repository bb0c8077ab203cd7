"""Reports through the gateway (docs/reporting.md "Reports"): the CSVs streamed
from reporting's export server, their tenancy, "email me the report" and its
download link (expiry 410, tampering 404, scope lost 404), gradebooks.

The organization, programs and people are made through the public API and
reach reporting by events; a learner's figures through POST /v1/activity."""
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.reporting.reports import links
from services.reporting.reports.settings import DEV_REPORT_LINK_SECRET
from tests.e2e.conftest import unique
from tests.e2e.helpers import add_program_admin, database_fixture, program_with_contract, scalar
from tests.support.reports import HEADERS, csv_rows
from tests.support.waiting import wait_for

EVIL_NAME = '=HYPERLINK("http://x")'
reporting_db = database_fixture("reporting")
messaging_db = database_fixture("messaging")


def parse(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return csv_rows(response.content)


@pytest.fixture(scope="module")
def rpc(suite):
    with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}, timeout=30) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def acme(suite, api, rpc, reporting_db):
    """Org A with programs P1 and P2, an org admin, a program admin of P1, one
    member of P1 (an evil name) enrolled in a course with activity; org B apart."""
    from servicekit.standalone import unit_of_work
    from services.programs.commands import catalog
    from tests.e2e.conftest import create_org

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    org_id, admin, admin_email = create_org(suite, api)
    p1, contract = program_with_contract(admin, org_id)
    p2, _ = program_with_contract(admin, org_id)
    other_org, other_admin, _ = create_org(suite, api)
    q, _ = program_with_contract(other_admin, other_org)
    padmin = add_program_admin(suite, api, org_id, [p1["id"]])
    course = admin.get("/v1/catalog/courses", params={"limit": 1}).json()["items"][0]
    # a member of P1 whose name is a formula, enrolled in the course
    learner_email, learner_id = verified_person(suite, org_id, EVIL_NAME)
    learner = api.as_user(learner_email, "correct horse battery")
    rpc.programs.join_program(org_id, p1["id"], learner_id, contract["id"], str(uuid.uuid4()),
                              email=learner_email, full_name=EVIL_NAME)
    collection = admin.post(f"/v1/programs/{p1['id']}/collections", json={"name": "Picked", "description": None})
    assert collection.status_code == 201, collection.text
    items = admin.post(f"/v1/collections/{collection.json()['id']}/items",
                       json={"course_ids": [course["id"]], "specialization_ids": []})
    assert items.status_code == 200, items.text
    enrolled = learner.post("/v1/enrollments", json={"program_id": p1["id"], "course_id": course["id"],
                                                     "collection_id": collection.json()["id"]})
    assert enrolled.status_code == 201, enrolled.text
    token = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("t"), "scopes": ["reports:read",
                                                                                              "activity:write"]})
    weak = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("t"), "scopes": ["programs:read"]})
    wait_for(lambda: scalar(reporting_db, "SELECT count(*) FROM enrollments WHERE user_id = :u AND course_id = :c",
                            u=learner_id, c=course["id"]) == 1, timeout=60)
    wait_for(lambda: scalar(reporting_db, "SELECT count(*) FROM collections WHERE collection_id = :c",
                            c=collection.json()["id"]) == 1, timeout=60)
    wait_for(lambda: scalar(reporting_db, "SELECT count(*) FROM programs WHERE org_id IN (:a, :b)",
                            a=org_id, b=other_org) == 3, timeout=60)
    wait_for(lambda: scalar(reporting_db, "SELECT count(*) FROM admins WHERE org_id = :o", o=org_id) >= 2,
             timeout=60)
    return {"org": org_id, "admin": admin, "admin_email": admin_email, "p1": p1, "p2": p2, "q": q,
            "other_org": other_org, "other_admin": other_admin, "padmin": padmin, "learner": learner,
            "learner_id": learner_id, "learner_email": learner_email, "course": course,
            "token": token.json()["token"], "weak_token": weak.json()["token"]}


def verified_person(suite, org_id: str, name: str) -> tuple[str, str]:
    """A person of the organization with a verified account and a password: (email, user id)."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts

    email = f"{unique('learner')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        return email, accounts.ensure_verified_person(uow, org_id, email, name, "correct horse battery").id


def bearer(api, token):
    from tests.e2e.conftest import Api

    return Api(api.base_url, token)


@pytest.mark.parametrize("report", ["usage", "membership", "specialization"])
def test_exact_header_rows_and_bom(acme, report):
    rows = parse(acme["admin"].get(f"/v1/orgs/{acme['org']}/reports/{report}.csv"))
    assert ",".join(rows[0]) == HEADERS[report]


def test_usage_report_streams_the_enrollment_neutralised(acme):
    response = acme["admin"].get(f"/v1/orgs/{acme['org']}/reports/usage.csv")
    assert response.headers.get("Content-Disposition") == 'attachment; filename="usage.csv"'
    rows = parse(response)
    (row,) = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert row["Email"] == acme["learner_email"]
    assert row["Name"] == "'=HYPERLINK(\"http://x\")"  # neutralised
    assert row["Course ID"] == acme["course"]["id"] and row["Program Name"] == acme["p1"]["name"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["Enrollment Time"])
    assert (row["Completed"], row["Removed From Program"], row["Overall Progress"]) == ("No", "No", "0.00")
    # the collection the learner found the course in (programs.collection.changed.v1, consumed by reporting)
    assert row["Enrollment Source"] == "Picked"


def test_tenancy_of_the_csvs(api, acme):
    org, p1, p2, q = acme["org"], acme["p1"]["id"], acme["p2"]["id"], acme["q"]["id"]
    path = f"/v1/orgs/{org}/reports/usage.csv"
    # the program admin of P1: P1 only (explicitly or by default); P2 is not theirs
    assert len(parse(acme["padmin"].get(path))) == 2
    assert len(parse(acme["padmin"].get(path, params={"program_id": p1}))) == 2
    assert acme["padmin"].get(path, params={"program_id": p2}).status_code == 404
    # an org admin narrowing to P2: the header only
    assert parse(acme["admin"].get(path, params={"program_id": p2})) == [HEADERS["usage"].split(",")]
    # another organization's admin, another organization's program, a learner, no one
    assert acme["other_admin"].get(path).status_code == 404
    assert acme["admin"].get(path, params={"program_id": q}).status_code == 404
    assert acme["learner"].get(path).status_code == 404
    assert api.get(path).status_code == 401
    # API tokens: with reports:read as an org admin of their organization; without it 403; never another org
    assert len(parse(bearer(api, acme["token"]).get(path))) == 2
    weak = bearer(api, acme["weak_token"]).get(path)
    assert weak.status_code == 403 and weak.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert bearer(api, acme["token"]).get(f"/v1/orgs/{acme['other_org']}/reports/usage.csv").status_code == 404
    # gradebooks: program scope
    book = f"/v1/programs/{p1}/courses/{acme['course']['id']}/gradebook/gradebook.csv"
    assert parse(acme["padmin"].get(book))[0][:3] == ["Name", "Email", "External Id"]
    assert acme["padmin"].get(book.replace(p1, p2)).status_code == 404
    assert acme["other_admin"].get(book).status_code == 404
    assert acme["learner"].get(book).status_code == 404
    assert bearer(api, acme["weak_token"]).get(book).status_code == 403
    assert acme["admin"].get(book.replace(acme["course"]["id"], "no such course!")).status_code == 404


def test_gradebooks_from_graded_activity(api, acme):
    statements = [{"id": str(uuid.uuid4()), "actor": {"user_id": acme["learner_id"]}, "verb": "graded",
                   "object": {"type": "item", "id": "quiz-1", "course_id": acme["course"]["id"],
                              "lesson_id": "l1", "item_type": "quiz", "name": "Quiz: Week 1"},
                   "result": {"score": score, "max_score": 10, "passed": score >= 8, "attempt": attempt},
                   "timestamp": (datetime.now(UTC) - timedelta(minutes=10 - attempt)).isoformat()}
                  for attempt, score in ((1, 6), (2, 9))]
    sent = bearer(api, acme["token"]).post("/v1/activity", json={"statements": statements})
    assert sent.status_code in (200, 202), sent.text
    base = f"/v1/programs/{acme['p1']['id']}/courses/{acme['course']['id']}/gradebook"

    def attempts():
        return parse(acme["admin"].get(f"{base}/assessment_attempts.csv"))

    wait_for(lambda: len(attempts()) == 3, timeout=30)
    rows = attempts()
    assert rows[0] == ["Name", "Email", "External Id", "Course", "Course Slug", "Assessment", "Attempt", "Score",
                       "Max Score", "Passed", "Attempt Time"]
    assert sorted((r[5], r[6], r[7], r[8], r[9]) for r in rows[1:]) == [
        ("Quiz: Week 1", "1", "6.00", "10.00", "No"), ("Quiz: Week 1", "2", "9.00", "10.00", "Yes")]
    book = parse(acme["admin"].get(f"{base}/gradebook.csv"))
    assert book[0] == ["Name", "Email", "External Id", "Quiz: Week 1", "Course Grade"]
    assert book[1][3:] == ["90.00", "90.00"]


def mail_links(suite, email: str) -> list[str]:
    found = []
    for path in sorted(suite.mail_dir.glob("*.eml")):
        text = path.read_text(errors="replace")
        if email.lower() in text.lower():
            found += re.findall(r"/v1/reports/download/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", text)
    return found


def test_email_me_the_report_and_its_link(suite, api, acme, messaging_db):
    padmin = acme["padmin"]
    sent = padmin.post(f"/v1/orgs/{acme['org']}/reports/email", json={"report": "usage"})
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["report"] == "usage" and body["email"].endswith("@example.com")
    wait_for(lambda: mail_links(suite, body["email"]), timeout=30)
    (token,) = set(mail_links(suite, body["email"]))
    # the delivery keeps no link once sent
    wait_for(lambda: scalar(messaging_db, "SELECT count(*) FROM deliveries WHERE template = 'report_ready' "
                                          "AND state = 'SENT'") >= 1, timeout=30)
    assert scalar(messaging_db, "SELECT count(*) FROM deliveries WHERE context::text LIKE :t",
                  t=f"%{token[:20]}%") == 0
    # anyone holding the link downloads what the program admin's scope allowed (P1)
    rows = parse(api.get(f"/v1/reports/download/{token}"))
    assert ",".join(rows[0]) == HEADERS["usage"] and len(rows) == 2
    # tampered: 404
    payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert api.get(f"/v1/reports/download/{payload}.{flipped}").status_code == 404
    assert api.get("/v1/reports/download/not-a-token").status_code == 404
    # expired: 410 (a link signed with the suite's key, its 24 h over)
    key = DEV_REPORT_LINK_SECRET.encode()
    claims = {"org": acme["org"], "user": str(uuid.uuid4()), "report": "usage", "programs": None}
    old = links.sign(key, links.DOWNLOAD, claims, datetime.now(UTC) - timedelta(seconds=1))
    gone = api.get(f"/v1/reports/download/{old}")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "REPORT_LINK_EXPIRED"
    # someone else's scope forged with a wrong key: 404
    forged = links.sign(b"k" * 40, links.DOWNLOAD, claims, datetime.now(UTC) + timedelta(hours=1))
    assert api.get(f"/v1/reports/download/{forged}").status_code == 404
    # the program admin loses the role: the link stops working
    admins = acme["admin"].get(f"/v1/orgs/{acme['org']}/admins").json()
    items = admins["items"] if isinstance(admins, dict) else admins
    (role,) = [a for a in items if a["email"] == body["email"]]
    assert acme["admin"].delete(f"/v1/orgs/{acme['org']}/admins/{role['id']}").status_code == 204
    deadline = time.monotonic() + 30
    while api.get(f"/v1/reports/download/{token}").status_code != 404:
        assert time.monotonic() < deadline, "the link still works after the admin lost the scope"
        time.sleep(0.3)


def test_email_me_the_report_tenancy(api, acme):
    path = f"/v1/orgs/{acme['org']}/reports/email"
    assert acme["other_admin"].post(path, json={"report": "usage"}).status_code == 404
    assert acme["learner"].post(path, json={"report": "usage"}).status_code == 404
    assert acme["admin"].post(path, json={"report": "usage", "program_id": acme["q"]["id"]}).status_code == 404
    assert acme["admin"].post(path, json={"report": "gradebook"}).status_code == 400
    assert bearer(api, acme["token"]).post(path, json={"report": "usage"}).status_code == 403  # people only


def test_email_me_the_report_is_rate_limited_per_organization(suite, api):
    """REPORT_EMAILS_PER_ORG_PER_HOUR (30) links an hour per organization, then 429 TOO_MANY_REQUESTS with
    Retry-After; another organization is not affected."""
    from tests.e2e.conftest import create_org

    now = datetime.now(UTC)
    if now.minute >= 58:  # the limit is per clock hour: 31 requests must not straddle two
        time.sleep((60 - now.minute) * 60 - now.second + 1)
    org_id, admin, _ = create_org(suite, api)
    other_org, other_admin, _ = create_org(suite, api)
    path = f"/v1/orgs/{org_id}/reports/email"
    wait_for(lambda: admin.post(path, json={"report": "membership"}).status_code == 202, timeout=60)  # org known
    answers = [admin.post(path, json={"report": "membership"}).status_code for _ in range(29)]
    assert answers == [202] * 29
    refused = admin.post(path, json={"report": "usage"})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "TOO_MANY_REQUESTS" and error["details"]["quota"] == "report_emails_per_org_per_hour"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert error["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"])
    assert other_admin.post(f"/v1/orgs/{other_org}/reports/email", json={"report": "usage"}).status_code == 202
