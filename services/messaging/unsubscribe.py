"""The unsubscribe token: a signed, login-free link naming who leaves which
kind of email (plain functions: the secret is a setting)."""
import base64
import hashlib
import hmac

from contracts.errors import AppError, ErrorCode
from servicekit.models import normalize_email
from services.messaging.render import OPT_OUT_COLUMN


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _signature(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:18]


def make_token(secret: bytes, email: str, category: str) -> str:
    payload = f"{normalize_email(email)}\n{category}".encode()
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def read_token(secret: bytes, token: str) -> tuple[str, str]:
    """(email, category) of a token this service signed; TOKEN_INVALID otherwise."""
    refused = AppError(ErrorCode.TOKEN_INVALID, "this unsubscribe link is not valid")
    try:
        encoded, _, signature = token.partition(".")
        payload = _unb64(encoded)
        if not hmac.compare_digest(_signature(secret, payload), _unb64(signature)):
            raise refused
        email, category = payload.decode().split("\n")
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if category not in OPT_OUT_COLUMN:
        raise refused
    return email, category
