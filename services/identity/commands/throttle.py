"""The login throttle: failures counted per (client address, email), per
client address and per email, in the database (shared by every replica).

Rules (docs/identity.md, "Login throttle"):
* a client gets LOGIN_MAX_FAILURES failures on one email per window, then
  that pair is locked, each lock twice as long as the one before (up to a day);
* a client gets LOGIN_MAX_FAILURES_PER_CLIENT failures over all emails per
  window, then the client is locked the same way (password spraying);
* an email with LOGIN_MAX_FAILURES failures in its window (from any clients)
  is under attack: every client that already failed on it is refused;
* a client that has not failed is never refused (the owner is never locked out).

Each attempt is counted as a failure *before* the password is checked, by
conditional upserts that see each other's counts, so parallel attempts can
never pass a limit; a good password takes its count back."""
import ipaddress

from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors import AppError, ErrorCode
from servicekit.clock import utcnow
from services.identity.models import LoginFailures
from services.identity.settings import settings

UNLIMITED = 2**31 - 1

CLAIM = text(
    "INSERT INTO login_failures AS t (key, failures, window_started_at) VALUES (:key, 1, now()) "
    "ON CONFLICT (key) DO UPDATE SET "
    "failures = CASE WHEN t.window_started_at <= now() - :window THEN 1 ELSE t.failures + 1 END, "
    "window_started_at = CASE WHEN t.window_started_at <= now() - :window THEN now() ELSE t.window_started_at END "
    "WHERE (t.locked_until IS NULL OR t.locked_until <= now()) "
    "AND (t.window_started_at <= now() - :window OR (t.failures < :max AND NOT (:refuse_failed AND t.failures > 0))) "
    "RETURNING failures, lockouts"
)
LOCK = text("UPDATE login_failures SET locked_until = now() + :duration, lockouts = lockouts + 1 WHERE key = :key")
UNDER_ATTACK = text("SELECT failures >= :max AND window_started_at > now() - :window FROM login_failures "
                    "WHERE key = :key")
TAKE_BACK = text("UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE key = ANY(:keys)")
FORGET = text("DELETE FROM login_failures WHERE key = :key")


def client_address(client: str | None) -> str | None:
    """The address to count a client's failures under, or None when there is
    no real one: nothing given, not an IP address, or loopback (a proxy on the
    same host: its clients are unknown, and one shared count would let a few
    failures lock every one of them out)."""
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return None
    return None if address.is_loopback else str(address)


class Keys:
    def __init__(self, email: str, client: str | None):
        client = client_address(client)
        self.email = f"e:{email}"
        self.client = f"c:{client}" if client else None
        self.pair = f"p:{client or ''}|{email}"


def claim_attempt(session: Session, email: str, client: str | None) -> Keys:
    """Count this attempt (committed at once, kept if the login fails) or
    refuse it with 429 TOO_MANY_REQUESTS and `retry_after_seconds`."""
    s = settings()
    keys = Keys(email, client)
    window = s.throttle_window
    under_attack = bool(session.execute(UNDER_ATTACK, {"key": keys.email, "max": s.login_max_failures,
                                                       "window": window}).scalar())
    claims = [(keys.pair, s.login_max_failures, under_attack)]
    if keys.client:
        claims.insert(0, (keys.client, s.login_max_failures_per_client, False))
    for key, limit, refuse_failed in claims:
        claimed = session.execute(CLAIM, {"key": key, "window": window, "max": limit,
                                          "refuse_failed": refuse_failed}).first()
        if claimed is None:
            session.rollback()  # a refused attempt counts nowhere
            raise _refusal(session, key, keys.email if refuse_failed else None)
        if claimed.failures >= limit:
            session.execute(LOCK, {"key": key, "duration": LoginFailures.lock_duration(window, claimed.lockouts)})
    session.execute(CLAIM, {"key": keys.email, "window": window, "max": UNLIMITED, "refuse_failed": False})
    session.commit()
    return keys


def claim_request(session: Session, kind: str, email: str | None, client: str | None,
                  per_email: int | None, per_client: int,
                  message: str = "too many requests for this address; try again later") -> None:
    """Requests that make identity email an address (`kind`: "reset",
    "signup"), counted per email (when `email` is given) and per client
    address in the same table and window as login failures, every request
    counted (known address or not: the answer must not reveal accounts). Over a
    limit: 429 TOO_MANY_REQUESTS with `retry_after_seconds`, the key locked like
    a login key (growing locks). Committed at once: a refused or failed request
    still counts."""
    window = settings().throttle_window
    client = client_address(client)
    claims = [(f"{kind}-e:{email}", per_email)] if email else []
    if client:
        claims.append((f"{kind}-c:{client}", per_client))
    for key, limit in claims:
        claimed = session.execute(CLAIM, {"key": key, "window": window, "max": limit,
                                          "refuse_failed": False}).first()
        if claimed is None:
            session.rollback()
            raise _refusal(session, key, None, message)
        if claimed.failures >= limit:
            session.execute(LOCK, {"key": key, "duration": LoginFailures.lock_duration(window, claimed.lockouts)})
    session.commit()


LOCKED_NOW, COUNTED = "LOCKED_NOW", "COUNTED"
IS_LOCKED = text("SELECT 1 FROM login_failures WHERE key = :key AND locked_until > now()")


def refuse_locked(session: Session, kind: str, client: str | None, message: str) -> None:
    """429 TOO_MANY_REQUESTS (with `retry_after_seconds`) when the client's `kind` key is locked: refused
    requests are counted by `count_refusal`, and a locked client is turned away before anything is done."""
    client = client_address(client)
    if client and session.execute(IS_LOCKED, {"key": f"{kind}-c:{client}"}).first() is not None:
        raise _refusal(session, f"{kind}-c:{client}", None, message)


def count_refusal(session: Session, kind: str, client: str | None, per_client: int, message: str) -> str | None:
    """Count a request that was refused (`kind`: "sso-answer") under the client's key, committed at once;
    at `per_client` refusals in the window the key is locked (growing locks). Answers COUNTED, LOCKED_NOW
    (this refusal locked the client: the one to record), or None when there is no client address to count
    under (loopback); raises 429 when a concurrent refusal locked the client first (not counted)."""
    client = client_address(client)
    if not client:
        return None
    key, window = f"{kind}-c:{client}", settings().throttle_window
    claimed = session.execute(CLAIM, {"key": key, "window": window, "max": per_client,
                                      "refuse_failed": False}).first()
    if claimed is None:
        session.rollback()
        raise _refusal(session, key, None, message)
    outcome = COUNTED
    if claimed.failures >= per_client:
        session.execute(LOCK, {"key": key, "duration": LoginFailures.lock_duration(window, claimed.lockouts)})
        outcome = LOCKED_NOW
    session.commit()
    return outcome


def _refusal(session: Session, key: str, attacked_email_key: str | None,
             message: str = "too many failed sign-ins; try again later") -> AppError:
    now, window = utcnow(), settings().throttle_window
    waits = [row.retry_after_seconds(now, window) for row in
             (session.get(LoginFailures, k) for k in (key, attacked_email_key) if k) if row is not None]
    retry_after = max([wait for wait in waits if wait] or [1])
    return AppError(ErrorCode.TOO_MANY_REQUESTS, message, {"retry_after_seconds": retry_after})


def succeeded(session: Session, keys: Keys) -> None:
    """A good password: the pair starts afresh, the client and email counts
    take this attempt back (in the caller's transaction)."""
    session.execute(FORGET, {"key": keys.pair})
    session.execute(TAKE_BACK, {"keys": [key for key in (keys.client, keys.email) if key]})
