"""Issue 11 item 4: the verify, reset and accept links are login secrets.
Messaging needs them to render the email, and keeps none once the delivery is
final (sent or failed); a migration erases the ones already stored."""
import uuid
from datetime import UTC, datetime, timedelta

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from servicekit import config
from servicekit.migrations import drop_database, migrate
from services.messaging.tests.conftest import rows, scalar, wait_for
from services.messaging.tests.test_delivery import Picky

LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()
LINK_KEYS = "ARRAY['verify_url', 'reset_url', 'accept_url']"


def new_id() -> str:
    return str(uuid.uuid4())


def test_final_deliveries_keep_no_login_link(messaging, smtp, engine):
    publish = messaging
    org_id, program_id = new_id(), new_id()
    controller = Controller(Picky(smtp.folder), hostname="127.0.0.1", port=smtp.port)
    controller.start()
    try:
        for email in ("fine@example.com", "nobody@example.com"):  # nobody: 550, FAILED
            publish("identity", "identity.user.verification_requested.v1", {
                "user_id": new_id(), "email": email, "full_name": "V",
                "verify_url": f"https://learn.example/verify?token=secret-v-{email}", "expires_at": LATER})
        publish("identity", "identity.user.password_reset_requested.v1", {
            "user_id": new_id(), "email": "fine@example.com", "full_name": "R", "reason": "RESET", "org_id": None,
            "reset_url": "https://learn.example/reset?token=secret-r", "expires_at": LATER})
        publish("invitations", "invitations.invitation.created.v1", {
            "invitation_id": new_id(), "org_id": org_id, "program_id": program_id, "program_name": "P",
            "contract_id": new_id(), "user_id": new_id(), "email": "fine@example.com", "full_name": "I",
            "external_id": None, "send_email": True, "accept_url": "https://learn.example/accept?token=secret-i",
            "custom_message": None, "expires_at": LATER, "invited_by": None})
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state IN ('SENT', 'FAILED')") == 4,
                 timeout=30)
    finally:
        controller.stop()
    bodies = " ".join(m.get_body(("plain",)).get_content() for m in smtp.messages())
    for secret in ("secret-v-fine@example.com", "secret-r", "secret-i"):
        assert secret in bodies  # the email carried its link
    assert dict(rows(engine, "SELECT state, count(*) FROM deliveries GROUP BY state")) == {"SENT": 3, "FAILED": 1}
    assert scalar(engine, "SELECT count(*) FROM deliveries WHERE context::text LIKE '%secret-%' "
                          f"OR context ?| {LINK_KEYS}") == 0
    # What the row still needs to be understood stays (who, which program).
    assert scalar(engine, "SELECT context->>'program_name' FROM deliveries WHERE template = 'invitation'") == "P"


def test_migration_erases_links_of_final_deliveries(monkeypatch):
    monkeypatch.setenv("DATABASE_PREFIX", f"t{uuid.uuid4().hex[:8]}_")
    migrate("messaging", "0003")
    engine = create_engine(config.database_url("messaging"))
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO deliveries (source_key, template, category, recipient, context, state) VALUES "
                "('a', 'password_reset', 'ACCOUNT', 'a@x.example', "
                "'{\"reset_url\": \"https://l/reset?token=old\", \"full_name\": \"A\"}', 'SENT'), "
                "('b', 'invitation', 'INVITATION', 'b@x.example', "
                "'{\"accept_url\": \"https://l/accept?token=old\", \"program_name\": \"P\"}', 'FAILED'), "
                "('c', 'verify_email', 'ACCOUNT', 'c@x.example', "
                "'{\"verify_url\": \"https://l/verify?token=due\"}', 'QUEUED')"))
        migrate("messaging")
        with engine.connect() as conn:
            contexts = dict(conn.execute(text("SELECT source_key, context FROM deliveries")).all())
        assert contexts == {"a": {"full_name": "A"}, "b": {"program_name": "P"},
                            "c": {"verify_url": "https://l/verify?token=due"}}  # still to be sent
    finally:
        engine.dispose()
        drop_database("messaging")
