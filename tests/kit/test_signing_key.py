"""Issue 11 item 2: access tokens are signed by identity's private key and
verified by the gateway with public keys only. No process starts with a
missing or development key outside explicit development mode
(APP_ENV=development); forged tokens (another key, algorithm confusion,
`alg: none`) are refused; key rotation keeps both keys valid during the overlap."""
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from contracts.errors import AppError, ErrorCode
from gateway import auth
from servicekit import config, signing
from servicekit.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
USER_ID = "00000000-0000-4000-8000-000000000001"


def pem(private_key) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def claims(**extra) -> dict:
    return {"sub": USER_ID, "typ": "access", "email": "admin@acme.example", "email_verified": True,
            "roles": [{"role": "ORG_ADMIN", "org_id": "org"}], "ver": 0, "exp": int(time.time()) + 600, **extra}


@pytest.fixture
def gateway_keys(monkeypatch):
    """Configure the gateway's JWT_PUBLIC_KEYS for one test: gateway_keys(*public keys as PEM or JWKS)."""
    def configure(text: str | None):
        if text is None:
            monkeypatch.delenv("JWT_PUBLIC_KEYS", raising=False)
        else:
            monkeypatch.setenv("JWT_PUBLIC_KEYS", text)
        auth.public_keys.reset()
        auth.access_token_cache._entries.clear()

    yield configure
    auth.public_keys.reset()
    auth.access_token_cache._entries.clear()


def refused(token: str, identity_rpc=None) -> ErrorCode:
    with pytest.raises(AppError) as error:
        auth.decode_access_token(token, identity_rpc)
    return error.value.code


# ---- identity's key ------------------------------------------------------------------------------


def test_outside_development_identity_needs_its_own_private_key(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY must be set"):
        config.check_startup(signs_access_tokens=True)
    monkeypatch.setenv("JWT_PRIVATE_KEY", "not a key")
    with pytest.raises(ConfigError, match="not a readable"):
        config.check_startup(signs_access_tokens=True)
    monkeypatch.setenv("JWT_PRIVATE_KEY", pem(signing.development_private_key()))
    with pytest.raises(ConfigError, match="development key"):
        config.check_startup(signs_access_tokens=True)
    monkeypatch.setenv("JWT_PRIVATE_KEY", pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(ConfigError, match="2048"):
        config.check_startup(signs_access_tokens=True)
    own = ed25519.Ed25519PrivateKey.generate()
    monkeypatch.setenv("JWT_PRIVATE_KEY", pem(own))
    key = signing.SigningKey.from_env()
    assert key.algorithm == "EdDSA" and key.kid == signing.public_jwk(own.public_key())["kid"]
    config.check_startup()  # the other processes check no key at all


def test_development_mode_is_explicit(monkeypatch):
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    development = signing.public_jwk(signing.development_private_key().public_key())
    assert signing.SigningKey.from_env().kid == development["kid"]
    monkeypatch.setenv("APP_ENV", "dev")  # anything but "development" is not development
    with pytest.raises(ConfigError):
        signing.SigningKey.from_env()


def _start(target: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEYS")}
    environ["IDENTITY_BROKER_PASSWORD"] = environ["GATEWAY_BROKER_PASSWORD"] = "a-broker-password-long-enough"
    return subprocess.run([sys.executable, "-m", "servicekit.run", target], env={**environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_identity_refuses_to_start_without_a_real_key_and_the_gateway_with_a_bad_public_key():
    started = time.monotonic()
    missing = _start("services.identity.service:IdentityService")
    assert missing.returncode != 0 and "JWT_PRIVATE_KEY must be set" in missing.stderr
    development = _start("services.identity.service:IdentityService",
                         JWT_PRIVATE_KEY=pem(signing.development_private_key()))
    assert development.returncode != 0 and "development key" in development.stderr
    private = _start("gateway.app:Gateway", JWT_PUBLIC_KEYS=pem(ed25519.Ed25519PrivateKey.generate()))
    assert private.returncode != 0 and "PRIVATE key" in private.stderr
    assert time.monotonic() - started < 60


def test_only_identity_signs_and_only_the_gateway_verifies():
    from gateway.app import Gateway
    from services.identity.service import IdentityService
    from services.invitations.service import InvitationsService
    from services.messaging.service import MessagingService
    from services.programs.service import ProgramsService

    classes = (Gateway, IdentityService, InvitationsService, MessagingService, ProgramsService)
    assert {cls.name for cls in classes if getattr(cls, "signs_access_tokens", False)} == {"identity"}
    assert {cls.name for cls in classes if getattr(cls, "verifies_access_tokens", False)} == {"gateway"}
    assert not hasattr(config, "jwt_secret"), "the shared JWT_SECRET is gone"


# ---- the gateway's verification ----------------------------------------------------------------


def test_a_token_signed_by_identity_is_accepted_with_its_public_key_only(gateway_keys):
    identity_key = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    gateway_keys(public_pem(identity_key.private_key))
    token = identity_key.sign(claims())
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": identity_key.kid, "typ": "JWT"}
    assert auth.decode_access_token(token).user_id == USER_ID


def test_forged_tokens_are_refused(gateway_keys):
    identity_key = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    public = public_pem(identity_key.private_key)
    gateway_keys(public)
    other_key = ed25519.Ed25519PrivateKey.generate()
    # signed with another key, claiming identity's kid
    assert refused(jwt.encode(claims(), other_key, algorithm="EdDSA",
                              headers={"kid": identity_key.kid})) == ErrorCode.TOKEN_INVALID
    # another key with its own kid
    assert refused(signing.SigningKey(other_key).sign(claims())) == ErrorCode.TOKEN_INVALID
    # algorithm confusion: HS256 with the public key (PEM, or its raw bytes) as the HMAC secret
    for secret in (public.encode(), base64.urlsafe_b64decode(signing.public_jwk(identity_key.public_key)["x"] + "=")):
        header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": identity_key.kid, "typ": "JWT"})
                                          .encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
        import hashlib
        import hmac
        mac = base64.urlsafe_b64encode(hmac.new(secret, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
        assert refused(b".".join([header, body, mac]).decode()) == ErrorCode.TOKEN_INVALID
    # alg: none (unsigned), with and without identity's kid
    for header in ({"alg": "none", "kid": identity_key.kid}, {"alg": "none"}):
        unsigned = jwt.encode(claims(), None, algorithm="none", headers=header)
        assert refused(unsigned) == ErrorCode.TOKEN_INVALID
    # the former shared secret (HS256) means nothing any more
    assert refused(jwt.encode(claims(), "dev-only-secret-change-me-0123456789abcdef", algorithm="HS256",
                              headers={"kid": identity_key.kid})) == ErrorCode.TOKEN_INVALID
    # a token that names no kid
    assert refused(jwt.encode(claims(), identity_key.private_key, algorithm="EdDSA")) == ErrorCode.TOKEN_INVALID
    # identity's real token still works
    assert auth.decode_access_token(identity_key.sign(claims())).user_id == USER_ID


def test_rotation_old_and_new_keys_are_both_valid_during_the_overlap(gateway_keys, monkeypatch):
    old = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    new = signing.SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))  # RS256 works too
    old_token, new_token = old.sign(claims()), new.sign(claims(jti="new"))
    # 1. the gateway accepts both public keys (JWKS or PEM) while identity switches keys
    gateway_keys(json.dumps(signing.jwks([old.public_key, new.public_key])))
    assert auth.decode_access_token(old_token).user_id == USER_ID
    assert auth.decode_access_token(new_token).user_id == USER_ID
    assert jwt.get_unverified_header(new_token)["alg"] == "RS256"
    # 2. once the old tokens have expired, the old key is dropped: its tokens are refused
    gateway_keys(public_pem(new.private_key))
    assert refused(old_token) == ErrorCode.TOKEN_INVALID
    assert auth.decode_access_token(new_token).user_id == USER_ID
    # identity publishes the previous key in its JWKS during the overlap (JWT_PUBLISHED_PUBLIC_KEYS)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_PRIVATE_KEY", pem(new.private_key))
    monkeypatch.setenv("JWT_PUBLISHED_PUBLIC_KEYS", public_pem(old.private_key))
    published = signing.SigningKey.from_env().jwks()
    assert [jwk["kid"] for jwk in published["keys"]] == [new.kid, old.kid]
    assert all("d" not in jwk and "p" not in jwk for jwk in published["keys"]), "no private part in a JWKS"


class FakeIdentity:
    """identity's `jwks` RPC, counting calls."""

    def __init__(self, *keys):
        self.keys = list(keys)
        self.calls = 0

    def jwks(self):
        self.calls += 1
        return signing.jwks([key.public_key for key in self.keys])


def test_without_configured_keys_the_gateway_uses_identitys_jwks_and_follows_a_rotation(gateway_keys, monkeypatch):
    gateway_keys(None)
    old = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    new = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    identity = FakeIdentity(old)
    assert auth.decode_access_token(old.sign(claims()), identity).user_id == USER_ID
    assert auth.decode_access_token(old.sign(claims(jti="2")), identity).user_id == USER_ID
    assert identity.calls == 1, "the JWKS is cached"
    identity.keys = [new, old]  # identity rotated: a token with the new kid makes the gateway fetch again
    monkeypatch.setattr(auth, "JWKS_MIN_REFETCH_SECONDS", 0.0)
    assert auth.decode_access_token(new.sign(claims()), identity).user_id == USER_ID
    assert auth.decode_access_token(old.sign(claims(jti="3")), identity).user_id == USER_ID
    assert identity.calls == 2
    # an unknown kid costs at most one fetch per JWKS_MIN_REFETCH_SECONDS
    monkeypatch.setattr(auth, "JWKS_MIN_REFETCH_SECONDS", 60.0)
    stranger = signing.SigningKey(ed25519.Ed25519PrivateKey.generate())
    for n in range(5):
        assert refused(stranger.sign(claims(jti=str(n))), identity) == ErrorCode.TOKEN_INVALID
    assert identity.calls == 2


def test_public_keys_never_take_a_private_key():
    with pytest.raises(ConfigError, match="PRIVATE"):
        signing.parse_public_keys(pem(ed25519.Ed25519PrivateKey.generate()))
    key = ed25519.Ed25519PrivateKey.generate()
    both = public_pem(key) + public_pem(signing.development_private_key())
    assert len(signing.parse_public_keys(both)) == 2


def test_unsubscribe_links_have_their_own_secret(monkeypatch):
    from services.messaging import unsubscribe
    from services.messaging.render import PROGRAM
    from services.messaging.settings import DEV_UNSUBSCRIBE_SECRET, MessagingSettings

    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_SECRET must be set"):
        MessagingSettings.from_env({})
    for weak in ("short", DEV_UNSUBSCRIBE_SECRET):
        with pytest.raises(ConfigError, match="too weak"):
            MessagingSettings.from_env({"UNSUBSCRIBE_SECRET": weak})
    own = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d"
    settings = MessagingSettings.from_env({"UNSUBSCRIBE_SECRET": own})
    assert settings.unsubscribe_key == own.encode()
    token = unsubscribe.make_token(settings.unsubscribe_key, "a@example.com", PROGRAM)
    assert unsubscribe.read_token(settings.unsubscribe_key, token) == ("a@example.com", PROGRAM)
    for other_key in (b"4f1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e", b"anything else"):
        with pytest.raises(AppError):
            unsubscribe.read_token(other_key, token)
    monkeypatch.setenv("APP_ENV", "development")
    assert MessagingSettings.from_env({}).unsubscribe_key == DEV_UNSUBSCRIBE_SECRET.encode()
