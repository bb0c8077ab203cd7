"""Report links (reporting.report.ready.v1): one email per admin and report,
asked for or scheduled; the download link is a bearer secret for 24 h, so the
delivery keeps it only until the email is final; a redelivered event sends nothing more."""
import uuid
from datetime import UTC, datetime, timedelta

from services.messaging.tests.conftest import clear_deliveries, rows, scalar, wait_for

LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


def link_event(org_id, email, token, scheduled):
    return {"org_id": org_id, "user_id": new_id(), "email": email, "full_name": "Ada Admin", "report": "usage",
            "report_name": "Usage report", "program_name": None if scheduled else "Data Skills",
            "download_url": f"http://127.0.0.1:8000/v1/reports/download/{token}", "expires_at": LATER,
            "scheduled": scheduled}


def test_report_links_are_emailed_once_and_not_kept(messaging, smtp, engine):
    smtp.start()
    clear_deliveries(engine)
    publish = messaging
    org_id = new_id()
    publish("identity", "identity.org.created.v1", {"org_id": org_id, "name": "Acme", "brand_color": None,
                                                    "logo_url": None, "timezone": "UTC"})
    asked = publish.envelope("reporting", "reporting.report.ready.v1",
                             link_event(org_id, "ada@acme.example", "secret-asked", scheduled=False))
    publish.send(asked)
    publish.send(asked)  # redelivered: still one email
    publish("reporting", "reporting.report.ready.v1", link_event(org_id, "bob@acme.example", "secret-sched", True))
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state = 'SENT'") == 2, timeout=30)
    smtp.wait_count(2)
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in smtp.messages()}
    assert set(by_recipient) == {"ada@acme.example", "bob@acme.example"}
    asked_mail, scheduled_mail = by_recipient["ada@acme.example"], by_recipient["bob@acme.example"]
    assert asked_mail["Subject"] == "Your Usage report for Acme is ready"
    assert scheduled_mail["Subject"] == "Scheduled Usage report for Acme"
    assert "/v1/reports/download/secret-asked" in asked_mail.get_body(("plain",)).get_content()
    assert "/v1/reports/download/secret-asked" in asked_mail.get_body(("html",)).get_content()
    assert "Data Skills" in asked_mail.get_body(("plain",)).get_content()
    assert "/v1/reports/download/secret-sched" in scheduled_mail.get_body(("plain",)).get_content()
    assert dict(rows(engine, "SELECT template, count(*) FROM deliveries GROUP BY template")) == {
        "report_ready": 1, "scheduled_report": 1}
    # Once sent, the delivery keeps who and which report, never the link.
    assert scalar(engine, "SELECT count(*) FROM deliveries WHERE context::text LIKE '%secret-%' "
                          "OR context ? 'download_url'") == 0
    assert scalar(engine, "SELECT context->>'report_name' FROM deliveries WHERE template = 'report_ready'") == \
        "Usage report"
