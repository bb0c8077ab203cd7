"""invitations' rules on plain objects: no database, no broker."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import AppError, ErrorCode
from services.invitations.models import ImportJob, Invitation, hash_token, new_token
from services.invitations.settings import InvitationSettings

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def pending(expires_in=timedelta(days=1), state="PENDING") -> Invitation:
    return Invitation(state=state, token_hash="old", expires_at=AT + expires_in, send_count=1)


def refused(action) -> str:
    with pytest.raises(AppError) as error:
        action()
    return error.value.code


def test_a_pending_invitation_in_time_is_usable():
    pending().require_usable(AT)


def test_expiry_applies_before_the_expiry_job_has_run():
    late = pending(expires_in=timedelta(0))
    assert late.is_expired(AT) and late.state == "PENDING"
    assert refused(lambda: late.require_usable(AT)) == ErrorCode.INVITATION_EXPIRED


@pytest.mark.parametrize("state, code", [("ACCEPTED", ErrorCode.INVITATION_USED),
                                         ("REVOKED", ErrorCode.INVITATION_REVOKED),
                                         ("EXPIRED", ErrorCode.INVITATION_EXPIRED)])
def test_a_closed_invitation_says_why(state, code):
    closed = pending(state=state)
    assert refused(lambda: closed.require_usable(AT)) == code
    assert refused(lambda: closed.renew_link("new", AT, timedelta(days=90))) == code
    assert refused(lambda: closed.revoke(AT, "ADMIN")) == code


def test_renewing_replaces_the_link_and_the_expiry():
    inv = pending()
    inv.renew_link("new", AT, timedelta(days=90))
    assert (inv.token_hash, inv.expires_at, inv.last_sent_at, inv.send_count) == \
        ("new", AT + timedelta(days=90), AT, 2)


def test_revoking_and_accepting_close_it_with_a_reason():
    revoked, accepted = pending(), pending()
    revoked.revoke(AT, "ADMIN")
    accepted.accept(AT)
    assert (revoked.state, revoked.closed_at, revoked.close_reason) == ("REVOKED", AT, "ADMIN")
    assert (accepted.state, accepted.closed_at, accepted.close_reason) == ("ACCEPTED", AT, "ACCEPTED")


def test_tokens_are_random_and_stored_only_hashed():
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 40
    assert hash_token(first) != first and len(hash_token(first)) == 64


def test_an_import_claimed_too_often_has_failed():
    assert not ImportJob(attempts=10).failed_too_often(10)
    assert ImportJob(attempts=11).failed_too_often(10)


def test_settings_come_from_the_environment_given():
    settings = InvitationSettings.from_env({"INVITATION_TTL_DAYS": "7", "INVITATION_IMPORT_BATCH": "200",
                                            "PUBLIC_URL": "https://learn.example/"})
    assert settings.ttl == timedelta(days=7) and settings.import_batch == 200
    assert settings.accept_url("abc") == "https://learn.example/invitations/accept?token=abc"
    assert InvitationSettings.from_env({}) == InvitationSettings()
