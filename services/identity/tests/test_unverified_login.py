"""Issue 11 item 1: until its address is verified an account can only verify
it. Login with its right password answers EMAIL_NOT_VERIFIED (403 at the
gateway) and names the resend route; a new link is asked for by address,
limited like reset requests, with one answer whatever the address."""
import pytest
from sqlalchemy import text

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.tests.conftest import new_email
from tests.support.answers import answer

PASSWORD = "a good long password"
FLOODER, OTHER = "203.0.113.91", "198.51.100.44"


def verify_links(identity_db, email: str) -> list[str]:
    """The tokens of the verification links sent to `email`, oldest first (from the outbox)."""
    with identity_db.connect() as conn:
        urls = conn.execute(text(
            "SELECT envelope->'payload'->>'verify_url' FROM kit_outbox "
            "WHERE event_type = 'identity.user.verification_requested.v1' "
            "AND envelope->'payload'->>'email' = :email ORDER BY id"), {"email": email}).scalars().all()
    return [url.split("token=", 1)[1] for url in urls]


def test_an_unverified_account_signs_in_only_after_verifying(identity, identity_db):
    email = new_email("learner")
    identity.signup(email, "Lee Learner", PASSWORD)
    with pytest.raises(AppError) as refused:
        identity.login(email, PASSWORD)
    assert refused.value.code == "EMAIL_NOT_VERIFIED"
    assert refused.value.details == {"resend": "POST /v1/auth/verify-email/resend"}
    with pytest.raises(AppError) as wrong:  # a wrong password learns nothing about verification
        identity.login(email, "not the password")
    assert wrong.value.code == "INVALID_CREDENTIALS"

    (token,) = verify_links(identity_db, email)
    identity.verify_email(token)
    assert identity.login(email, PASSWORD)["access_token"]


def test_the_right_password_of_an_unverified_account_is_not_a_failed_login(identity):
    email = new_email("patient")
    identity.signup(email, "Pat", PASSWORD)
    tries = settings().login_max_failures + 3
    assert [answer(identity.login, email, PASSWORD, client=OTHER) for _ in range(tries)] == \
        ["EMAIL_NOT_VERIFIED"] * tries


def test_a_session_of_an_unverified_account_does_not_refresh(identity):
    user = identity.signup(new_email("early"), "Early", PASSWORD)
    session = identity.issue_tokens(user["id"])["refresh_token"]  # e.g. from before this rule
    with pytest.raises(AppError) as refused:
        identity.refresh(session)
    assert refused.value.code == "EMAIL_NOT_VERIFIED"


def test_resend_sends_a_new_link_only_to_an_account_awaiting_verification(identity, identity_db):
    waiting, verified, unknown = new_email("waiting"), new_email("verified"), new_email("unknown")
    identity.signup(waiting, "Wanda", PASSWORD)
    identity.account_for_invitation(verified, "Vera", PASSWORD)  # the invitation link verified it
    for email in (waiting, verified, unknown):
        assert identity.resend_verification(email, client=OTHER) is None  # one answer for all three
    first, second = verify_links(identity_db, waiting)
    assert verify_links(identity_db, verified) == [] and verify_links(identity_db, unknown) == []
    with pytest.raises(AppError) as superseded:  # the new link replaces the old one
        identity.verify_email(first)
    assert superseded.value.code == "TOKEN_INVALID"
    identity.verify_email(second)
    assert identity.login(waiting, PASSWORD)["access_token"]


def test_resend_is_limited_per_address_known_or_not_and_per_client(identity):
    known = new_email("known")
    identity.signup(known, "Known", PASSWORD)
    limit = settings().verify_resend_max_per_email
    for email in (known, new_email("nobody")):  # the same answers: the limit reveals no account
        answers = [answer(identity.resend_verification, email) for _ in range(limit + 2)]
        assert answers == ["OK"] * limit + ["TOO_MANY_REQUESTS"] * 2
    try:
        identity.resend_verification(known, client=OTHER)
    except AppError as exc:
        assert exc.details["retry_after_seconds"] > 0
    else:
        raise AssertionError("the address's limit holds from every client")

    per_client = settings().verify_resend_max_per_client
    answers = [answer(identity.resend_verification, new_email("spray"), client=FLOODER)
               for _ in range(per_client + 1)]
    assert answers == ["OK"] * per_client + ["TOO_MANY_REQUESTS"]
    assert answer(identity.resend_verification, new_email("spray"), client=OTHER) == "OK"
