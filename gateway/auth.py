"""Who is calling, and what they may touch.

Access tokens are JWTs (HS256) issued by identity and verified here locally;
a verified token is remembered until it expires. Each carries its user's token
version (`ver`): identity raises the version to revoke every access token of a
user at once (role removed, password reset, logout everywhere), and the gateway
refuses an older one with 401 TOKEN_REVOKED. The current version is asked of
identity at most once per user every TOKEN_VERSION_CACHE_SECONDS, so a revoked
token stops working within that window and a busy user costs no RPC per
request. API tokens (machine clients) are opaque; identity checks them and the
answer is cached briefly."""
import time
from dataclasses import dataclass, field

import jwt

from contracts.errors import AppError, ErrorCode
from servicekit import config

API_TOKEN_PREFIX = "lat_"
API_TOKEN_CACHE_SECONDS = 30.0
# How long a revoked access token may still pass (docs/operations.md, "Security").
TOKEN_VERSION_CACHE_SECONDS = 5.0
JWT_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    email: str | None = None
    email_verified: bool = False
    roles: tuple = ()
    token_version: int = 0
    # machine clients
    api_token_id: str | None = None
    api_org_id: str | None = None
    scopes: frozenset = field(default_factory=frozenset)

    @property
    def is_machine(self) -> bool:
        return self.api_token_id is not None

    def roles_in(self, org_id: str) -> list[dict]:
        return [r for r in self.roles if r["org_id"] == str(org_id)]

    def is_org_admin(self, org_id: str) -> bool:
        return any(r["role"] == "ORG_ADMIN" for r in self.roles_in(org_id))

    def is_admin(self, org_id: str) -> bool:
        return bool(self.roles_in(org_id))

    def program_ids(self, org_id: str) -> set[str]:
        return {p for r in self.roles_in(org_id) if r["role"] == "PROGRAM_ADMIN" for p in r.get("program_ids", [])}

    def admin_orgs(self) -> list[str]:
        return sorted({r["org_id"] for r in self.roles})

    # --- checks: 404 for what is not theirs, 403 for what their role may not do ---

    def require_admin(self, org_id: str) -> None:
        if not self.is_admin(org_id):
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")

    def require_org_admin(self, org_id: str) -> None:
        self.require_admin(org_id)
        if not self.is_org_admin(org_id):
            raise AppError(ErrorCode.FORBIDDEN, "only organization admins may do this")

    def can_admin_program(self, org_id: str, program_id: str) -> bool:
        return self.is_org_admin(org_id) or str(program_id) in self.program_ids(org_id)

    def require_program_admin(self, org_id: str, program_id: str, what: str = "program") -> None:
        if not self.can_admin_program(org_id, program_id):
            raise AppError(ErrorCode.NOT_FOUND, f"{what} not found")

    def require_scope(self, scope: str) -> None:
        if not self.is_machine or scope not in self.scopes:
            raise AppError(ErrorCode.INSUFFICIENT_SCOPE, f"an API token with scope {scope} is required")

    def program_scope(self, org_id: str) -> list[str] | None:
        """None: every program of the org (org admin); else the programs allowed."""
        self.require_admin(org_id)
        return None if self.is_org_admin(org_id) else sorted(self.program_ids(org_id))


def bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def decode_access_token(token: str) -> Principal:
    principal = access_token_cache.get(token)
    if principal is not None:
        return principal
    try:
        claims = jwt.decode(
            token, config.jwt_secret(), algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub", "typ"]}
        )
    except jwt.ExpiredSignatureError:
        raise AppError(ErrorCode.TOKEN_EXPIRED, "the access token has expired; refresh it") from None
    except jwt.PyJWTError:
        raise AppError(ErrorCode.TOKEN_INVALID, "the access token is not valid") from None
    if claims.get("typ") != "access":
        raise AppError(ErrorCode.TOKEN_INVALID, "not an access token")
    principal = Principal(user_id=claims["sub"], email=claims.get("email"),
                          email_verified=bool(claims.get("email_verified")), roles=tuple(claims.get("roles", [])),
                          token_version=claims.get("ver", 0) if isinstance(claims.get("ver", 0), int) else -1)
    # Checking the signature costs ~0.1 ms (PyJWT) on every request; a token
    # string already checked is the same token until its expiry.
    access_token_cache.put(token, principal, until=float(claims["exp"]))
    return principal


class TokenCache:
    """Answers for token strings already checked, each until a wall-clock deadline."""

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, token: str):
        entry = self._entries.get(token)
        if entry and entry[0] > time.time():
            return entry[1]
        return None

    def forget(self, matches) -> None:
        """Drop the answers `matches(value)` picks (e.g. a revoked API token's)."""
        for token in [token for token, (_, value) in self._entries.items() if matches(value)]:
            self._entries.pop(token, None)

    def put(self, token: str, value, until: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = (until, value)


access_token_cache = TokenCache()
api_token_cache = TokenCache()
token_version_cache = TokenCache()


def require_current_version(principal: Principal, identity_rpc) -> None:
    """TOKEN_REVOKED when identity has revoked the user's tokens since this one
    was issued (or the user is gone)."""
    current = token_version_cache.get(principal.user_id)
    if current is None:
        current = identity_rpc.token_version(principal.user_id)
        current = -1 if current is None else current  # no such user: nothing passes
        token_version_cache.put(principal.user_id, current, until=time.time() + TOKEN_VERSION_CACHE_SECONDS)
    if current < 0 or principal.token_version < current:
        raise AppError(ErrorCode.TOKEN_REVOKED, "this session was signed out (role or password changed); sign in again")


def machine_principal(info: dict) -> Principal:
    """An API token reads its own organization as an org admin would, on the
    routes that name one of its scopes (gateway.http refuses it elsewhere)."""
    return Principal(user_id=None, api_token_id=info["id"], api_org_id=info["org_id"],
                     scopes=frozenset(info["scopes"]),
                     roles=({"role": "ORG_ADMIN", "org_id": info["org_id"], "program_ids": []},))


def authenticate(request, identity_rpc) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "sign in: send Authorization: Bearer <token>")
    if token.startswith(API_TOKEN_PREFIX):
        info = api_token_cache.get(token)
        if info is None:
            info = identity_rpc.authenticate_api_token(token)
            api_token_cache.put(token, info, until=time.time() + API_TOKEN_CACHE_SECONDS)
        return machine_principal(info)
    principal = decode_access_token(token)
    require_current_version(principal, identity_rpc)
    return principal
