"""No process starts with a default or weak signing key outside explicit
development mode (APP_ENV=development), and a token signed with the
development key is refused once a real key is configured."""
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from contracts.errors import AppError, ErrorCode
from servicekit import config
from servicekit.config import DEV_JWT_SECRET, KNOWN_WEAK_SECRETS, ConfigError

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "4f1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"


def production(monkeypatch, secret: str | None):
    monkeypatch.delenv("APP_ENV", raising=False)
    if secret is None:
        monkeypatch.delenv("JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("JWT_SECRET", secret)


def test_outside_development_the_key_must_be_set_long_and_not_an_example(monkeypatch):
    production(monkeypatch, None)
    with pytest.raises(ConfigError, match="JWT_SECRET must be set"):
        config.jwt_secret()
    for weak in ["short-secret", *KNOWN_WEAK_SECRETS]:
        production(monkeypatch, weak)
        with pytest.raises(ConfigError, match="too weak"):
            config.check_startup()
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", REAL_SECRET)
    assert config.jwt_secret() == REAL_SECRET


def test_development_mode_is_explicit(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    assert config.jwt_secret() == DEV_JWT_SECRET
    monkeypatch.setenv("APP_ENV", "dev")  # anything but "development" is not development
    with pytest.raises(ConfigError):
        config.jwt_secret()


def _start(target: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "JWT_SECRET")}
    return subprocess.run([sys.executable, "-m", "servicekit.run", target], env={**environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", ["services.identity.service:IdentityService", "gateway.app:Gateway"])
def test_a_process_refuses_to_start_without_a_real_key(target):
    started = time.monotonic()
    missing = _start(target)
    assert missing.returncode != 0 and "JWT_SECRET must be set" in missing.stderr
    weak = _start(target, JWT_SECRET=DEV_JWT_SECRET)
    assert weak.returncode != 0 and "JWT_SECRET is too weak" in weak.stderr
    assert time.monotonic() - started < 60


def _admin_token(secret: str) -> str:
    claims = {"sub": "00000000-0000-4000-8000-000000000001", "typ": "access", "email": "admin@acme.example",
              "email_verified": True, "roles": [{"role": "ORG_ADMIN", "org_id": "org"}],
              "exp": int(time.time()) + 600}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_a_token_signed_with_the_development_key_is_refused_when_a_real_key_is_set(monkeypatch):
    from gateway.auth import decode_access_token

    production(monkeypatch, REAL_SECRET)
    with pytest.raises(AppError) as refused:
        decode_access_token(_admin_token(DEV_JWT_SECRET))
    assert refused.value.code == ErrorCode.TOKEN_INVALID
    assert decode_access_token(_admin_token(REAL_SECRET)).user_id == "00000000-0000-4000-8000-000000000001"


def test_only_the_processes_that_use_the_signing_key_need_it(monkeypatch):
    """programs, invitations and messaging get no JWT_SECRET (issue 11 item 2) and start without it."""
    production(monkeypatch, None)
    config.check_startup(uses_jwt_secret=False)
    with pytest.raises(ConfigError, match="JWT_SECRET must be set"):
        config.check_startup(uses_jwt_secret=True)
    from gateway.app import Gateway
    from services.identity.service import IdentityService
    from services.invitations.service import InvitationsService
    from services.messaging.service import MessagingService
    from services.programs.service import ProgramsService

    users = {cls.name for cls in (Gateway, IdentityService, InvitationsService, MessagingService, ProgramsService)
             if getattr(cls, "uses_jwt_secret", False)}
    assert users == {"gateway", "identity"}


def test_unsubscribe_links_have_their_own_secret(monkeypatch):
    from services.messaging import unsubscribe
    from services.messaging.render import PROGRAM
    from services.messaging.settings import DEV_UNSUBSCRIBE_SECRET, MessagingSettings

    production(monkeypatch, REAL_SECRET)
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_SECRET must be set"):
        MessagingSettings.from_env({})  # no longer derived from JWT_SECRET
    for weak in ("short", DEV_UNSUBSCRIBE_SECRET):
        with pytest.raises(ConfigError, match="too weak"):
            MessagingSettings.from_env({"UNSUBSCRIBE_SECRET": weak})
    own = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d"
    settings = MessagingSettings.from_env({"UNSUBSCRIBE_SECRET": own})
    assert settings.unsubscribe_key == own.encode()
    token = unsubscribe.make_token(settings.unsubscribe_key, "a@example.com", PROGRAM)
    assert unsubscribe.read_token(settings.unsubscribe_key, token) == ("a@example.com", PROGRAM)
    for other_key in (REAL_SECRET.encode(), b"anything else"):  # a JWT_SECRET holder cannot forge links
        with pytest.raises(AppError):
            unsubscribe.read_token(other_key, token)
    monkeypatch.setenv("APP_ENV", "development")
    assert MessagingSettings.from_env({}).unsubscribe_key == DEV_UNSUBSCRIBE_SECRET.encode()
