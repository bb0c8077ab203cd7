"""identity's rules on its models, as plain objects: no database, no broker."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import AppError, ErrorCode
from services.identity.models import (
    AdminRole,
    ApiToken,
    LoginFailures,
    OneTimeToken,
    Organization,
    RefreshToken,
    User,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_user_is_verified_once():
    user = User(email="a@x.org", full_name="A")
    assert not user.email_verified
    assert user.mark_verified(NOW) is True
    assert user.mark_verified(NOW + timedelta(hours=1)) is False
    assert user.email_verified and user.email_verified_at == NOW


def test_organization_reports_only_the_settings_that_changed():
    org = Organization(name="Acme", timezone="UTC", brand_color="#000000")
    assert org.apply({"timezone": "UTC", "brand_color": "#112233"}) == ["brand_color"]
    assert org.brand_color == "#112233" and org.settings()["timezone"] == "UTC"


def test_one_time_link_is_used_once_and_only_before_it_expires():
    link = OneTimeToken(expires_at=NOW + timedelta(hours=1))
    link.redeem(NOW)
    assert link.used_at == NOW
    with pytest.raises(AppError) as again:
        link.redeem(NOW)
    assert again.value.code == ErrorCode.TOKEN_INVALID
    with pytest.raises(AppError) as late:
        OneTimeToken(expires_at=NOW).redeem(NOW)
    assert late.value.code == ErrorCode.TOKEN_EXPIRED


def test_refresh_token_lives_until_revoked_or_expired():
    token = RefreshToken(expires_at=NOW + timedelta(days=1))
    assert token.is_live(NOW) and not token.is_live(NOW + timedelta(days=1))
    token.revoke(NOW)
    token.revoke(NOW + timedelta(minutes=1))  # the first revocation stands
    assert not token.is_live(NOW) and token.revoked_at == NOW


def test_api_token_revocation_is_idempotent():
    token = ApiToken(scopes=[])
    token.revoke(NOW)
    token.revoke(NOW + timedelta(seconds=5))
    assert token.revoked_at == NOW


def test_throttle_tells_how_long_to_wait():
    window = timedelta(minutes=15)
    assert LoginFailures(window_started_at=NOW - window).retry_after_seconds(NOW, window) is None
    assert LoginFailures(window_started_at=NOW - timedelta(minutes=10)).retry_after_seconds(NOW, window) == 301
    locked = LoginFailures(window_started_at=NOW, locked_until=NOW + timedelta(seconds=30.5))
    assert locked.retry_after_seconds(NOW + timedelta(seconds=1), timedelta(seconds=1)) == 30


def test_each_lock_lasts_twice_the_one_before_up_to_a_day():
    window = timedelta(minutes=15)
    assert [LoginFailures.lock_duration(window, n) for n in range(3)] == [window, 2 * window, 4 * window]
    assert LoginFailures.lock_duration(window, 10) == timedelta(hours=24)
    assert LoginFailures.lock_duration(window, 10_000) == timedelta(hours=24)


def test_admin_grants():
    assert AdminRole.programs_for("ORG_ADMIN", ["p1"]) == []
    assert AdminRole.programs_for("PROGRAM_ADMIN", ["p2", "p1", "p2"]) == ["p1", "p2"]
    with pytest.raises(AppError) as no_program:
        AdminRole.programs_for("PROGRAM_ADMIN", [])
    assert no_program.value.code == ErrorCode.INVALID_INPUT
    program_admin = AdminRole(role="PROGRAM_ADMIN", program_ids=["p1"])
    program_admin.grant_again(["p3", "p1"])
    assert program_admin.program_ids == ["p1", "p3"]
    with pytest.raises(AppError) as twice:
        AdminRole(role="ORG_ADMIN", program_ids=[]).grant_again([])
    assert twice.value.code == ErrorCode.ALREADY_ADMIN


def test_an_unverified_signups_password_is_not_trusted():
    squatter = User(email="cfo@x.org", full_name="S", password_hash="$argon2id$...")
    assert squatter.distrust_unverified_password() is True and squatter.password_hash is None
    assert squatter.distrust_unverified_password() is False  # nothing left to forget
    owner = User(email="me@x.org", full_name="M", password_hash="$argon2id$...", email_verified_at=NOW)
    assert owner.distrust_unverified_password() is False and owner.password_hash


def test_failures_are_counted_per_real_client_address_only():
    from services.identity.commands.throttle import Keys

    remote = Keys("a@x.org", "203.0.113.9")
    assert (remote.email, remote.client, remote.pair) == ("e:a@x.org", "c:203.0.113.9", "p:203.0.113.9|a@x.org")
    for unknown in (None, "", "not an address", "127.0.0.1", "::1"):  # loopback: a local proxy, not a client
        keys = Keys("a@x.org", unknown)
        assert keys.client is None and keys.pair == "p:|a@x.org"
    assert Keys("a@x.org", "2001:db8::1").client == "c:2001:db8::1"
