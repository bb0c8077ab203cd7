"""The connections' client secrets, encrypted at rest (Fernet: AES-128-CBC +
HMAC-SHA256) under a key derived from SSO_SECRET_KEY. A client secret must be
sent to the provider as it is, so it is encrypted, not hashed; it is never
answered by any API, logged or put in an event."""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from contracts.errors import AppError, ErrorCode
from servicekit import config

DEV_SSO_SECRET_KEY = "dev-only-sso-secret-key-0123456789abcdef"


def check_key(raw: str | None) -> str:
    return config.required_secret("SSO_SECRET_KEY", raw, DEV_SSO_SECRET_KEY)


def _fernet() -> Fernet:
    from services.identity.settings import settings

    key = check_key(settings().sso_secret_key)
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"learnadmin-sso-v1|" + key.encode()).digest()))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE,
                       "this connection's client secret cannot be read (was SSO_SECRET_KEY changed?): "
                       "an org admin must enter it again") from None
