"""Secrets: argon2 password hashes, random tokens stored as SHA-256 digests,
and the JWT access tokens the gateway verifies."""
import hashlib
import secrets
import uuid
from datetime import UTC, datetime

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool

from servicekit import config
from services.identity.settings import settings

_hasher = PasswordHasher()
# A real hash to verify against when the account does not exist, so both
# answers take the same time.
_DUMMY_HASH = _hasher.hash("not-a-password")


def hash_password(password: str) -> str:
    # argon2 is deliberately slow: run it in an OS thread so the other
    # green threads of the worker pool keep going.
    return tpool.execute(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return tpool.execute(_hasher.verify, password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(user_id: str, email: str, email_verified: bool, roles: list[dict]) -> tuple[str, int]:
    now = datetime.now(UTC)
    ttl = settings().access_token_ttl
    claims = {
        "sub": user_id,
        "typ": "access",
        "email": email,
        "email_verified": email_verified,
        "roles": roles,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, config.jwt_secret(), algorithm="HS256"), int(ttl.total_seconds())
