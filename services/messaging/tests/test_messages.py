"""Admin messages through messaging's RPC: audience presets and filters,
scoping, suppression of the opted-out, counts, safe Markdown, unsubscribe."""
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors import AppError
from services.messaging.commands.deliveries import purge_old_deliveries
from services.messaging.tests.conftest import new_id, rows, scalar, wait_for
from tests.support.answers import answers


def count(w, audience, scope=None):
    return w["rpc"].count_audience(w["org"], audience, scope)["count"]


def test_presets_and_filters_count_the_right_people(world):
    w, people = world, world["people"]
    assert count(w, {"preset": "ALL_MEMBERS"}) == 4
    assert count(w, {"preset": "ALL_MEMBERS", "filters": {"program_ids": [w["p1"]]}}) == 3
    assert count(w, {"preset": "ALL_MEMBERS", "filters": {"contract_ids": [w["k1"]]}}) == 3
    assert count(w, {"preset": "ALL_MEMBERS", "filters": {"course_ids": ["c1"]}}) == 1
    assert count(w, {"preset": "INVITED_NOT_JOINED"}) == 1
    assert count(w, {"preset": "JOINED_NOT_ENROLLED"}) == 3
    assert count(w, {"preset": "CUSTOM", "user_ids": [people["zed"]["user_id"], people["ann"]["user_id"]]}) == 2
    # Program admins reach only their programs.
    assert count(w, {"preset": "ALL_MEMBERS"}, scope=[w["p2"]]) == 1
    with pytest.raises(AppError) as refused:
        count(w, {"preset": "ALL_MEMBERS", "filters": {"program_ids": [w["p1"]]}}, scope=[w["p2"]])
    assert refused.value.code == "NOT_FOUND"
    with pytest.raises(AppError) as refused:
        count(w, {"preset": "CUSTOM", "user_ids": [people["ann"]["user_id"]]}, scope=[w["p2"]])
    assert refused.value.code == "INVALID_INPUT"
    with pytest.raises(AppError) as refused:  # the activity presets say what they need (reporting answers them)
        count(w, {"preset": "COMPLETED_COURSE"})
    assert refused.value.code == "INVALID_INPUT" and "course_ids" in refused.value.details
    presets = {p["name"]: p["available"] for p in w["rpc"].presets()}
    assert presets["ALL_MEMBERS"] and presets["COMPLETED_COURSE"] and presets["INACTIVE_FOR_DAYS"]


def test_message_to_mixed_audience_suppresses_the_opted_out(world, smtp, engine):
    smtp.start()
    w, rpc = world, world["rpc"]
    draft = rpc.create_message(w["org"], w["author"], {
        "audience": {"preset": "ALL_MEMBERS", "filters": {"program_ids": [w["p1"]]}},
        "subject": "Quarterly <goals>", "content": "# Hello\n\n<script>alert(1)</script> [x](javascript:alert(1))",
        "content_format": "MARKDOWN", "cta": {"label": "Open", "url": "https://learn.example/go"}, "reply_to": True})
    assert draft["state"] == "DRAFT" and draft["counts"] is None
    preview = rpc.preview_message(w["org"], draft["id"], {"user_id": w["author"]["user_id"]})
    assert "<h1>Hello</h1>" in preview["html"] and "<script>" not in preview["html"]
    assert "javascript:" not in preview["html"].replace("[x](javascript:alert(1))", "")
    assert "https://learn.example/go" in preview["html"] and preview["subject"] == "Quarterly <goals>"
    assert preview["headers"]["Reply-To"] == "boss@initech.example"
    with pytest.raises(AppError) as refused:
        rpc.send_message(w["org"], draft["id"], {"user_id": w["author"]["user_id"]}, False)
    assert refused.value.code == "TERMS_NOT_ACCEPTED"
    sent = rpc.send_message(w["org"], draft["id"], {"user_id": w["author"]["user_id"]}, True)
    assert sent["state"] in ("SENDING", "SENT") and sent["counts"]["recipients"] == 3
    messages = smtp.wait_count(2)
    assert sorted(m["X-Envelope-To"] for m in messages) == ["ann@example.com", "cid@example.com"]
    first = messages[0]
    assert first["From"].addresses[0].display_name == "Bill Boss"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    wait_for(lambda: rpc.get_message(w["org"], draft["id"], {"user_id": None})["state"] == "SENT")
    final = rpc.get_message(w["org"], draft["id"], {"user_id": None})
    assert final["counts"] == {"recipients": 3, "queued": 0, "sent": 2, "suppressed": 1, "failed": 0}
    announced = rows(engine, "SELECT envelope->'payload' AS p FROM kit_outbox "
                             "WHERE event_type = 'messaging.message.sent.v1'")
    assert [r.p["suppressed"] for r in announced] == [1]
    # A sent message is no longer editable.
    with pytest.raises(AppError) as refused:
        rpc.update_message(w["org"], draft["id"], {"user_id": None}, {"subject": "again"})
    assert refused.value.code == "MESSAGE_NOT_EDITABLE"

    # One click on the link unsubscribes cid from program messages, without signing in.
    token = messages[1]["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    assert rpc.describe_unsubscribe(token)["unsubscribed"] is False
    assert rpc.unsubscribe(token) == {"email": messages[1]["X-Envelope-To"], "category": "PROGRAM",
                                      "unsubscribed": True}
    assert rpc.get_preferences(messages[1]["X-Envelope-To"])["program_messages"] is False
    with pytest.raises(AppError) as refused:
        rpc.unsubscribe(token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    assert refused.value.code == "TOKEN_INVALID"

    # Deliveries past the retention period are purged (recent ones and queued ones stay);
    # the message keeps the counts it completed with.
    with engine.begin() as conn:
        conn.execute(text("UPDATE deliveries SET created_at = now() - interval '200 days' WHERE message_id = :m"),
                     {"m": draft["id"]})
        conn.execute(text(
            "INSERT INTO deliveries (source_key, template, category, recipient, state, created_at) VALUES "
            "('old-system', 'verify_email', 'ACCOUNT', 'old@example.com', 'SENT', now() - interval '200 days'), "
            "('old-queued', 'verify_email', 'ACCOUNT', 'q@example.com', 'QUEUED', now() - interval '200 days'), "
            "('recent', 'verify_email', 'ACCOUNT', 'new@example.com', 'SENT', now())"))
    with Session(engine) as session:
        assert purge_old_deliveries(session, days=180) == 4  # the message's three and the old system email
        session.commit()
    assert scalar(engine, "SELECT count(*) FROM deliveries WHERE message_id = :m", m=draft["id"]) == 0
    assert sorted(r.source_key for r in rows(engine, "SELECT source_key FROM deliveries "
                                                     "WHERE source_key IN ('old-system', 'old-queued', 'recent')")) \
        == ["old-queued", "recent"]
    assert rpc.get_message(w["org"], draft["id"], {"user_id": None})["counts"] == final["counts"]


def test_drafts_are_scoped_to_org_and_author(world):
    w, rpc = world, world["rpc"]
    program_admin = {"user_id": new_id(), "email": "pa@initech.example", "full_name": "Pat"}
    mine = rpc.create_message(w["org"], program_admin, {"audience": {"preset": "ALL_MEMBERS"}, "subject": "S",
                                                        "content": "plain"}, [w["p2"]])
    pa_view = {"user_id": program_admin["user_id"], "program_scope": [w["p2"]]}
    other_pa = {"user_id": new_id(), "program_scope": [w["p2"]]}
    assert [m["id"] for m in rpc.list_messages(w["org"], pa_view)["items"]] == [mine["id"]]
    assert rpc.list_messages(w["org"], other_pa) == {"items": [], "next_cursor": None}
    for viewer, org in ((other_pa, w["org"]), ({"user_id": None}, new_id())):
        with pytest.raises(AppError) as refused:
            rpc.get_message(org, mine["id"], viewer)
        assert refused.value.code == "NOT_FOUND"
    changed = rpc.update_message(w["org"], mine["id"], pa_view, {"sender_name": "Team", "reply_to": False})
    assert changed["sender_name"] == "Team"
    preview = rpc.preview_message(w["org"], mine["id"], pa_view)
    assert preview["headers"]["Reply-To"].startswith("no-reply@") and "Team" in preview["headers"]["From"]
    rpc.discard_message(w["org"], mine["id"], pa_view)
    with pytest.raises(AppError):
        rpc.get_message(w["org"], mine["id"], pa_view)


def test_remind_enroll_messages_members_without_enrollment(world, smtp, engine):
    smtp.start()
    w = world
    result = w["rpc"].remind_enroll(w["org"], w["p1"], "req-1")
    assert result == {"recipients": 2, "queued": 1, "suppressed": 1}  # cid queued, bob opted out; ann enrolled
    assert w["rpc"].remind_enroll(w["org"], w["p1"], "req-1") == {"recipients": 0, "queued": 0, "suppressed": 0}
    messages = smtp.wait_count(1)
    assert [m["X-Envelope-To"] for m in messages] == ["cid@example.com"]
    assert messages[0]["Subject"] == "Enroll in your first course of Analytics"
    with pytest.raises(AppError) as refused:
        w["rpc"].remind_enroll(new_id(), w["p1"], "req-2")
    assert refused.value.code == "NOT_FOUND"


def test_two_concurrent_sends_queue_the_message_once(world, engine):
    w, rpc = world, world["rpc"]
    viewer = {"user_id": w["author"]["user_id"]}
    draft = rpc.create_message(w["org"], w["author"], {"audience": {"preset": "ALL_MEMBERS"}, "subject": "Once",
                                                       "content": "x"})
    calls = [rpc.send_message.call_async(w["org"], draft["id"], viewer, True) for _ in range(3)]
    outcomes = answers(calls, ok=lambda message: message["state"])
    assert outcomes.count("MESSAGE_NOT_EDITABLE") == 2
    assert len([o for o in outcomes if o in ("SENDING", "SENT")]) == 1
    assert scalar(engine, "SELECT count(*) FROM deliveries WHERE message_id = :m", m=draft["id"]) == 4


def test_draft_actions_check_the_callers_current_scope_not_the_stored_one(world, engine):
    """Issue 11 item 3: a program admin of p1 and p2 drafts a message, then loses p1.
    Updating, previewing and sending use the scope the caller has now."""
    w, rpc, dan = world, world["rpc"], world["people"]["dan"]
    admin = {"user_id": new_id(), "email": "pa@initech.example", "full_name": "Pat"}
    draft = rpc.create_message(w["org"], admin, {"audience": {"preset": "JOINED_NOT_ENROLLED"}, "subject": "S",
                                                 "content": "x"}, [w["p1"], w["p2"]])
    demoted = {"user_id": admin["user_id"], "program_scope": [w["p2"]]}
    with pytest.raises(AppError) as refused:
        rpc.update_message(w["org"], draft["id"], demoted,
                           {"audience": {"preset": "ALL_MEMBERS", "filters": {"program_ids": [w["p1"]]}}})
    assert refused.value.code == "NOT_FOUND"
    rpc.update_message(w["org"], draft["id"], demoted, {"audience": {"preset": "ALL_MEMBERS"}})
    # The first recipient in the p1+p2 scope would be ann (p1); in the current scope it is dan (p2).
    assert rpc.preview_message(w["org"], draft["id"], demoted)["headers"]["To"] == f"Dan <{dan['email']}>"
    sent = rpc.send_message(w["org"], draft["id"], demoted, True)
    assert sent["counts"]["recipients"] == 1
    assert [r.recipient for r in rows(engine, "SELECT recipient FROM deliveries WHERE message_id = :m",
                                      m=draft["id"])] == [dan["email"]]
