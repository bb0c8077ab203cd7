"""Header injection: whatever names an email is built from (CR/LF, an
embedded "Bcc:", NUL, other control characters, very long or non-ASCII names),
the email that reaches a real SMTP server has exactly the intended headers and
recipients; and the RPC refuses control characters in what an admin writes."""
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from contracts.errors import AppError
from services.messaging.tests.conftest import rows, scalar, wait_for

LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()
INJECTED = "X\r\nBcc: evil@attacker.example"
HOSTILE_NAMES = {
    "crlf@example.com": ("Line\r\nBreak", "Line Break"),
    "bcc@example.com": (INJECTED, "X Bcc: evil@attacker.example"),
    "nul@example.com": ("A\x00B\x07C\x1b[31m", "A B C [31m"),
    "bare-cr@example.com": ("Cr\rOnly\nLf\u2028Sep\x85Nel", "Cr Only Lf Sep Nel"),
    "long@example.com": ("Ü" * 5000, None),
    "unicode@example.com": ("Zoë Ünïcode-Łukasz 日本", "Zoë Ünïcode-Łukasz 日本"),
    "quotes@example.com": ('"Boss" <ceo@corp.example>, other@x.example', '"Boss" <ceo@corp.example>, other@x.example'),
}
EXPECTED_HEADERS = {"content-type", "mime-version", "from", "to", "subject", "date", "message-id", "reply-to",
                    "x-envelope-to"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def new_id() -> str:
    return str(uuid.uuid4())


def raw_headers(path) -> list[bytes]:
    head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def check_raw(smtp):
    """Every header line of every received email: ASCII, no stray control
    character, within SMTP's line limit, and a header name or a continuation."""
    for path in sorted(smtp.folder.glob("*.eml")):
        for line in raw_headers(path):
            assert line.isascii() and len(line) <= 998, line[:120]
            assert not CONTROL.search(line.decode()), line
            assert line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z-]+: ", line), line


def test_hostile_names_never_break_a_header_nor_add_a_recipient(messaging, smtp, engine):
    smtp.start()
    publish = messaging
    org_id = new_id()
    publish("identity", "identity.org.created.v1", {"org_id": org_id, "name": "Acme\r\nBcc: org@attacker.example",
                                                    "brand_color": None, "logo_url": None, "timezone": "UTC"})
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM orgs WHERE id = :id", id=org_id))
    for email, (name, _) in HOSTILE_NAMES.items():
        publish("identity", "identity.user.password_reset_requested.v1", {
            "user_id": new_id(), "email": email, "full_name": name, "name_trusted": True,  # an admin's name
            "reason": "FIRST_PASSWORD", "org_id": org_id, "reset_url": "https://learn.example/reset?token=t",
            "expires_at": LATER})
    messages = smtp.wait_count(len(HOSTILE_NAMES), timeout=30)
    assert len(messages) == len(HOSTILE_NAMES)
    states = dict(rows(engine, "SELECT recipient, state FROM deliveries"))
    assert states == {email: "SENT" for email in HOSTILE_NAMES}
    for message in messages:
        recipient = message["X-Envelope-To"]
        assert recipient in HOSTILE_NAMES  # exactly one recipient: the intended one
        assert {k.lower() for k in message.keys()} == EXPECTED_HEADERS, message.keys()
        assert [a.addr_spec for a in message["To"].addresses] == [recipient]
        assert [a.addr_spec for a in message["From"].addresses] == ["learning@platform.example"]
        assert message["From"].addresses[0].display_name == "Acme Bcc: org@attacker.example"
        assert message["Subject"] == "You are an administrator of Acme Bcc: org@attacker.example"
        shown = message["To"].addresses[0].display_name
        expected = HOSTILE_NAMES[recipient][1]
        if expected is None:  # very long: shortened, never folded into a broken line
            assert 0 < len(shown) <= 100 and set(shown) == {"Ü"}
        else:
            assert shown == expected
    check_raw(smtp)


def test_admin_message_headers_and_rpc_refusals(messaging, smtp, engine):
    smtp.start()
    publish = messaging
    org_id, user_id = new_id(), new_id()
    publish("identity", "identity.org.created.v1", {"org_id": org_id, "name": "Initech", "brand_color": None,
                                                    "logo_url": None, "timezone": "UTC"})
    publish("identity", "identity.profile.updated.v1", {"org_id": org_id, "user_id": user_id,
                                                        "email": "learner@example.com", "full_name": INJECTED})
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM people WHERE org_id = :o", o=org_id))
    author = {"user_id": new_id(), "email": "boss@initech.example", "full_name": "Boss\r\nBcc: a@attacker.example"}
    audience = {"preset": "CUSTOM", "user_ids": [user_id]}
    with ServiceRpcProxy("messaging", {"AMQP_URI": publish.amqp_uri}) as rpc:
        # What an admin writes on one line is refused with a stable code, whoever calls.
        for field, value in (("sender_name", "Team\r\nBcc: x@attacker.example"), ("sender_name", "A\x00B"),
                             ("subject", "Hello\nBcc: x@attacker.example"), ("subject", "tab\there"),
                             ("content", "nul \x00 in the body"), ("cta", {"label": "Go\r\nX: y",
                                                                           "url": "https://learn.example"})):
            with pytest.raises(AppError) as refused:
                rpc.create_message(org_id, author, {"audience": audience, "subject": "S", "content": "Body",
                                                    field: value})
            assert refused.value.code == "INVALID_INPUT" and field in refused.value.details, (field, value)
        draft = rpc.create_message(org_id, author, {"audience": audience, "subject": "Hello",
                                                    "content": "Line 1\nLine 2"})
        viewer = {"user_id": author["user_id"]}
        with pytest.raises(AppError) as refused:
            rpc.update_message(org_id, draft["id"], viewer, {"sender_name": INJECTED})
        assert refused.value.code == "INVALID_INPUT" and "sender_name" in refused.value.details
        preview = rpc.preview_message(org_id, draft["id"], viewer)
        assert preview["headers"]["From"] == '"Boss Bcc: a@attacker.example" <learning@platform.example>'
        assert preview["headers"]["To"] == '"X Bcc: evil@attacker.example" <learner@example.com>'
        rpc.send_message(org_id, draft["id"], viewer, True)
    (message,) = smtp.wait_count(1)
    assert message["X-Envelope-To"] == "learner@example.com"
    assert {k.lower() for k in message.keys()} == EXPECTED_HEADERS | {"list-unsubscribe", "list-unsubscribe-post"}
    assert message["From"].addresses[0].display_name == "Boss Bcc: a@attacker.example"
    assert message["To"].addresses[0].display_name == "X Bcc: evil@attacker.example"
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["boss@initech.example"]
    check_raw(smtp)
