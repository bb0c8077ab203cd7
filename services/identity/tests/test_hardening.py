"""Defects of issue 10 in identity, each through its RPC interface on the real
PostgreSQL and RabbitMQ (the gateway's side is in tests/e2e/test_identity_hardening.py)."""
import eventlet
import pytest
from sqlalchemy import text

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.tests.conftest import new_email, new_org, outcomes, reset_tokens

PASSWORD = "a long password"


# ---- item 5: ids that are not UUIDs are unknown ids (404), never a crash


def test_ids_that_are_not_uuids_are_not_found(identity):
    org_id = new_org(identity)
    calls = {
        "get_person": lambda: identity.get_person(org_id, "abc"),
        "update_person": lambda: identity.update_person(org_id, "abc", {"job_title": "x"}),
        "remove_admin": lambda: identity.remove_admin(org_id, "abc"),
        "get_person of org abc": lambda: identity.get_person("abc", "abc"),
        "get_organization": lambda: identity.get_organization("abc"),
        "update_organization": lambda: identity.update_organization("abc", {"timezone": "UTC"}),
        "list_admins": lambda: identity.list_admins("abc"),
        "list_api_tokens": lambda: identity.list_api_tokens("abc"),
        "get_user": lambda: identity.get_user("abc"),
        "issue_tokens": lambda: identity.issue_tokens("abc"),
        "ensure_person": lambda: identity.ensure_person("abc", {"email": new_email(), "full_name": "N"}),
    }
    answers = {}
    for name, call in calls.items():
        try:
            call()
            answers[name] = "OK"
        except AppError as exc:
            answers[name] = exc.code
        except Exception as exc:
            answers[name] = type(exc).__name__
    assert answers == {name: "NOT_FOUND" for name in calls}


# ---- item 7: concurrent duplicate signups


def test_concurrent_signups_of_one_email_create_one_account(identity, identity_db):
    email = new_email("twin")
    calls = [identity.signup.call_async(email, "Twin", PASSWORD) for _ in range(10)]
    answers = outcomes(calls)
    assert sorted(answers) == ["EMAIL_TAKEN"] * 9 + ["OK"]
    with identity_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}).scalar() == 1


# ---- item 9: the login throttle holds for parallel bursts


def test_parallel_wrong_passwords_are_checked_no_more_than_the_limit(identity, identity_db):
    email = new_email("burst")
    identity.account_for_invitation(email, "Burst", PASSWORD)
    limit = settings().login_max_failures
    answers = outcomes([identity.login.call_async(email, f"wrong password {i}") for i in range(40)])
    assert set(answers) <= {"INVALID_CREDENTIALS", "TOO_MANY_REQUESTS", "SERVICE_UNAVAILABLE"}, answers
    assert answers.count("INVALID_CREDENTIALS") <= limit
    with identity_db.connect() as conn:
        failures = conn.execute(text("SELECT failures FROM login_failures WHERE key = :k"),
                                {"k": f"p:|{email}"}).scalar()
    assert failures <= limit
    with pytest.raises(AppError) as locked:
        identity.login(email, PASSWORD)
    assert locked.value.code == "TOO_MANY_REQUESTS" and locked.value.details["retry_after_seconds"] > 0


# ---- item 10: a flood of failing logins leaves identity's other RPCs answering


def test_other_rpcs_keep_answering_during_a_login_flood(identity):
    org_id = new_org(identity)
    user = identity.account_for_invitation(new_email("calm"), "Calm", PASSWORD)
    flood = [identity.login.call_async(new_email("nobody"), "not the password") for _ in range(60)]
    eventlet.sleep(0.2)  # the flood is in
    for _ in range(5):
        with eventlet.Timeout(5):  # a liveness bound, not a latency figure (that is in bench/)
            assert identity.get_user(user["id"])["id"] == user["id"]
            assert identity.get_organization(org_id)["id"] == org_id
    answers = outcomes(flood)
    # every login answered: refused, or told clearly that sign-in is saturated
    assert set(answers) <= {"INVALID_CREDENTIALS", "SERVICE_UNAVAILABLE"}, answers
    assert "INVALID_CREDENTIALS" in answers


# ---- item 11: a newer password link invalidates the older ones


def test_issuing_a_password_link_invalidates_the_older_ones(identity, identity_db):
    email = new_email("reset")
    identity.account_for_invitation(email, "Reset", PASSWORD)
    identity.request_password_reset(email)
    identity.request_password_reset(email)
    older, newer = reset_tokens(identity_db, email)
    with pytest.raises(AppError) as stale:
        identity.confirm_password_reset(older, "an older new password")
    assert stale.value.code == "TOKEN_INVALID"
    identity.confirm_password_reset(newer, "the newest password")
    assert identity.login(email, "the newest password")["access_token"]


def test_using_a_password_link_invalidates_the_older_ones(identity, identity_db):
    """Two links issued at the same moment (neither saw the other): using one kills the other."""
    email = new_email("race")
    identity.account_for_invitation(email, "Race", PASSWORD)
    calls = [identity.request_password_reset.call_async(email) for _ in range(4)]
    outcomes(calls)
    *others, last = reset_tokens(identity_db, email)
    identity.confirm_password_reset(last, "the newest password")
    for token in others:
        with pytest.raises(AppError) as stale:
            identity.confirm_password_reset(token, "an older new password")
        assert stale.value.code == "TOKEN_INVALID"
    assert identity.login(email, "the newest password")["access_token"]


# ---- item 15: reuse of a rotated refresh token revokes its family


def test_reusing_a_rotated_refresh_token_revokes_its_family(identity):
    email = new_email("family")
    identity.account_for_invitation(email, "Family", PASSWORD)
    first = identity.login(email, PASSWORD)["refresh_token"]
    other_session = identity.login(email, PASSWORD)["refresh_token"]
    second = identity.refresh(first)["refresh_token"]
    with pytest.raises(AppError) as replayed:
        identity.refresh(first)  # a stolen copy of the rotated token
    assert replayed.value.code == "TOKEN_INVALID"
    with pytest.raises(AppError) as revoked:
        identity.refresh(second)  # the token it was swapped for is dead too
    assert revoked.value.code == "TOKEN_INVALID"
    assert identity.refresh(other_session)["refresh_token"]  # another sign-in is another family


# ---- item 1: an organization edits only its own profile of a person


def test_an_organization_renames_only_its_own_profile_of_a_person(identity):
    org_a, org_b = new_org(identity), new_org(identity)
    email = new_email("shared")
    person = identity.ensure_person(org_a, {"email": email, "full_name": "Sam Original"})
    identity.ensure_person(org_b, {"email": email, "full_name": "Sam at B"})
    renamed = identity.update_person(org_b, person["user_id"], {"full_name": "Renamed By Org B"})
    assert renamed["full_name"] == "Renamed By Org B"
    assert identity.get_person(org_b, person["user_id"])["full_name"] == "Renamed By Org B"
    assert identity.get_person(org_a, person["user_id"])["full_name"] == "Sam Original"
    assert identity.get_user(person["user_id"])["full_name"] == "Sam Original"
    assert identity.find_user(email)["full_name"] == "Sam Original"
