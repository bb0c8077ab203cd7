"""System emails from other services' events, delivered to a real SMTP server."""
import uuid
from datetime import UTC, datetime, timedelta

from services.messaging.tests.conftest import rows, scalar, wait_for

LATER = (datetime.now(UTC) + timedelta(days=7)).isoformat()
NOW = datetime.now(UTC).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


def org_events(publish, org_id, name="Acme <script>alert(1)</script>"):
    publish("identity", "identity.org.created.v1", {"org_id": org_id, "name": name, "brand_color": "#aa3300",
                                                    "logo_url": "https://cdn.example/logo.png", "timezone": "UTC"})


def body(message, kind):
    return message.get_body((kind,)).get_content()


def by_subject(messages):
    return {m["Subject"]: m for m in messages}


def test_each_system_email_arrives_once_with_content_and_headers(messaging, smtp, engine):
    smtp.start()
    publish = messaging
    org_id, program_id, user_id, contract_id = new_id(), new_id(), new_id(), new_id()
    org_events(publish, org_id)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM orgs WHERE id = :id", id=org_id))
    publish("programs", "programs.program.created.v1", {
        "program_id": program_id, "org_id": org_id, "name": "Data Skills", "slug": "data-skills", "tagline": None,
        "join_url": "https://learn.example/programs/data-skills", "contract_ids": [contract_id],
        "enrollment_limit": None})
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM programs WHERE id = :id", id=program_id))
    person = {"user_id": user_id, "email": "Lea@Example.com", "full_name": "Léa <b>Bold</b>"}
    # name_trusted: the account's name may be shown (tests/e2e/test_email_abuse.py: when it may not)
    publish("identity", "identity.user.verification_requested.v1", {
        **person, "name_trusted": True, "verify_url": "https://learn.example/verify?token=v1", "expires_at": LATER})
    publish("identity", "identity.user.password_reset_requested.v1", {
        **person, "name_trusted": True, "reset_url": "https://learn.example/reset?token=r1", "expires_at": LATER,
        "reason": "RESET", "org_id": None})
    publish("identity", "identity.user.password_reset_requested.v1", {
        **person, "name_trusted": True, "reset_url": "https://learn.example/reset?token=f1", "expires_at": LATER,
        "reason": "FIRST_PASSWORD", "org_id": org_id})
    invitation = {"invitation_id": new_id(), "org_id": org_id, "program_id": program_id, "program_name": "Data Skills",
                  "contract_id": contract_id, **person, "external_id": None, "send_email": True,
                  "accept_url": "https://learn.example/accept?token=i1", "custom_message": "Welcome aboard, <team>!",
                  "expires_at": LATER, "invited_by": None}
    publish("invitations", "invitations.invitation.created.v1", invitation)
    # "Create invitation" (no email) sends nothing.
    publish("invitations", "invitations.invitation.created.v1", {
        **invitation, "invitation_id": new_id(), "email": "quiet@example.com", "send_email": False,
        "accept_url": None})
    publish("invitations", "invitations.invitation.resent.v1", {
        key: invitation[key] for key in ("invitation_id", "org_id", "program_id", "program_name", "user_id", "email",
                                         "full_name", "custom_message", "expires_at")}
        | {"accept_url": "https://learn.example/accept?token=i2"})
    joined = publish.envelope("programs", "programs.member.joined.v1", {
        "membership_id": new_id(), "org_id": org_id, "program_id": program_id, "program_name": "Data Skills",
        **person, "contract_id": contract_id, "invitation_id": invitation["invitation_id"], "joined_at": NOW})
    publish.send(joined)
    publish.send(joined)  # a redelivered event sends nothing more
    for kind, item in (("COURSE", "Machine Learning"), ("SPECIALIZATION", "Deep Learning")):
        publish("programs", "programs.enrollment.created.v1", {
            "enrollment_id": new_id(), "org_id": org_id, "program_id": program_id, **person, "kind": kind,
            "course_id": "ml" if kind == "COURSE" else None, "specialization_id": "dl" if kind != "COURSE" else None,
            "item_name": item, "item_slug": item.lower().replace(" ", "-"), "collection_id": None,
            "enrolled_at": NOW})
    publish("programs", "programs.member.removed.v1", {
        "membership_id": new_id(), "org_id": org_id, "program_id": program_id, "program_name": "Data Skills",
        **person, "contract_id": contract_id, "reason": "ADMIN_REMOVED", "removed_at": NOW})

    messages = smtp.wait_count(9)
    assert len(messages) == 9, [m["Subject"] for m in messages]
    subjects = by_subject(messages)
    org_name = "Acme <script>alert(1)</script>"
    expected = {
        "Confirm your email address": ("https://learn.example/verify?token=v1", False),
        "Reset your password": ("https://learn.example/reset?token=r1", False),
        f"You are an administrator of {org_name}": ("https://learn.example/reset?token=f1", False),
        f"{org_name} invites you to Data Skills": ("https://learn.example/accept?token=i", True),
        "Welcome to Data Skills": ("https://learn.example/programs/data-skills", True),
        "You are enrolled in Machine Learning": ("Machine Learning", True),
        "You are enrolled in the specialization Deep Learning": ("Deep Learning", True),
        "You have left Data Skills": ("no longer a member of", True),
    }
    for subject, (needle, unsubscribable) in expected.items():
        message = subjects[subject]
        assert message["To"].addresses[0].addr_spec == "lea@example.com"
        assert message["To"].addresses[0].display_name == "Léa <b>Bold</b>"
        assert message["Message-ID"] and message.is_multipart()
        assert needle in body(message, "plain"), subject
        assert ("List-Unsubscribe" in message) is unsubscribable, subject
        if unsubscribable:
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert message["List-Unsubscribe"].startswith("<http")
    # The invitation was sent twice (created, then resent with a new link), each once.
    invitations = [m for m in messages if m["Subject"] == f"{org_name} invites you to Data Skills"]
    assert sorted("token=i2" in body(m, "plain") for m in invitations) == [False, True]
    # Branding and escaping: names are text, never markup.
    html = body(subjects["Welcome to Data Skills"], "html")
    assert "#aa3300" in html and "https://cdn.example/logo.png" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Léa &lt;b&gt;Bold&lt;/b&gt;" in html
    invite_html = body(invitations[0], "html")
    assert "Welcome aboard, &lt;team&gt;!" in invite_html
    assert "quiet@example.com" not in {m["X-Envelope-To"] for m in messages}
    states = dict(rows(engine, "SELECT state, count(*) FROM deliveries GROUP BY state"))
    assert states == {"SENT": 9}


def test_opted_out_learner_gets_account_emails_and_invitations_only(messaging, smtp, engine):
    from nameko.standalone.rpc import ServiceRpcProxy

    smtp.start()
    publish = messaging
    org_id, program_id, user_id = new_id(), new_id(), new_id()
    org_events(publish, org_id, "Globex")
    person = {"user_id": user_id, "email": "out@example.com", "full_name": "Otto Out"}
    with ServiceRpcProxy("messaging", {"AMQP_URI": publish.amqp_uri}) as proxy:
        assert proxy.set_preferences("OUT@example.com", {"program_messages": False}) == {
            "program_messages": False, "course_announcements": True}
    publish("programs", "programs.member.joined.v1", {
        "membership_id": new_id(), "org_id": org_id, "program_id": program_id, "program_name": "P", **person,
        "contract_id": new_id(), "invitation_id": None, "joined_at": NOW})
    publish("programs", "programs.enrollment.created.v1", {
        "enrollment_id": new_id(), "org_id": org_id, "program_id": program_id, **person, "kind": "COURSE",
        "course_id": "c1", "specialization_id": None, "item_name": "Course One", "item_slug": "course-one",
        "collection_id": None, "enrolled_at": NOW})
    publish("identity", "identity.user.password_reset_requested.v1", {
        **person, "reset_url": "https://learn.example/reset?token=x", "expires_at": LATER, "reason": "RESET",
        "org_id": None})
    messages = smtp.wait_count(2)
    assert sorted(m["Subject"] for m in messages) == ["Reset your password", "You are enrolled in Course One"]
    assert scalar(engine, "SELECT state FROM deliveries WHERE template = 'program_welcome'") == "SUPPRESSED"
