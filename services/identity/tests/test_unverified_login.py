"""Issue 11 item 1: until its address is verified an account can only verify
it. Login with its right password answers EMAIL_NOT_VERIFIED (403 at the
gateway) and names the resend route; a new link is asked for by address,
with one answer whatever the address (its limits: test_email_limits.py)."""
import pytest

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.tests.conftest import new_email, verify_tokens
from tests.support.answers import answer

PASSWORD = "a good long password"
OTHER = "198.51.100.44"


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

    (token,) = verify_tokens(identity_db, email)
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
    first, second = verify_tokens(identity_db, waiting)
    assert verify_tokens(identity_db, verified) == [] and verify_tokens(identity_db, unknown) == []
    with pytest.raises(AppError) as superseded:  # the new link replaces the old one
        identity.verify_email(first)
    assert superseded.value.code == "TOKEN_INVALID"
    identity.verify_email(second)
    assert identity.login(waiting, PASSWORD)["access_token"]
