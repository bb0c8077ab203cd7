"""The login throttle, per email and per client address (issue 11, item 6):
nobody can lock an account's owner out, and guessing stays bounded."""
import pytest
from sqlalchemy import text

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.tests.conftest import new_email, outcomes

PASSWORD = "the owner's password"
OWNER, ATTACKER, OTHER = "198.51.100.7", "203.0.113.66", "192.0.2.10"


def attempt(identity, email: str, password: str, client: str) -> str:
    try:
        identity.login(email, password, client=client)
        return "OK"
    except AppError as exc:
        return exc.code


def account(identity) -> str:
    email = new_email("owner")
    identity.account_for_invitation(email, "Owner", PASSWORD)
    return email


def test_an_attacker_cannot_lock_the_owner_out(identity):
    email = account(identity)
    limit = settings().login_max_failures
    answers = [attempt(identity, email, f"guess {i}", ATTACKER) for i in range(limit + 3)]
    assert answers == ["INVALID_CREDENTIALS"] * limit + ["TOO_MANY_REQUESTS"] * 3
    assert attempt(identity, email, PASSWORD, ATTACKER) == "TOO_MANY_REQUESTS"  # the attacker stays out
    assert attempt(identity, email, PASSWORD, OWNER) == "OK"  # a client that has not failed gets in


def test_an_email_under_attack_refuses_every_client_that_failed_on_it(identity):
    email = account(identity)
    limit = settings().login_max_failures
    spread = [ATTACKER, OTHER]
    for i in range(limit):  # spread over two clients: neither reaches the limit alone
        assert attempt(identity, email, f"guess {i}", spread[i % 2]) == "INVALID_CREDENTIALS"
    # the email is under attack: a client that failed on it is refused, even with the password
    assert attempt(identity, email, PASSWORD, ATTACKER) == "TOO_MANY_REQUESTS"
    assert attempt(identity, email, "guess again", OTHER) == "TOO_MANY_REQUESTS"
    assert attempt(identity, email, PASSWORD, OWNER) == "OK"


def test_a_client_guessing_across_many_emails_is_refused(identity):
    limit = settings().login_max_failures_per_client
    client = "203.0.113.99"
    answers = [attempt(identity, new_email("spray"), "Summer2026!", client) for _ in range(limit + 2)]
    assert answers == ["INVALID_CREDENTIALS"] * limit + ["TOO_MANY_REQUESTS"] * 2
    email = account(identity)
    assert attempt(identity, email, PASSWORD, client) == "TOO_MANY_REQUESTS"  # this client has failed
    assert attempt(identity, email, PASSWORD, OWNER) == "OK"


def test_each_lock_of_a_client_on_an_email_lasts_longer(identity, identity_db):
    email = account(identity)
    limit = settings().login_max_failures

    def lock_and_read_retry_after() -> int:
        for i in range(limit):
            attempt(identity, email, f"guess {i}", ATTACKER)
        with pytest.raises(AppError) as locked:
            identity.login(email, "one more", client=ATTACKER)
        return locked.value.details["retry_after_seconds"]

    first = lock_and_read_retry_after()
    with identity_db.begin() as conn:  # fifteen minutes and more go by: the lock and its window end
        conn.execute(text("UPDATE login_failures SET locked_until = now() - interval '1 second', "
                          "window_started_at = now() - interval '16 minutes'"))
    second = lock_and_read_retry_after()
    assert first <= settings().throttle_window.total_seconds() + 1
    assert second >= 2 * first - 2


def test_parallel_wrong_passwords_from_one_client_are_checked_no_more_than_the_limit(identity):
    email = account(identity)
    limit = settings().login_max_failures
    answers = outcomes([identity.login.call_async(email, f"wrong {i}", client=ATTACKER) for i in range(40)])
    assert answers.count("INVALID_CREDENTIALS") <= limit
    assert set(answers) <= {"INVALID_CREDENTIALS", "TOO_MANY_REQUESTS", "SERVICE_UNAVAILABLE"}
    assert attempt(identity, email, PASSWORD, OWNER) == "OK"
