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
rotation issued.

`ChunkedCookies`: a program admin's access token carries their program ids, so the encrypted value
outgrows a browser's 4 KB per cookie at about 45 programs. It is split across `console_session`,
`console_session.1`, ... (each well under 4 KB with its name and attributes); the first cookie says how
many there are (`3.gAAAA...`), a value that fits one cookie is written as before. The chunks are joined
before Fernet opens them, so a missing, extra or altered chunk is no session. To keep the whole Cookie
header small the serializer stores the access token's claims (never secret: only the token's signature,
which stays uncompressed, is) zlib-compressed: 200 programs take about 7 KB, under the 8 KB a proxy
accepts by default for one header line (docs/console.md, "Sessions and security")."""
import base64
import binascii
import hashlib
import logging
import re
import struct
import threading
import time
import zlib

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import has_request_context, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

log = logging.getLogger("console")
# What the whole Cookie header of a session stays under for a program admin of up to ~250 programs: one
# header line of 8 KB is what nginx (large_client_header_buffers 4 8k) and Apache (8,190) accept by default.
PROXY_HEADER_LINE = 8192


def fernet_key(secret: str) -> bytes:
    """A Fernet key (32 bytes, urlsafe base64) derived from the console's secret."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"learnadmin-console",
                   info=b"session cookie v1").derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The plaintext is the session's JSON ("{...}", as it always was) or, when it holds a JWT whose claims can be
# packed, COMPACT + the JSON's length (4 bytes) + the JSON (the token's claims segment left empty) + the claims
# compressed. Only the claims are compressed, never next to the refresh token, the CSRF token or the token's
# signature: a length that varies with them would tell nothing secret (no CRIME-like oracle).
COMPACT = b"\x01"


class FernetSerializer:
    """What Flask's cookie session asks of its serializer: dumps(dict) -> str, loads(str, max_age) -> dict,
    BadSignature for anything it cannot open (tampered, another key, too old)."""

    def __init__(self, secret: str):
        self.fernet = Fernet(fernet_key(secret))
        self.json = TaggedJSONSerializer()

    def dumps(self, value: dict) -> str:
        return self.fernet.encrypt(self._pack(value)).decode("ascii")

    def loads(self, value: str | bytes, max_age: int | None = None) -> dict:
        try:
            data = value.encode("ascii") if isinstance(value, str) else value
            return self._unpack(self.fernet.decrypt(data, ttl=max_age))
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError, struct.error, zlib.error) as exc:
            raise BadSignature("the session cookie cannot be opened") from exc

    def _pack(self, value: dict) -> bytes:
        parts = value.get("at").split(".") if isinstance(value.get("at"), str) else []
        if len(parts) == 3:
            try:
                claims = _unb64(parts[1])
            except (binascii.Error, ValueError):
                claims = None
            if claims is not None and _b64(claims) == parts[1]:  # rebuilt exactly, or kept as it is
                text = self.json.dumps({**value, "at": f"{parts[0]}..{parts[2]}"}).encode()
                return COMPACT + struct.pack(">I", len(text)) + text + zlib.compress(claims, 9)
        return self.json.dumps(value).encode()

    def _unpack(self, plain: bytes) -> dict:
        if not plain.startswith(COMPACT):
            return self.json.loads(plain.decode())
        (size,) = struct.unpack(">I", plain[1:5])
        value = self.json.loads(plain[5:5 + size].decode())
        header, empty, signature = value["at"].split(".")
        if empty:
            raise ValueError("not a packed token")
        value["at"] = f"{header}.{_b64(zlib.decompress(plain[5 + size:]))}.{signature}"
        return value


class ChunkedCookies:
    """One value across `name`, `name.1`, ...: the first holds `<count>.<chunk>` when there is more than one
    (a Fernet token has no dot), each chunk at most `size` characters."""

    FIRST = re.compile(r"([2-9]|[1-9][0-9]+)\.(.*)", re.S)

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size

    def split(self, value: str) -> list[str]:
        if len(value) <= self.size:
            return [value]
        chunks = [value[i:i + self.size] for i in range(0, len(value), self.size)]
        return [f"{len(chunks)}.{chunks[0]}", *chunks[1:]]

    def join(self, cookies) -> str | None:
        """The value, or None when there is none or a chunk is missing or empty."""
        first = cookies.get(self.name)
        if not first:
            return None
        counted = self.FIRST.fullmatch(first)
        if not counted:
            return first
        count, parts = int(counted.group(1)), [counted.group(2)]
        for index in range(1, count):
            part = cookies.get(f"{self.name}.{index}")
            if not part:
                return None
            parts.append(part)
        return "".join(parts)

    def extra_names(self, cookies) -> list[str]:
        """The names of the chunks this browser sent beyond the first, whatever their number."""
        pattern = re.compile(re.escape(self.name) + r"\.([1-9][0-9]*)")
        return [name for name in cookies if pattern.fullmatch(name)]


class EncryptedSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, encrypted and split into chunks (`ChunkedCookies`) when it outgrows one cookie."""

    # Characters of value per cookie: with the name (`console_session.NN`) and the attributes (Expires, Path,
    # HttpOnly, Secure, SameSite: under 120) each cookie stays under the 4,096 bytes every browser keeps.
    chunk_size = 3800

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        cached = app.extensions.get("session_serializer")
        if cached is None:
            cached = app.extensions["session_serializer"] = FernetSerializer(app.secret_key)
        return cached

    def chunks(self, app) -> ChunkedCookies:
        return ChunkedCookies(self.get_cookie_name(app), self.chunk_size)

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = self.chunks(app).join(request.cookies)
        if not value:
            return self.session_class()
        try:
            return self.session_class(serializer.loads(
                value, max_age=int(app.permanent_session_lifetime.total_seconds())))
        except BadSignature:
            return self.session_class()

    def save_session(self, app, session, response) -> None:
        chunks = self.chunks(app)
        attributes = {"domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
                      "secure": self.get_cookie_secure(app), "partitioned": self.get_cookie_partitioned(app),
                      "samesite": self.get_cookie_samesite(app), "httponly": self.get_cookie_httponly(app)}
        sent = chunks.extra_names(request.cookies) if has_request_context() else []
        if session.accessed:
            response.vary.add("Cookie")
        if not session:
            if session.modified:
                for name in (chunks.name, *sent):
                    response.delete_cookie(name, **attributes)
                response.vary.add("Cookie")
            return
        if not self.should_set_cookie(app, session):
            return
        value = self.get_signing_serializer(app).dumps(dict(session))
        parts = chunks.split(value)
        if len(value) + 20 * len(parts) > PROXY_HEADER_LINE:
            log.warning("a session cookie of %d bytes in %d chunks: a proxy in front of the console must accept "
                        "Cookie headers this long (docs/console.md, 'Sessions and security')", len(value), len(parts))
        expires = self.get_expiration_time(app, session)
        for index, part in enumerate(parts):
            response.set_cookie(chunks.name if index == 0 else f"{chunks.name}.{index}", part, expires=expires,
                                **attributes)
        for name in sent:  # the value shrank: chunks it no longer has are deleted
            if int(name.rsplit(".", 1)[1]) >= len(parts):
                response.delete_cookie(name, **attributes)
        response.vary.add("Cookie")


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
