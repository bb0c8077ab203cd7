"""messaging's rules on plain objects: no database, broker or SMTP server."""
from collections import namedtuple
from datetime import UTC, datetime

import pytest

from contracts.errors import AppError, ErrorCode
from services.messaging import emails, render, text
from services.messaging import unsubscribe as tokens
from services.messaging.models import Message, OrgQuota, Preference
from services.messaging.sender import interleave

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def draft(**values) -> Message:
    return Message(**{"org_id": "org-1", "state": "DRAFT", "created_by": "author", "author_email": "a@x.example",
                      "author_name": "Ann Author", "sender_name": None, "reply_to": True, "subject": "S",
                      **values})


def test_org_admins_see_every_message_of_their_org_program_admins_their_own():
    message = draft()
    assert message.visible_to("org-1", {"user_id": "someone", "program_scope": None})
    assert not message.visible_to("org-2", {"user_id": "author", "program_scope": None})
    assert message.visible_to("org-1", {"user_id": "author", "program_scope": ["p1"]})
    assert not message.visible_to("org-1", {"user_id": "someone", "program_scope": ["p1"]})
    assert not draft(state="DISCARDED").visible_to("org-1", {"user_id": "author", "program_scope": None})


def test_only_a_draft_changes_is_discarded_or_starts_sending():
    message = draft()
    message.change({"subject": "New", "sender_name": "Team", "state": "SENT"}, AT)
    assert (message.subject, message.sender_name, message.state, message.updated_at) == ("New", "Team", "DRAFT", AT)
    message.start_sending(AT)
    assert (message.state, message.sent_at) == ("SENDING", AT)
    for act in (lambda: message.change({"subject": "x"}, AT), lambda: message.discard(AT),
                lambda: message.start_sending(AT)):
        with pytest.raises(AppError) as refused:
            act()
        assert refused.value.code == ErrorCode.MESSAGE_NOT_EDITABLE
    other = draft()
    other.discard(AT)
    assert other.state == "DISCARDED"


def test_sender_name_and_reply_address():
    assert draft().from_name() == "Ann Author"
    assert draft(sender_name="Team").from_name() == "Team"
    assert draft().reply_address("no-reply@x.example") == "a@x.example"
    assert draft(reply_to=False).reply_address("no-reply@x.example") == "no-reply@x.example"


def test_counts_from_delivery_states():
    assert Message.counts({"QUEUED": 2, "CLAIMED": 1, "SENDING": 1, "SENT": 5, "SUPPRESSED": 3, "FAILED": 1}) == {
        "recipients": 13, "queued": 4, "sent": 5, "suppressed": 3, "failed": 1}
    assert Message.counts({})["recipients"] == 0


def test_no_preference_row_means_every_email():
    assert Preference.view(None) == {"program_messages": True, "course_announcements": True}
    assert Preference.view(Preference(program_messages=False, course_announcements=True))["program_messages"] is False


def test_system_email_choices():
    person = {"user_id": "u", "email": "l@x.example", "full_name": "L"}
    first = emails.password_reset({**person, "reason": "FIRST_PASSWORD", "reset_url": "https://r", "org_id": None,
                                   "expires_at": AT}, "org-from-envelope")
    assert (first.template, first.org_id, first.context["expires_at"]) == ("first_password", "org-from-envelope",
                                                                           "2026-12-01 12:00 UTC")
    assert emails.password_reset_template("RESET") == "password_reset"
    assert emails.enrollment_template("SPECIALIZATION") == "specialization_welcome"
    assert emails.enrollment_template("COURSE") == "course_welcome"
    common = {"org_id": "o", "program_name": "P", "custom_message": "hi"}
    invitation = emails.invitation(common, {**person, "accept_url": "https://a", "expires_at": "later"})
    assert invitation.context == {"program_name": "P", "accept_url": "https://a", "custom_message": "hi",
                                  "expires_at": "later"}


def test_unsubscribe_token_round_trip_and_forgeries():
    token = tokens.make_token(b"secret", " Lea@Example.com ", "PROGRAM")
    assert tokens.read_token(b"secret", token) == ("lea@example.com", "PROGRAM")
    for forged in (token[:-2] + "xx", "nonsense", "", token.replace(".", "")):
        with pytest.raises(AppError) as refused:
            tokens.read_token(b"secret", forged)
        assert refused.value.code == ErrorCode.TOKEN_INVALID
    with pytest.raises(AppError):
        tokens.read_token(b"other secret", token)
    with pytest.raises(AppError):  # a signed category that has no opt-out
        tokens.read_token(b"secret", tokens.make_token(b"secret", "a@x.example", "ACCOUNT"))


@pytest.mark.parametrize("name, shown", [
    ("Line\r\nBreak", "Line Break"), ("X\r\nBcc: evil@attacker.example", "X Bcc: evil@attacker.example"),
    ("A\x00B", "A B"), ("  spaced \t out  ", "spaced out"), ("\u202eevil\u2028name\x85", "evil name"),
    ("Zoë 日本", "Zoë 日本"), (None, ""), ("Ü" * 500, "Ü" * 100)])
def test_single_line_names(name, shown):
    assert text.single_line(name) == shown


def test_control_characters_are_refused_in_what_an_admin_writes():
    Message.check_text({"subject": "Fine", "sender_name": "Zoë", "content": "two\nlines\twith a tab",
                        "cta": {"label": "Go"}})
    for fields in ({"subject": "a\nb"}, {"sender_name": "a\rb"}, {"content": "nul\x00"}, {"cta": {"label": "\x1b"}}):
        with pytest.raises(AppError) as refused:
            Message.check_text(fields)
        assert refused.value.code == ErrorCode.INVALID_INPUT and set(refused.value.details) == set(fields)


def test_header_values_are_one_ascii_line_or_refused():
    assert render.header_value("To", render.address("X\r\nBcc: e@x.example", "to@x.example")) \
        == '"X Bcc: e@x.example" <to@x.example>'
    assert render.header_value("From", render.address("Zoë", "f@x.example")) == "=?utf-8?q?Zo=C3=AB?= <f@x.example>"
    for bad in ("a@b.example\r\nRCPT TO:<x@y.example>", "jöhn@x.example"):
        with pytest.raises(ValueError):
            render.header_value("To", render.address("n", bad))


def test_quota_limits_and_refusals():
    defaults = {"messages_per_day": 20, "recipients_per_day": 100, "reminders_per_program_per_day": 1}
    assert OrgQuota.limits(None, defaults) == defaults
    own = OrgQuota(org_id="o", messages_per_day=2, recipients_per_day=None, reminders_per_program_per_day=0)
    assert OrgQuota.limits(own, defaults) == {"messages_per_day": 2, "recipients_per_day": 100,
                                              "reminders_per_program_per_day": 0}
    assert OrgQuota.refusal("recipients_per_day", 100, 60, 40, AT) is None
    refusal = OrgQuota.refusal("recipients_per_day", 100, 60, 41, AT)
    assert refusal.code == ErrorCode.TOO_MANY_REQUESTS
    assert refusal.details == {"quota": "recipients_per_day", "limit": 100, "used": 60, "requested": 41,
                               "retry_after_seconds": 12 * 3600}  # AT is noon UTC: renewed at midnight


def test_a_batch_sends_one_email_of_each_organization_in_turn():
    Row = namedtuple("Row", "id org_id")
    batch = [Row(1, "a"), Row(2, "a"), Row(3, "a"), Row(4, "b"), Row(5, "c"), Row(6, "b")]
    assert [r.id for r in interleave(batch)] == [1, 4, 5, 2, 6, 3]


@pytest.mark.parametrize("name, addr", [("Member 12", "m12@x.example"), ("O'Brien-Smith", "o.b+tag@x.example"),
                                        ("", "a@x.example"), ("Acme Corp", "learning@platform.example")])
def test_plain_addresses_are_written_as_the_header_classes_write_them(name, addr):
    assert render.address_header("To", name, addr) == render.header_value("To", render.address(name, addr))
