"""Issue 11 (item 1) through the gateway: signing up with an address first does
not capture what an organization later grants that address."""
import http.client
import json
from urllib.parse import urlsplit

from servicekit.standalone import unit_of_work
from tests.e2e.conftest import add_admin, unique, verification_token
from tests.support.suite import TEST_PROXY


def session_of(suite, email: str) -> str:
    """A refresh token of the account, issued directly: a session from before
    sign-in asked for a verified address (the gateway gives none now)."""
    from services.identity.commands.sessions import issue_tokens
    from services.identity.queries import find_user

    with unit_of_work("identity", suite.database_url("identity")) as uow:
        return issue_tokens(uow, find_user(uow, email))["refresh_token"]


def test_a_presigned_address_made_admin_does_not_let_the_squatter_in(api, suite, make_org):
    org_id, admin, _ = make_org()
    email = f"{unique('new.cfo')}@example.com"
    squatter = {"email": email, "password": "the squatter's password"}
    assert api.post("/v1/auth/signup", json={**squatter, "full_name": "Not The CFO"}).status_code == 201
    early = api.post("/v1/auth/login", json=squatter)  # an unverified address signs in to nothing
    assert early.status_code == 403 and early.json()["error"]["code"] == "EMAIL_NOT_VERIFIED"
    stolen = session_of(suite, email)

    add_admin(admin, org_id, email, "The CFO")

    refused = api.post("/v1/auth/login", json=squatter)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert api.post("/v1/auth/refresh", json={"refresh_token": stolen}).status_code == 401


def test_login_of_an_unverified_address_says_to_verify_and_resend_gives_a_new_link(api, suite):
    email = f"{unique('learner')}@example.com"
    learner = {"email": email, "password": "learning is fun"}
    assert api.post("/v1/auth/signup", json={**learner, "full_name": "Lee Learner"}).status_code == 201
    refused = api.post("/v1/auth/login", json=learner)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "EMAIL_NOT_VERIFIED" and error["details"]["resend"] == "POST /v1/auth/verify-email/resend"
    first = verification_token(suite, email)

    answers = [api.post("/v1/auth/verify-email/resend", json={"email": address})
               for address in (email, f"{unique('nobody')}@example.com")]
    assert [a.status_code for a in answers] == [202, 202] and answers[0].json() == answers[1].json()
    second = verification_token(suite, email)
    assert second != first
    assert api.post("/v1/auth/verify-email", json={"token": first}).status_code == 401  # superseded
    assert api.post("/v1/auth/verify-email", json={"token": second}).status_code == 200
    assert api.as_user(email, "learning is fun").get("/v1/me").json()["email_verified"] is True


def login_from(suite, source: str, forwarded_for: str, email: str, password: str) -> int:
    """POST /v1/auth/login over a connection from `source` (a 127/8 address) with this X-Forwarded-For."""
    url = urlsplit(suite.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    try:
        connection.request("POST", "/v1/auth/login", body=json.dumps({"email": email, "password": password}),
                           headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


CLIENT = "127.0.0.1"  # not a trusted proxy: its X-Forwarded-For is the client's own say


def test_x_forwarded_for_from_a_client_does_not_change_its_throttle_key(suite, make_org):
    """Five wrong passwords, each claiming another address: still one client (the
    connecting one), so the pair is locked and even the right password waits."""
    _, _, email = make_org()
    wrong = [login_from(suite, CLIENT, f"192.0.2.{i}", email, f"wrong {i}") for i in range(5)]
    assert wrong == [401] * 5
    assert login_from(suite, CLIENT, "192.0.2.200", email, "correct horse battery") == 429


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(suite, make_org):
    """Behind the trusted proxy the right-most address it appended is the client:
    the attacker's failures lock the attacker (whatever it puts to the left),
    and the owner, another client behind the same proxy, signs in."""
    _, _, email = make_org()
    attacker, owner = "203.0.113.50", "198.51.100.60"
    wrong = [login_from(suite, TEST_PROXY, f"10.9.9.{i}, {attacker}", email, f"wrong {i}") for i in range(5)]
    assert wrong == [401] * 5
    assert login_from(suite, TEST_PROXY, attacker, email, "wrong again") == 429
    assert login_from(suite, TEST_PROXY, f"{attacker}, {owner}", email, "correct horse battery") == 200
