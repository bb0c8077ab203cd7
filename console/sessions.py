"""The session cookie, encrypted (not only signed), and refresh-token rotation without races.

`EncryptedSessionInterface`: Flask's cookie session with its serializer replaced by Fernet
(`cryptography`: AES-128-CBC + HMAC-SHA256, with a timestamp): the cookie is opaque to the browser,
so the access and refresh tokens in it cannot be read even by base64-decoding it. The Fernet key is
derived (HKDF-SHA256) from CONSOLE_SECRET, which has no silent default outside APP_ENV=development
(console/settings.py).

`RefreshCoordinator`: identity rotates refresh tokens and treats a rotated token used again as
stolen (the whole family is revoked). Two requests of one browser carrying the same expired access
token (two tabs, htmx fragments, a page and its download) would both refresh with the same token: the
second would sign the person out. The coordinator serialises refreshes per refresh token in this
process and hands a request that arrives within `grace` seconds of a rotation the tokens that
rotation issued."""
import base64
import hashlib
import threading
import time

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature


def fernet_key(secret: str) -> bytes:
    """A Fernet key (32 bytes, urlsafe base64) derived from the console's secret."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"learnadmin-console",
                   info=b"session cookie v1").derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


class FernetSerializer:
    """What Flask's cookie session asks of its serializer: dumps(dict) -> str, loads(str, max_age) -> dict,
    BadSignature for anything it cannot open (tampered, another key, too old)."""

    def __init__(self, secret: str):
        self.fernet = Fernet(fernet_key(secret))
        self.json = TaggedJSONSerializer()

    def dumps(self, value: dict) -> str:
        return self.fernet.encrypt(self.json.dumps(value).encode()).decode("ascii")

    def loads(self, value: str | bytes, max_age: int | None = None) -> dict:
        try:
            data = value.encode("ascii") if isinstance(value, str) else value
            return self.json.loads(self.fernet.decrypt(data, ttl=max_age).decode())
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise BadSignature("the session cookie cannot be opened") from exc


class EncryptedSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        cached = app.extensions.get("session_serializer")
        if cached is None:
            cached = app.extensions["session_serializer"] = FernetSerializer(app.secret_key)
        return cached


class RefreshCoordinator:
    """One refresh per refresh token at a time in this process; its result reused for `grace` seconds."""

    def __init__(self, grace: float = 30.0):
        self.grace = grace
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._recent: dict[str, tuple[float, dict]] = {}  # digest of the used token -> (until, new tokens)

    def refresh(self, refresh_token: str, rotate) -> dict:
        """`rotate()` calls the API; a concurrent or just-finished refresh of the same token is reused."""
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            now = time.monotonic()
            recent = self._recent.get(key)
            if recent and recent[0] > now:
                return recent[1]
            try:
                tokens = rotate()
            except Exception:
                with self._guard:
                    if key not in self._recent:
                        self._locks.pop(key, None)
                raise
            with self._guard:
                self._recent[key] = (now + self.grace, tokens)
                self._forget_old(now)
            return tokens

    def _forget_old(self, now: float) -> None:
        for key in [k for k, (until, _) in self._recent.items() if until <= now]:
            del self._recent[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
