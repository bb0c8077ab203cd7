"""Issue 11 item 7: per-organization quotas (documented defaults, configurable
per organization), account emails ahead of bulk mail, fair claiming across
organizations."""
from datetime import UTC, datetime, timedelta

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text

from contracts.errors import AppError
from services.messaging.tests.conftest import new_id, rows, scalar, wait_for

LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def refused(call) -> AppError:
    with pytest.raises(AppError) as error:
        call()
    return error.value


def test_quotas_have_defaults_and_per_organization_values(world, engine):
    w, rpc, author = world, world["rpc"], world["author"]
    viewer = {"user_id": author["user_id"]}
    quotas = rpc.get_quotas(w["org"])
    assert quotas["limits"] == {"messages_per_day": 20, "recipients_per_day": 100_000,
                                "reminders_per_program_per_day": 1}
    assert quotas["used_today"] == {"messages": 0, "recipients": 0, "reminders_by_program": {}}
    assert rpc.set_quotas(w["org"], {"messages_per_day": 2, "recipients_per_day": 5}) == {
        "messages_per_day": 2, "recipients_per_day": 5, "reminders_per_program_per_day": 1}
    assert refused(lambda: rpc.set_quotas(w["org"], {"messages_per_day": 1.5})).code == "INVALID_INPUT"

    def draft(audience):
        return rpc.create_message(w["org"], author, {"audience": audience, "subject": "Q", "content": "x"})["id"]

    everyone = draft({"preset": "ALL_MEMBERS"})  # 4 recipients
    rpc.send_message(w["org"], everyone, viewer, True)
    # 4 of 5 recipients used: a message to 3 more does not fit and queues nothing.
    too_many = draft({"preset": "ALL_MEMBERS", "filters": {"program_ids": [w["p1"]]}})
    error = refused(lambda: rpc.send_message(w["org"], too_many, viewer, True))
    assert error.code == "TOO_MANY_REQUESTS"
    assert error.details["quota"] == "recipients_per_day" and error.details["limit"] == 5
    assert error.details["used"] == 4 and error.details["requested"] == 3
    assert 0 < error.details["retry_after_seconds"] <= 86_400
    assert scalar(engine, "SELECT count(*) FROM deliveries WHERE message_id = :m", m=too_many) == 0
    assert rpc.get_message(w["org"], too_many, viewer)["state"] == "DRAFT"
    rpc.send_message(w["org"], draft({"preset": "INVITED_NOT_JOINED"}), viewer, True)  # 1 more: 5 of 5, 2 of 2
    error = refused(lambda: rpc.send_message(w["org"], draft({"preset": "INVITED_NOT_JOINED"}), viewer, True))
    assert error.code == "TOO_MANY_REQUESTS" and error.details["quota"] == "messages_per_day"
    # Another organization has its own quotas.
    assert rpc.get_quotas(new_id())["used_today"]["messages"] == 0
    # Back to the defaults.
    rpc.set_quotas(w["org"], {"messages_per_day": None, "recipients_per_day": None})
    assert rpc.get_quotas(w["org"])["limits"]["messages_per_day"] == 20
    assert rpc.get_quotas(w["org"])["used_today"] == {"messages": 2, "recipients": 5, "reminders_by_program": {}}


def test_remind_enroll_once_per_program_per_day_whatever_the_request_id(world):
    w, rpc = world, world["rpc"]
    assert rpc.remind_enroll(w["org"], w["p1"], "req-a")["recipients"] == 2
    assert rpc.remind_enroll(w["org"], w["p1"], "req-a")["recipients"] == 0  # the same request: nothing, no count
    error = refused(lambda: rpc.remind_enroll(w["org"], w["p1"], "req-b"))
    assert error.code == "TOO_MANY_REQUESTS" and error.details["quota"] == "reminders_per_program_per_day"
    assert rpc.remind_enroll(w["org"], w["p2"], "req-c")["recipients"] == 1  # another program
    assert rpc.get_quotas(w["org"])["used_today"]["reminders_by_program"] == {w["p1"]: 1, w["p2"]: 1}


def big_org(engine, size: int) -> tuple[str, list[str]]:
    """An organization with `size` members (written into the projection directly: fast)."""
    org_id, program_id = new_id(), new_id()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO orgs (id, name) VALUES (:o, 'Big')"), {"o": org_id})
        conn.execute(text("INSERT INTO programs (id, org_id, name) VALUES (:p, :o, 'All hands')"),
                     {"p": program_id, "o": org_id})
        conn.execute(text("INSERT INTO people (org_id, user_id, email, full_name) SELECT :o, 'u' || g, "
                          "'big' || g || '@' || :o || '.example', 'Member ' || g FROM generate_series(1, :n) g"),
                     {"o": org_id, "n": size})
        conn.execute(text("INSERT INTO memberships (program_id, user_id, org_id) SELECT :p, 'u' || g, :o "
                          "FROM generate_series(1, :n) g"), {"p": program_id, "o": org_id, "n": size})
    return org_id, [f"u{i}" for i in range(1, size + 1)]


def unsent_when(engine, message_id: str, moment) -> int:
    """How many emails of a message were not yet sent at that moment."""
    return scalar(engine, "SELECT count(*) FROM deliveries WHERE message_id = :m AND (sent_at IS NULL OR sent_at > :t)",
                  m=message_id, t=moment)


def test_reset_email_and_small_org_are_not_stuck_behind_a_large_message(messaging, smtp, engine, monkeypatch):
    """A large message of one organization is draining (paced, so it lasts):
    a password reset and another organization's small message go out within
    seconds, while most of the large one still waits (first in, first out
    would send them only after it)."""
    smtp.start()
    size = 1_500  # at 150 emails/s: 10 s to drain
    monkeypatch.setenv("SMTP_RATE_PER_SECOND", "150")
    monkeypatch.setenv("SMTP_BATCH_SIZE", "50")
    big, _ = big_org(engine, size)
    small, _ = big_org(engine, 10)
    author = {"user_id": new_id(), "email": "boss@big.example", "full_name": "Boss"}
    with ServiceRpcProxy("messaging", {"AMQP_URI": messaging.amqp_uri}) as rpc:
        def send(org_id):
            draft = rpc.create_message(org_id, author, {"audience": {"preset": "ALL_MEMBERS"}, "subject": "News",
                                                        "content": "x"})
            rpc.send_message(org_id, draft["id"], {"user_id": author["user_id"]}, True)
            return draft["id"]

        large = send(big)
        wait_for(lambda: len(smtp.messages()) >= 100, timeout=30)  # draining
        messaging("identity", "identity.user.password_reset_requested.v1", {
            "user_id": new_id(), "email": "locked-out@elsewhere.example", "full_name": "Lou", "reason": "RESET",
            "org_id": None, "reset_url": "https://learn.example/reset?token=r", "expires_at": LATER})
        small_message = send(small)
        reset = wait_for(lambda: rows(engine, "SELECT created_at, sent_at FROM deliveries "
                                              "WHERE template = 'password_reset' AND state = 'SENT'"), timeout=30)[0]
        small_done = wait_for(lambda: scalar(engine, "SELECT max(sent_at) FROM deliveries WHERE message_id = :m "
                                                     "HAVING bool_and(state = 'SENT')", m=small_message), timeout=30)
        small_queued = scalar(engine, "SELECT min(created_at) FROM deliveries WHERE message_id = :m", m=small_message)
    reset_took = (reset.sent_at - reset.created_at).total_seconds()
    small_took = (small_done - small_queued).total_seconds()
    behind_reset, behind_small = unsent_when(engine, large, reset.sent_at), unsent_when(engine, large, small_done)
    print(f"reset email sent {reset_took:.2f} s after it was queued, with {behind_reset} emails of the large "
          f"message still unsent; the small message in {small_took:.2f} s, {behind_small} still unsent")
    assert behind_reset > size // 3 and behind_small > size // 3
    assert reset_took < 10 and small_took < 10  # within seconds, even on a loaded machine
