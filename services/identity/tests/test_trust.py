"""Issue 11 in identity: an unverified sign-up's password is never trusted for
what someone else grants the address."""
import pytest
from sqlalchemy import text

from contracts.errors import AppError
from services.identity.tests.conftest import new_email, new_org

ATTACKER_PASSWORD = "the attacker's password"


def password_links(identity_db, email: str) -> list[dict]:
    with identity_db.connect() as conn:
        return conn.execute(text(
            "SELECT envelope->'payload' FROM kit_outbox WHERE event_type = 'identity.user.password_reset_requested.v1' "
            "AND envelope->'payload'->>'email' = :email ORDER BY id"), {"email": email}).scalars().all()


def session_from_before_verified_logins(identity, user: dict) -> str:
    """The squatter's own sign-in is refused now (EMAIL_NOT_VERIFIED); a
    session issued before that rule (issue_tokens, as login did) must die too."""
    with pytest.raises(AppError) as refused:
        identity.login(user["email"], ATTACKER_PASSWORD)
    assert refused.value.code == "EMAIL_NOT_VERIFIED"
    return identity.issue_tokens(user["id"])["refresh_token"]


def test_a_role_granted_to_an_unverified_signup_does_not_trust_its_password(identity, identity_db):
    org_id = new_org(identity)
    email = new_email("new.cfo")
    squatter = identity.signup(email, "Not The CFO", ATTACKER_PASSWORD)
    stolen_session = session_from_before_verified_logins(identity, squatter)

    identity.add_admin(org_id, email, "The CFO", "ORG_ADMIN", [])

    with pytest.raises(AppError) as refused:
        identity.login(email, ATTACKER_PASSWORD)
    assert refused.value.code == "INVALID_CREDENTIALS"
    with pytest.raises(AppError) as revoked:
        identity.refresh(stolen_session)
    assert revoked.value.code == "TOKEN_INVALID"
    # the address gets the first-password link; using it proves the address
    [link] = [p for p in password_links(identity_db, email) if p["reason"] == "FIRST_PASSWORD"]
    identity.confirm_password_reset(link["reset_url"].split("token=")[1], "the real CFO's password")
    tokens = identity.login(email, "the real CFO's password")
    assert identity.find_user(email)["email_verified"] is True and tokens["access_token"]


def test_accepting_an_invitation_for_an_unverified_signup_needs_a_new_password(identity):
    email = new_email("invitee")
    squatter = identity.signup(email, "Squatter", ATTACKER_PASSWORD)
    stolen_session = session_from_before_verified_logins(identity, squatter)
    with pytest.raises(AppError) as needs_password:
        identity.account_for_invitation(email, "Real Invitee", None)
    assert needs_password.value.code == "INVALID_INPUT"
    identity.account_for_invitation(email, "Real Invitee", "the invitee's own password")
    with pytest.raises(AppError):
        identity.login(email, ATTACKER_PASSWORD)
    with pytest.raises(AppError):
        identity.refresh(stolen_session)
    assert identity.login(email, "the invitee's own password")["access_token"]
    assert identity.find_user(email)["full_name"] == "Real Invitee"


def test_a_verified_account_keeps_its_password_when_granted_a_role(identity, identity_db):
    org_id = new_org(identity)
    email = new_email("verified")
    identity.account_for_invitation(email, "Vera", "vera's own password")  # verified by the emailed link
    session = identity.login(email, "vera's own password")["refresh_token"]
    identity.add_admin(org_id, email, "Vera", "ORG_ADMIN", [])
    assert identity.login(email, "vera's own password")["access_token"]
    assert identity.refresh(session)["refresh_token"]
    assert password_links(identity_db, email) == []


def test_database_errors_never_carry_their_sql_parameters(identity_db):
    """Issue 11 item 9: an error's text reaches the logs (and, over RPC, the
    gateway's); the values bound to the statement, e.g. a password hash, must not."""
    from sqlalchemy.exc import IntegrityError

    from servicekit.db import make_engine
    from servicekit.standalone import unit_of_work

    email = new_email("taken")
    secret = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0$not-for-logs"
    insert = text("INSERT INTO users (id, email, full_name, password_hash) "
                  "VALUES (gen_random_uuid(), :email, 'Taken', :hash)")
    with identity_db.begin() as conn:
        conn.execute(insert, {"email": email, "hash": "an earlier hash"})
    engine = make_engine("identity")
    with pytest.raises(IntegrityError) as failed, engine.begin() as conn:
        conn.execute(insert, {"email": email, "hash": secret})  # the same email again
    engine.dispose()
    assert secret not in str(failed.value)
    with pytest.raises(IntegrityError) as failed, unit_of_work("identity") as uow:
        uow.session.execute(insert, {"email": email, "hash": secret})
    assert secret not in str(failed.value)
