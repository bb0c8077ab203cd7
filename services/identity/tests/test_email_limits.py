"""Requests that make identity send an email (password reset, a new
verification link, sign-up) are limited per address and per client address
(issue 11, items 5 and 1)."""
import pytest

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.tests.conftest import new_email
from tests.support.answers import answer

PASSWORD = "a good long password"
FLOODER, OTHER = "203.0.113.77", "198.51.100.8"


# The requests that email an address at anyone's request (the RPC), limited alike.
EMAIL_REQUESTS = pytest.mark.parametrize("request_rpc", ["request_password_reset", "resend_verification"])


@EMAIL_REQUESTS
def test_email_requests_are_limited_per_address_known_or_not(identity, request_rpc):
    known = new_email("known")
    identity.signup(known, "Known", PASSWORD)
    ask = getattr(identity, request_rpc)
    limit = settings().reset_max_per_email
    for email in (known, new_email("unknown")):  # the same answers: the limit reveals no account
        answers = [answer(ask, email) for _ in range(limit + 2)]
        assert answers == ["OK"] * limit + ["TOO_MANY_REQUESTS"] * 2
    try:
        ask(known, client=OTHER)
    except AppError as exc:
        assert exc.details["retry_after_seconds"] > 0
    else:
        raise AssertionError("a client that has not asked before is still limited per address")


@EMAIL_REQUESTS
def test_email_requests_are_limited_per_client_address(identity, request_rpc):
    ask = getattr(identity, request_rpc)
    limit = settings().reset_max_per_client
    answers = [answer(ask, new_email("spray"), client=FLOODER) for _ in range(limit + 1)]
    assert answers == ["OK"] * limit + ["TOO_MANY_REQUESTS"]
    assert answer(ask, new_email("spray"), client=OTHER) == "OK"


def test_signups_are_limited_per_client_address(identity):
    limit = settings().signup_max_per_client
    answers = [answer(identity.signup, new_email("bulk"), "Bulk", PASSWORD, client=FLOODER) for _ in range(limit + 1)]
    assert answers == ["OK"] * limit + ["TOO_MANY_REQUESTS"]
    assert answer(identity.signup, new_email("bulk"), "Bulk", PASSWORD, client=OTHER) == "OK"

