"""Signed, expiring tokens: the emailed download links (24 h) and the
gateway's short export tickets (docs/reporting.md "Reports").

A token is `<payload>.<signature>`, both base64url without padding: the
payload is compact JSON (what the link was made for: organization, admin,
report, program scope, expiry) and the signature is HMAC-SHA256 over
`<purpose>.<payload>` with REPORT_LINK_SECRET. The purpose is part of what is
signed, so a ticket cannot be used as a link or the other way round.

The token holds no secret and is stored nowhere (reporting keeps no table of
links; messaging erases it from a delivery once the email is sent): what it
names is checked again when it is used (the admin still holds the scope)."""
import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from contracts.errors import AppError, ErrorCode

DOWNLOAD = "report-download"
EXPORT = "report-export"
MAX_TOKEN_LENGTH = 8192


def link_expired() -> AppError:
    # A plain AppError: it crosses RPC as one (nameko rebuilds it from its arguments).
    return AppError(ErrorCode.REPORT_LINK_EXPIRED, "this report link has expired; ask for the report again")


def link_invalid() -> AppError:
    # A tampered or unknown link names nothing: 404, the same answer whatever was wrong with it.
    return AppError(ErrorCode.NOT_FOUND, "report link not found")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(key, f"{purpose}.{payload}".encode(), hashlib.sha256).digest())


def sign(key: bytes, purpose: str, claims: dict, expires_at: datetime) -> str:
    body = dict(claims, exp=int(expires_at.timestamp()))
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_signature(key, purpose, payload)}"


def verify(key: bytes, purpose: str, token: str, now: datetime) -> dict:
    """The claims of a token this key signed for this purpose; 404 if it was
    not (tampered, truncated, another purpose), 410 once it has expired."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise link_invalid()
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature.encode(), _signature(key, purpose, payload).encode()):
        raise link_invalid()
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        raise link_invalid() from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise link_invalid()
    if now.timestamp() >= claims["exp"]:
        raise link_expired()
    return claims
