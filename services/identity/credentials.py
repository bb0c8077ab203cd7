"""Secrets: argon2 password hashes, random tokens stored as SHA-256 digests,
and the JWT access tokens the gateway verifies (signed with identity's private
key, EdDSA or RS256, `kid` header: servicekit.signing).

Password hashing is the one CPU-heavy thing identity does. It runs in OS
threads (eventlet's tpool) so the other green threads keep going, and through
one gate per process (servicekit.offload.CpuGate): at most
`PASSWORD_HASH_CONCURRENCY` hashes at once (one per core by default: more
only queue inside the CPU), at most
`PASSWORD_HASH_QUEUE` callers waiting for a slot, each at most
`PASSWORD_HASH_WAIT_SECONDS`. Beyond that the caller gets SERVICE_UNAVAILABLE
(503) with `retry_after_seconds` at once instead of holding a worker: a flood
of logins cannot take every worker of the service (docs/identity.md)."""
import functools
import hashlib
import secrets
import uuid

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from contracts.errors import AppError, ErrorCode
from servicekit import signing
from servicekit.clock import utcnow
from servicekit.offload import CpuGate
from services.identity.settings import settings

# argon2id at OWASP's first recommended configuration (Password Storage Cheat
# Sheet: m = 19 MiB, t = 2, p = 1). argon2-cffi's default (64 MiB, t = 3, p = 4,
# RFC 9106's low-memory profile) cost ~430 ms of CPU per login on this 2-core
# machine; this costs ~20 ms (figures in docs/identity.md). Hashes made with
# other parameters still verify, and are re-hashed at the next good login.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM, type=Type.ID)


def _busy() -> AppError:
    return AppError(ErrorCode.SERVICE_UNAVAILABLE, "sign-in is busy; try again in a moment",
                    {"retry_after_seconds": 1})


@functools.cache
def gate() -> CpuGate:
    s = settings()
    return CpuGate(s.password_hash_concurrency, s.password_hash_queue, s.password_hash_wait_seconds, _busy)


@functools.cache
def _dummy_hash() -> str:
    # A real hash, with the same parameters, to verify against when there is
    # no password to check: unknown emails cost what known ones cost.
    return _hasher.hash("not-a-password")


def hash_password(password: str) -> str:
    return gate().run(_hasher.hash, password)


def _check(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one uses older parameters), in the OS thread."""
    try:
        _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False, None
    if password_hash is None:
        return False, None
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Whether `password` matches (always False without a hash, at the same
    cost), and the hash to store instead if the parameters changed."""
    return gate().run(_check, password_hash, password)


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(user_id: str, email: str, email_verified: bool, roles: list[dict],
                       token_version: int = 0) -> tuple[str, int]:
    now = utcnow()
    ttl = settings().access_token_ttl
    claims = {
        "sub": user_id,
        "typ": "access",
        "email": email,
        "email_verified": email_verified,
        "roles": roles,
        "ver": token_version,  # the gateway refuses it once the user's version is higher
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    # identity's private key (servicekit.signing): the gateway verifies with the public key only
    return signing.signing_key().sign(claims), int(ttl.total_seconds())
