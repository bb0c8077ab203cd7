"""Delivery against a real SMTP server: outages, temporary and permanent
refusals, and a sender that crashed mid-send."""
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import text

from scripts.mailsink import EmlStore
from services.messaging.tests.conftest import rows, scalar, wait_for

LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def verification(publish, email):
    publish("identity", "identity.user.verification_requested.v1", {
        "user_id": str(uuid.uuid4()), "email": email, "full_name": email.split("@")[0],
        "verify_url": f"https://learn.example/verify?for={email}", "expires_at": LATER})


def test_smtp_down_then_up_delivers_everything_once(messaging, smtp, engine):
    emails = [f"down{i}@example.com" for i in range(6)]
    for email in emails:
        verification(messaging, email)
    # The server is down: every delivery is tried, kept QUEUED with the reason, and retried later.
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state = 'QUEUED' AND attempts >= 1 "
                                    "AND last_error LIKE 'SMTP unavailable%'") == 6)
    smtp.start()
    messages = smtp.wait_count(6, timeout=30)
    assert sorted(m["X-Envelope-To"] for m in messages) == sorted(emails)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state = 'SENT'") == 6)
    assert len(smtp.messages()) == 6


class Picky(EmlStore):
    """Refuses some recipients: 550 for ever, 451 the first time."""

    def __init__(self, folder):
        super().__init__(folder)
        self.deferred = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy") and address not in self.deferred:
            self.deferred.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_temporary_refusal_is_retried_and_permanent_one_fails_with_reason(messaging, smtp, engine):
    controller = Controller(Picky(smtp.folder), hostname="127.0.0.1", port=smtp.port)
    controller.start()
    try:
        for email in ("nobody@example.com", "busy@example.com", "fine@example.com"):
            verification(messaging, email)
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state IN ('SENT', 'FAILED')") == 3)
    finally:
        controller.stop()
    states = {r.recipient: (r.state, r.attempts, r.last_error) for r in
              rows(engine, "SELECT recipient, state, attempts, last_error FROM deliveries")}
    assert states["fine@example.com"] == ("SENT", 1, None)
    assert states["busy@example.com"][:2] == ("SENT", 2)
    assert states["nobody@example.com"][0] == "FAILED"
    assert "550" in states["nobody@example.com"][2] and "no such mailbox" in states["nobody@example.com"][2]
    assert sorted(m["X-Envelope-To"] for m in smtp.messages()) == ["busy@example.com", "fine@example.com"]
    failed = rows(engine, "SELECT envelope->'payload' AS p FROM kit_outbox "
                          "WHERE event_type = 'messaging.delivery.failed.v1'")
    assert [r.p["email"] for r in failed] == ["nobody@example.com"]


def test_crashed_sender_neither_resends_nor_skips(messaging, smtp, engine):
    """A sender died holding a batch: the claimed-but-untried email is sent, the
    one that was mid-conversation is not sent again (at-most-once window)."""
    smtp.start()
    with engine.begin() as conn:
        for email, state in (("claimed@example.com", "CLAIMED"), ("inflight@example.com", "SENDING")):
            conn.execute(
                text(
                    "INSERT INTO deliveries (source_key, template, category, recipient, full_name, context, state, "
                    "claim_token, lease_until) VALUES (:key, 'verify_email', 'ACCOUNT', :email, 'X', "
                    "CAST(:ctx AS jsonb), :state, 'dead-sender', now() - interval '1 second')"),
                {"key": str(uuid.uuid4()), "email": email, "state": state,
                 "ctx": '{"verify_url": "https://learn.example/v", "full_name": "X"}'})
    messages = smtp.wait_count(1)
    assert [m["X-Envelope-To"] for m in messages] == ["claimed@example.com"]
    states = dict(rows(engine, "SELECT recipient, state FROM deliveries"))
    assert states == {"claimed@example.com": "SENT", "inflight@example.com": "FAILED"}
    assert "outcome unknown" in scalar(engine, "SELECT last_error FROM deliveries WHERE state = 'FAILED'")


def test_rate_limit_paces_sending(container_factory, rabbit_config, engine, smtp, monkeypatch):
    from services.messaging.tests.test_replicas import queue_verifications, start

    monkeypatch.setenv("SMTP_RATE_PER_SECOND", "20")
    monkeypatch.setenv("SMTP_BATCH_SIZE", "5")
    smtp.start()
    queue_verifications(engine, 40, "paced")
    start(container_factory, rabbit_config)
    wait_for(lambda: smtp.messages(), timeout=30)
    began = time.monotonic()
    wait_for(lambda: len(smtp.messages()) == 40, timeout=30)
    # 40 emails at 20/s take about 1.5 s after the first batches (unpaced: a fraction of that).
    assert time.monotonic() - began >= 1.0
    assert len(smtp.messages()) == 40


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_with_the_configured_credentials(messaging, smtp, engine, monkeypatch):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    controller = Controller(EmlStore(smtp.folder), hostname="127.0.0.1", port=smtp.port, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        monkeypatch.setenv("SMTP_USER", "mailer")
        monkeypatch.setenv("SMTP_PASSWORD", "wrong")
        monkeypatch.setenv("SMTP_TIMEOUT", "2")  # after a refused login this server goes silent
        verification(messaging, "auth@example.com")
        # Refused login: a temporary failure (a credentials fix is picked up without a restart).
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE state = 'QUEUED' AND attempts >= 1 "
                                        "AND last_error LIKE 'SMTP unavailable%'") == 1)
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
        wait_for(lambda: scalar(engine, "SELECT state FROM deliveries") == "SENT", timeout=30)
    finally:
        controller.stop()
    assert [m["X-Envelope-To"] for m in smtp.messages()] == ["auth@example.com"]
