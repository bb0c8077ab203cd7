"""messaging end to end: real HTTP through the gateway, every service process,
RabbitMQ, PostgreSQL and the SMTP sink (emails read back from .eml files).
Joining is the programs RPC that invitations calls; these tests call it over
RabbitMQ directly."""
import re
import time
from datetime import date

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from scripts.mailsink import read_messages
from tests.e2e.conftest import Api, add_admin, unique, verified_signup
from tests.e2e.helpers import program_with_contract
from tests.support.waiting import wait_for

PASSWORD = "correct horse battery"
TODAY = date.today()


@pytest.fixture(scope="module")
def rpc(suite):
    with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}, timeout=30) as proxy:
        yield proxy


def mail_to(suite, email: str, subject_contains: str = "", count: int = 1, timeout: float = 30.0) -> list:
    """Emails to `email` (optionally with a subject), once `count` have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in read_messages(suite.mail_dir)
                 if m["X-Envelope-To"] == email.lower() and subject_contains in str(m["Subject"])]
        if len(found) >= count or time.monotonic() > deadline:
            time.sleep(0.5)  # a duplicate would show up now
            return [m for m in read_messages(suite.mail_dir)
                    if m["X-Envelope-To"] == email.lower() and subject_contains in str(m["Subject"])]
        time.sleep(0.2)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def signup(api, suite, name: str) -> tuple[dict, Api]:
    email = f"{unique(name)}@example.com"
    created = verified_signup(suite, api, email, name.title(), PASSWORD)
    return created, api.as_user(email, PASSWORD)



def join(rpc, org_id, program, contract, user):
    rpc.programs.join_program(org_id, program["id"], user["id"], contract["id"], None, user["email"],
                              user["full_name"])



def test_account_emails_are_sent_without_unsubscribe(api, suite, make_org):
    user, _ = signup(api, suite, "vera")
    (verification,) = mail_to(suite, user["email"], "Confirm your email address")
    assert re.search(r"https?://\S+", text_of(verification))
    assert suite.base_url in text_of(verification)
    assert "List-Unsubscribe" not in verification and verification["Message-ID"]
    assert verification.is_multipart()

    org_id, admin, _ = make_org(unique("Brand"))
    assert admin.patch(f"/v1/orgs/{org_id}", json={"brand_color": "#123abc"}).status_code == 200
    # The new color reaches messaging by an event: wait for it (a draft's preview shows the branding),
    # or the next email may be rendered just before it arrives.
    draft = admin.post(f"/v1/orgs/{org_id}/messages", json={"audience": {"preset": "ALL_MEMBERS"}, "subject": "S",
                                                            "content": "x"}).json()
    wait_for(lambda: "#123abc" in admin.post(f"/v1/messages/{draft['id']}/preview").json()["html"])
    email = f"{unique('newadmin')}@example.com"
    add_admin(admin, org_id, email, "New <Admin>")
    (first,) = mail_to(suite, email, "You are an administrator of")
    html = first.get_body(("html",)).get_content()
    assert "#123abc" in html and "New &lt;Admin&gt;" in html
    assert "List-Unsubscribe" not in first


def test_message_lifecycle_suppression_and_unsubscribe(api, suite, make_org, rpc):
    org_id, admin, _ = make_org()
    program, contract = program_with_contract(admin, org_id)
    ann, ann_api = signup(api, suite, "ann")
    bob, bob_api = signup(api, suite, "bob")
    for person in (ann, bob):
        join(rpc, org_id, program, contract, person)
        (welcome,) = mail_to(suite, person["email"], "Welcome to")
        assert program["name"] in text_of(welcome) and welcome["List-Unsubscribe-Post"]

    assert bob_api.get("/v1/me/email-preferences").json() == {"program_messages": True,
                                                              "course_announcements": True}
    changed = bob_api.put("/v1/me/email-preferences", json={"program_messages": False})
    assert changed.status_code == 200 and changed.json()["program_messages"] is False

    audience = {"preset": "ALL_MEMBERS", "filters": {"program_ids": [program["id"]]}}
    counted = admin.post(f"/v1/orgs/{org_id}/audience", json=audience)
    assert counted.status_code == 200 and counted.json() == {"count": 2}

    draft = admin.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": audience, "subject": "Kick-off", "content": "**Join us** on Monday.",
        "content_format": "MARKDOWN", "cta": {"label": "Open the program", "url": "https://learn.example/kickoff"}})
    assert draft.status_code == 201, draft.text
    message_id = draft.json()["id"]
    assert draft.json()["sender_name"] is None and draft.json()["state"] == "DRAFT"
    assert admin.patch(f"/v1/messages/{message_id}", json={"subject": "Kick-off week"}).status_code == 200
    preview = admin.post(f"/v1/messages/{message_id}/preview")
    assert preview.status_code == 200
    assert "<strong>Join us</strong>" in preview.json()["html"] and preview.json()["subject"] == "Kick-off week"
    assert preview.json()["headers"]["From"].startswith("Ada Admin")

    refused = admin.post(f"/v1/messages/{message_id}/send", json={})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "TERMS_NOT_ACCEPTED"
    sent = admin.post(f"/v1/messages/{message_id}/send", json={"accept_terms": True})
    assert sent.status_code == 202, sent.text
    (received,) = mail_to(suite, ann["email"], "Kick-off week")
    assert "https://learn.example/kickoff" in text_of(received)
    assert mail_to(suite, bob["email"], "Kick-off week", timeout=1) == []
    final = wait_for(lambda: (m := admin.get(f"/v1/messages/{message_id}").json())["state"] == "SENT" and m)
    assert final["counts"] == {"recipients": 2, "queued": 0, "sent": 1, "suppressed": 1, "failed": 0}
    again = admin.post(f"/v1/messages/{message_id}/send", json={"accept_terms": True})
    assert again.status_code == 422 and again.json()["error"]["code"] == "MESSAGE_NOT_EDITABLE"

    # The funnel's quick action: both joined, nobody enrolled; bob opted out.
    reminded = admin.post(f"/v1/programs/{program['id']}/remind-enroll")
    assert reminded.status_code == 202 and reminded.json() == {"recipients": 2, "queued": 1, "suppressed": 1}
    assert len(mail_to(suite, ann["email"], "Enroll in your first course")) == 1

    # One-click unsubscribe from the email's own header, no login.
    link = received["List-Unsubscribe"].strip("<>")
    assert link.startswith(suite.base_url + "/v1/unsubscribe/")
    page = api.http.get(link, timeout=10)
    assert page.status_code == 200 and "<form" in page.text and ann["email"] in page.text
    clicked = api.http.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert clicked.status_code == 200 and clicked.json()["unsubscribed"] is True
    assert ann_api.get("/v1/me/email-preferences").json()["program_messages"] is False
    forged = api.http.post(link[:-4] + "AAAA", timeout=10)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "TOKEN_INVALID"

    # Another organization sees none of it.
    other_org, other_admin, _ = make_org()
    for response in (other_admin.get(f"/v1/messages/{message_id}"),
                     other_admin.post(f"/v1/messages/{message_id}/preview"),
                     other_admin.post(f"/v1/orgs/{org_id}/audience", json=audience),
                     other_admin.get(f"/v1/orgs/{org_id}/messages"),
                     other_admin.post(f"/v1/programs/{program['id']}/remind-enroll")):
        assert response.status_code == 404, response.text
    assert other_admin.get(f"/v1/orgs/{other_org}/messages").json()["items"] == []


def test_program_admin_messages_only_their_programs(api, suite, make_org, rpc):
    org_id, admin, _ = make_org()
    mine, contract = program_with_contract(admin, org_id)
    theirs, other_contract = program_with_contract(admin, org_id)
    inside, _ = signup(api, suite, "inside")
    outside, _ = signup(api, suite, "outside")
    join(rpc, org_id, mine, contract, inside)
    join(rpc, org_id, theirs, other_contract, outside)
    org_message = admin.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": "All hands", "content": "Hello"}).json()

    email = f"{unique('padmin')}@example.com"
    add_admin(admin, org_id, email, "Pat Program", role="PROGRAM_ADMIN", program_ids=[mine["id"]])
    (first,) = mail_to(suite, email, "You are an administrator of")
    token = re.search(r"token=([\w\-.~%]+)", text_of(first)).group(1)
    assert api.post("/v1/auth/password-reset/confirm", json={"token": token, "password": PASSWORD}).status_code == 200
    pat = api.as_user(email, PASSWORD)

    wait_for(lambda: pat.post(f"/v1/orgs/{org_id}/audience", json={"preset": "ALL_MEMBERS"}).json() == {"count": 1})
    refused = pat.post(f"/v1/orgs/{org_id}/audience",
                       json={"preset": "ALL_MEMBERS", "filters": {"program_ids": [theirs["id"]]}})
    assert refused.status_code == 404
    custom = pat.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "CUSTOM", "user_ids": [outside["id"]]}, "subject": "Hi", "content": "x"})
    assert custom.status_code == 400 and "user_ids" in custom.json()["error"]["details"]
    own = pat.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": "Team news", "content": "Hello team", "reply_to": False})
    assert own.status_code == 201, own.text
    assert [m["id"] for m in pat.get(f"/v1/orgs/{org_id}/messages").json()["items"]] == [own.json()["id"]]
    assert pat.get(f"/v1/messages/{org_message['id']}").status_code == 404
    assert pat.post(f"/v1/messages/{own.json()['id']}/send", json={"accept_terms": True}).status_code == 202
    (received,) = mail_to(suite, inside["email"], "Team news")
    assert received["Reply-To"].startswith("no-reply@") and "Pat Program" in str(received["From"])
    assert mail_to(suite, outside["email"], "Team news", timeout=1) == []
    assert pat.post(f"/v1/programs/{theirs['id']}/remind-enroll").status_code == 404


def test_bad_input_is_a_clear_4xx(make_org):
    org_id, admin, _ = make_org()
    base = {"audience": {"preset": "ALL_MEMBERS"}, "subject": "S", "content": "C"}
    cases = [
        ({**base, "cta": {"label": "Go", "url": "http://insecure.example"}}, 400, "INVALID_INPUT"),
        ({**base, "audience": {"preset": "EVERYONE"}}, 400, "INVALID_INPUT"),
        ({**base, "audience": {"preset": "CUSTOM"}}, 400, "INVALID_INPUT"),
        ({**base, "subject": ""}, 400, "INVALID_INPUT"),
        ({**base, "surprise": 1}, 400, "INVALID_INPUT"),
    ]
    for body, status, code in cases:
        response = admin.post(f"/v1/orgs/{org_id}/messages", json=body)
        assert response.status_code == status and response.json()["error"]["code"] == code, (body, response.text)
    wrong_type = admin.post(f"/v1/orgs/{org_id}/messages", data="x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    for path in ("/v1/messages/not-a-uuid", "/v1/messages/00000000-0000-0000-0000-000000000000"):
        assert admin.get(path).status_code == 404
    draft = admin.post(f"/v1/orgs/{org_id}/messages", json=base).json()
    empty = admin.post(f"/v1/messages/{draft['id']}/send", json={"accept_terms": True})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "RULE_VIOLATION"
    assert admin.delete(f"/v1/messages/{draft['id']}").status_code == 204
    assert admin.get(f"/v1/messages/{draft['id']}").status_code == 404
    assert admin.get("/v1/unsubscribe/garbage").status_code == 404
    assert admin.get("/v1/messages/presets").status_code == 200


def test_invitation_join_and_exit_emails(api, suite, make_org, rpc):
    """The whole funnel by email: invitation (custom message, accept link), resend with a
    new link, program welcome on accepting, exit on removal and on program removal."""
    org_id, admin, _ = make_org()
    program, contract = program_with_contract(admin, org_id)
    email = f"{unique('invitee')}@example.com"
    invited = admin.post("/v1/invitations", json={
        "program_id": program["id"], "contract_id": contract["id"], "full_name": "Ines <i>Invitee</i>",
        "email": email, "send_email": True})
    assert invited.status_code == 201, invited.text
    quiet = f"{unique('quiet')}@example.com"
    assert admin.post("/v1/invitations", json={
        "program_id": program["id"], "contract_id": contract["id"], "full_name": "Quiet", "email": quiet,
        "send_email": False}).status_code == 201
    (invitation,) = mail_to(suite, email, "invites you to")
    assert "List-Unsubscribe" in invitation and program["name"] in str(invitation["Subject"])
    assert "Ines &lt;i&gt;Invitee&lt;/i&gt;" in invitation.get_body(("html",)).get_content()
    first_link = re.search(r"https?://\S+token=\S+", text_of(invitation)).group(0)

    count = {"preset": "INVITED_NOT_JOINED", "filters": {"program_ids": [program["id"]]}}
    wait_for(lambda: admin.post(f"/v1/orgs/{org_id}/audience", json=count).json() == {"count": 2})

    resent = admin.post(f"/v1/invitations/{invited.json()['id']}/resend")
    assert resent.status_code == 200, resent.text
    invitations = mail_to(suite, email, "invites you to", count=2)
    assert len(invitations) == 2
    new_link = re.search(r"https?://\S+token=\S+", text_of(invitations[1])).group(0)
    assert new_link != first_link
    token = new_link.split("token=", 1)[1]
    accepted = api.post("/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    (welcome,) = mail_to(suite, email, "Welcome to")
    assert program["name"] in text_of(welcome)
    wait_for(lambda: admin.post(f"/v1/orgs/{org_id}/audience", json=count).json() == {"count": 1})
    assert mail_to(suite, quiet, timeout=1) == []

    user_id = accepted.json()["membership"]["user_id"]
    assert admin.delete(f"/v1/programs/{program['id']}/members/{user_id}").status_code == 204
    (exit_email,) = mail_to(suite, email, "You have left")
    assert "no longer a member" in text_of(exit_email)

    other, other_contract = program_with_contract(admin, org_id)
    member, _ = signup(api, suite, "leaver")
    join(rpc, org_id, other, other_contract, member)
    mail_to(suite, member["email"], "Welcome to")
    removed = admin.delete(f"/v1/programs/{other['id']}?confirm=true")
    assert removed.status_code in (200, 204), removed.text
    (closed,) = mail_to(suite, member["email"], "You have left")
    assert "has been closed" in text_of(closed)


def test_messages_list_pages_newest_first(make_org):
    org_id, admin, _ = make_org()
    ids = [admin.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": f"Draft {i}", "content": "x"}).json()["id"]
        for i in range(3)]
    first = admin.get(f"/v1/orgs/{org_id}/messages", params={"limit": 2}).json()
    assert [m["id"] for m in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    second = admin.get(f"/v1/orgs/{org_id}/messages", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [m["id"] for m in second["items"]] == [ids[0]] and second["next_cursor"] is None
    bad = admin.get(f"/v1/orgs/{org_id}/messages", params={"cursor": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_INPUT"
    assert admin.get(f"/v1/orgs/{org_id}/messages", params={"limit": 0}).status_code == 400
